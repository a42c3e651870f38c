#!/usr/bin/env bash
# Renders a quantization report's HTML page in headless Chromium and keeps the screenshot
# (issue 5 acceptance 6).
#   interop/60-report-html.sh               a real report: recipes/int8_static.lua on the digits
#                                           CNN with report=report.html (layers, activations,
#                                           evaluation and totals), through the CLI
#   interop/60-report-html.sh REPORT.html   a report a recipe wrote
# Checks the page is self-contained (an SVG chart, no script) and, for the default run, that it
# shows every layer name, SQNR and the totals; prints the PNG path; fails when the page does not
# render to a non-trivial image.
set -euo pipefail
cd "$(dirname "$0")/.."

png=${QSCRIPT_REPORT_PNG:-/tmp/qscript-report.png}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "60-report-html: FAIL: $*" >&2; exit 1; }

if [[ $# -ge 1 ]]; then
  page=$(realpath "$1")
  layers=()
else
  page=$work/report.html
  m=examples/models
  go build -o "$work/qscript" ./cmd/qscript
  "$work/qscript" recipes/int8_static.lua model=$m/digits_cnn.onnx calib=$m/calib.npy eval=$m/test.npz \
    out="$work/digits_cnn.int8.onnx" report="$page" >"$work/recipe.log" 2>&1 || { cat "$work/recipe.log" >&2; fail "the int8_static recipe failed"; }
  layers=(/conv1/Conv /conv2/Conv /conv3/Conv /fc1/Gemm /fc2/Gemm)
fi
grep -q '<svg' "$page" || fail "$page has no SVG chart"
if grep -qi '<script' "$page"; then fail "$page contains a script"; fi
grep -q 'SQNR' "$page" || fail "$page does not mention SQNR"
for name in "${layers[@]}"; do
  grep -qF ">$name<" "$page" || fail "$page does not show layer $name"
done
if [[ ${#layers[@]} -gt 0 ]]; then
  # The totals cards (layers quantized, size before and after, compression), the evaluation
  # and the calibrated activations of a static report.
  for text in 'layers quantized' '4 of 5' 'compression' 'from 186 KiB' 'output SQNR' 'quantized accuracy' '/relu1/Relu_output_0'; do
    grep -qF "$text" "$page" || fail "$page does not show \"$text\""
  done
  grep -qE '[0-9]+\.[0-9]+×' "$page" || fail "$page shows no compression ratio"
fi

browser=$(command -v chromium || command -v chromium-browser || true)
[[ -n $browser ]] || fail "chromium not found (apt-get install -y chromium)"
rm -f "$png"
# --disable-background-networking and friends keep the browser off the network: the page
# must render from the file alone.
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/profile" --hide-scrollbars --window-size=${QSCRIPT_REPORT_SIZE:-1200,1600} \
  --screenshot="$png" "file://$page" >"$work/chromium.log" 2>&1 || {
  cat "$work/chromium.log" >&2
  fail "chromium failed"
}
size=$(stat -c %s "$png" 2>/dev/null || echo 0)
(( size > 10240 )) || fail "screenshot $png is $size bytes, expected > 10 KB"
# A page that failed to render is nearly one colour (a line of text gives ~30): the report,
# with its charts and histograms, gives over a thousand.
colours=$(/usr/bin/python3 - "$png" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
pos, idat, width, height, bpp = 8, b"", 0, 0, 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
        bpp = {2: 3, 6: 4}.get(ctype, 0) if depth == 8 else 0
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
if bpp == 0:
    print(0); sys.exit()
raw, stride, prev, seen = zlib.decompress(idat), width * bpp, bytearray(width * bpp), set()
for y in range(height):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    if y % 4 == 0:
        seen.update(bytes(line[x:x + 3]) for x in range(0, stride, bpp * 2))
    prev = line
print(len(seen))
PY
)
(( colours >= 200 )) || fail "screenshot $png has $colours distinct colours (a near-empty page has ~30): the report did not render"
checked="SVG chart, no script, SQNR"
[[ ${#layers[@]} -gt 0 ]] && checked="${#layers[@]} layer names, SQNR, totals, evaluation, activations"
echo "60-report-html: ok, $(basename "$page") ($checked) rendered by $("$browser" --version 2>/dev/null | head -1), screenshot $png ($((size / 1024)) KB, $colours colours sampled)"
