package clip

import (
	"fmt"
	"strconv"
	"unicode"
)

// MaxQuoted is how many bytes of a value Quote keeps.
const MaxQuoted = 64

// MaxMessage is how long a message Text leaves whole.
const MaxMessage = 4096

// Quote is %q of s, or of its first MaxQuoted bytes followed by "… (N bytes)".
func Quote(s string) string {
	if len(s) <= MaxQuoted {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:MaxQuoted], len(s))
}

// Text returns a message of at most about MaxMessage bytes: a longer one keeps its start
// and its end, with the number of bytes left out in between.
func Text(s string) string {
	if len(s) <= MaxMessage {
		return s
	}
	head, tail := s[:MaxMessage*3/4], s[len(s)-MaxMessage/4:]
	return fmt.Sprintf("%s … (%d bytes left out) … %s", head, len(s)-len(head)-len(tail), tail)
}

// Printable is s, or s quoted when it holds a character that is not printable: names from
// a model file reach the terminal, and a hostile one must not move the cursor or recolour
// it.
func Printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
