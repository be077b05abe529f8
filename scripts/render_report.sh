#!/usr/bin/env bash
# Renders a `kinkgrad reproduce` report in headless Chromium, checks that it renders without errors,
# and writes a screenshot.
#
#   scripts/render_report.sh [DIR] [PNG]     (defaults: report, docs/report.png)
#
# Checks (exit 1 on a failure, 2 on bad input): Chromium's DOM of DIR/index.html holds the summary
# and one <section id="..."> per section listed in DIR/report.json; Chromium logs no console message
# and no uncaught error (the page has no script: any console line is a fault); the screenshot is a
# non-empty PNG. Needs `chromium` (Debian: apt-get install -y chromium).
set -euo pipefail
dir=${1:-report}
png=${2:-docs/report.png}
if [ ! -f "$dir/index.html" ] || [ ! -f "$dir/report.json" ]; then
    echo "error: $dir/index.html or $dir/report.json missing (run: kinkgrad reproduce --quick --out $dir)" >&2
    exit 2
fi
chrome=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$chrome" ]; then
    echo "error: no Chromium found (Debian: apt-get install -y chromium)" >&2
    exit 2
fi
url="file://$(cd "$dir" && pwd)/index.html"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --enable-logging=stderr --v=0)
"$chrome" "${flags[@]}" --dump-dom "$url" >"$tmp/dom.html" 2>"$tmp/dom.log" || {
    echo "error: chromium failed to load $url:" >&2
    tail -5 "$tmp/dom.log" >&2
    exit 1
}
fail=0
if ! grep -q 'id="summary"' "$tmp/dom.html"; then
    echo "FAIL: the rendered page has no summary" >&2
    fail=1
fi
# the section ids of report.json ("sections": [{"id": ...}]; rows have no "id" key)
ids=$(grep -o '"id": "[^"]*"' "$dir/report.json" | sed 's/.*: "\(.*\)"/\1/')
if [ -z "$ids" ]; then
    echo "FAIL: report.json lists no section" >&2
    fail=1
fi
for id in $ids; do
    if ! grep -q "<section id=\"$id\">" "$tmp/dom.html"; then
        echo "FAIL: section '$id' is not on the rendered page" >&2
        fail=1
    fi
done
if grep -E 'CONSOLE|Uncaught' "$tmp/dom.log" >&2; then
    echo "FAIL: console messages or uncaught errors while rendering (above)" >&2
    fail=1
fi
mkdir -p "$(dirname "$png")"
"$chrome" "${flags[@]}" --window-size=1280,1700 --screenshot="$tmp/shot.png" "$url" >/dev/null 2>"$tmp/shot.log" || true
if [ ! -s "$tmp/shot.png" ] || [ "$(head -c 4 "$tmp/shot.png" | od -An -c | tr -d ' ')" != '211PNG' ]; then
    echo "FAIL: no screenshot (chromium log: $(tail -1 "$tmp/shot.log"))" >&2
    fail=1
else
    cp "$tmp/shot.png" "$png"
fi
if [ "$fail" -ne 0 ]; then
    exit 1
fi
echo "ok: $url renders ($(echo "$ids" | wc -w) sections, summary present, no console error); screenshot $png"
