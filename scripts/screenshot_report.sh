#!/usr/bin/env bash
# Render a report.html with headless Chromium into a PNG, to look at what a reader sees.
# Usage: scripts/screenshot_report.sh RUN_DIR/report.html [OUT.png] [WIDTHxHEIGHT]
# Chromium: `apt-get install -y chromium` (Debian) or set CHROMIUM=/path/to/chrome.
set -euo pipefail

html=${1:?usage: scripts/screenshot_report.sh REPORT.html [OUT.png] [WIDTHxHEIGHT]}
out=${2:-${html%.html}.png}
size=${3:-1280x4000}
[[ -f "$html" ]] || { echo "screenshot_report: $html does not exist; run 'loadgen report RUN_DIR' first" >&2; exit 2; }
browser=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
[[ -n "$browser" ]] || { echo "screenshot_report: no Chromium found; apt-get install -y chromium (or set CHROMIUM)" >&2; exit 3; }

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
  --window-size="${size/x/,}" --screenshot="$(realpath -m "$out")" "file://$(realpath "$html")" >/dev/null 2>&1
[[ -s "$out" ]] || { echo "screenshot_report: Chromium wrote no screenshot to $out" >&2; exit 1; }
echo "$out"
