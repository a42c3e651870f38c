#!/usr/bin/env bash
# Issue 3 acceptance 5: a 2 GiB safetensors file is inspected lazily (well under a second)
# and rewritten through the streaming writer with peak RSS far below the file size.
# Usage: bench/10-safetensors-scale.sh [GIB]   (default 2; needs ~3×GIB free in $TMPDIR)
set -euo pipefail
cd "$(dirname "$0")/.."
gib=${1:-2}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qscript-scale.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
[ -x /usr/bin/time ] || { echo "10-safetensors-scale: needs /usr/bin/time (apt-get install time)"; exit 1; }

go build -o "$tmp/qscript" ./cmd/qscript
go build -o "$tmp/stscale" ./bench/stscale
"$tmp/stscale" gen "$tmp/big.safetensors" "$gib"
size=$(stat -c %s "$tmp/big.safetensors")
cat "$tmp/big.safetensors" > /dev/null # page cache warm, as SPEC §9 measures

# field NAME FILE: one value from /usr/bin/time -v output.
field() { grep -F "$1" "$2" | sed 's/.*: //'; }

/usr/bin/time -v "$tmp/qscript" inspect "$tmp/big.safetensors" > "$tmp/inspect.out" 2> "$tmp/inspect.time"
/usr/bin/time -v "$tmp/qscript" inspect --json "$tmp/big.safetensors" > /dev/null 2> "$tmp/inspect-json.time"
head -1 "$tmp/inspect.out"
echo "inspect: wall $(field 'Elapsed (wall clock)' "$tmp/inspect.time"), peak RSS $(field 'Maximum resident' "$tmp/inspect.time") KiB; --json wall $(field 'Elapsed (wall clock)' "$tmp/inspect-json.time")"

status=0
for mode in section load; do
	/usr/bin/time -v "$tmp/stscale" rewrite "$tmp/big.safetensors" "$tmp/out.safetensors" "$mode" 2> "$tmp/rewrite.time"
	cmp -s "$tmp/big.safetensors" "$tmp/out.safetensors" || { echo "rewrite ($mode): output differs from input"; status=1; }
	rss=$(field 'Maximum resident' "$tmp/rewrite.time")
	echo "rewrite ($mode): wall $(field 'Elapsed (wall clock)' "$tmp/rewrite.time"), peak RSS $rss KiB for a $((size >> 20)) MiB file"
	rm -f "$tmp/out.safetensors"
done

secs=$(field 'Elapsed (wall clock)' "$tmp/inspect.time" | awk -F: '{print $NF}')
awk -v s="$secs" 'BEGIN { exit !(s < 0.5) }' || { echo "10-safetensors-scale: inspect took ${secs}s"; status=1; }
exit $status
