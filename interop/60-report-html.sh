#!/usr/bin/env bash
# Renders a quantization report's HTML page in headless Chromium and keeps the screenshot.
#   interop/60-report-html.sh               sample report of the digits CNN (interop/report)
#   interop/60-report-html.sh REPORT.html   a report a recipe wrote
# Prints the PNG path; fails when the page does not render to a non-trivial image.
set -euo pipefail
cd "$(dirname "$0")/.."

png=${QSCRIPT_REPORT_PNG:-/tmp/qscript-report.png}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ $# -ge 1 ]]; then
  page=$(realpath "$1")
else
  page=$work/report.html
  go run ./interop/report -html "$page" -json "$work/report.json" >/dev/null
fi
grep -q '<svg' "$page" || { echo "60-report-html: $page has no SVG chart" >&2; exit 1; }
if grep -qi '<script' "$page"; then echo "60-report-html: $page contains a script" >&2; exit 1; fi

browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $browser ]]; then
  echo "60-report-html: chromium not found (apt-get install -y chromium)" >&2
  exit 1
fi
rm -f "$png"
# --disable-background-networking and friends keep the browser off the network: the page
# must render from the file alone.
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/profile" --hide-scrollbars --window-size=${QSCRIPT_REPORT_SIZE:-1200,1600} \
  --screenshot="$png" "file://$page" >"$work/chromium.log" 2>&1 || {
  cat "$work/chromium.log" >&2
  echo "60-report-html: chromium failed" >&2
  exit 1
}
size=$(stat -c %s "$png" 2>/dev/null || echo 0)
if (( size <= 10240 )); then
  echo "60-report-html: screenshot $png is $size bytes, expected > 10 KB" >&2
  exit 1
fi
echo "60-report-html: ok, $(basename "$page") rendered by $("$browser" --version 2>/dev/null | head -1), screenshot $png ($((size / 1024)) KB)"
