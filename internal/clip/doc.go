// Package clip shortens text from files and recipes before it goes into an error message:
// a hostile header can carry a dtype or a name of many megabytes, which an error must not
// echo whole. Printable quotes such text before it reaches a terminal.
package clip
