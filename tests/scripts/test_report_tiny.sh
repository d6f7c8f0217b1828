#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The HTML report (docs/records.md, `runner report`), opened in a real browser: the tiny quickstart runs twice (the
# second reuses every stage from the cache), each run writes its report.html, `runner report` puts both side by
# side, and headless Chromium (Debian's `chromium`) renders each page: no console message (a page with a script
# error is checked first to show that the check catches one), the script ran to its end, the stage graph has the
# eight stages (quickstart.yaml's) with the right status, and every training stage has its curves. A screenshot is kept in
# <build>/test-output/report.png.
set -euo pipefail
SRC=$1
BUILD=$2
WORK=$(mktemp -d /tmp/stagehand-report.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { echo "chromium is not installed: scripts/install-deps.sh installs it (Debian package chromium)"; exit 1; }
fail() { echo "FAIL: $*"; exit 1; }

# Renders a page; writes its DOM after the scripts ran to $2 and the browser's console lines to $3.
render() {
  local page=$1 dom=$2 console=$3
  timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$WORK/profile" \
    --enable-logging=stderr --v=0 --dump-dom "file://$page" > "$dom" 2> "$WORK/stderr.log" ||
    { cat "$WORK/stderr.log"; fail "chromium could not render $page"; }
  grep ':CONSOLE' "$WORK/stderr.log" > "$console" || true
}

# The console check must catch a script error before it is trusted with the report.
printf '<!DOCTYPE html><html><body><script>undefined_function();</script></body></html>\n' > "$WORK/broken.html"
render "$WORK/broken.html" "$WORK/broken.dom" "$WORK/broken.console"
grep -q "Uncaught ReferenceError" "$WORK/broken.console" || fail "the console check did not see a script error"

TINY=(stages.tokenizer.train.vocab_size=1000 stages.pretrain.steps=4 stages.pretrain.eval_every=2
      stages.pretrain.log_every=1 stages.finetune.epochs=0.04 stages.finetune.eval_every=2 stages.finetune.log_every=1
      stages.distill.epochs=0.04 stages.distill.eval_every=2 stages.distill.log_every=1)
for run in first second; do
  "$BUILD/bin/runner" "$SRC/pipelines/quickstart.yaml" "${TINY[@]}" --runs-dir "$WORK/runs" > "$WORK/$run.log" 2>&1 ||
    { cat "$WORK/$run.log"; fail "the $run run failed"; }
  grep -q "^report: .*/report.html$" "$WORK/$run.log" || { cat "$WORK/$run.log"; fail "the $run run named no report"; }
done
ids=($(ls "$WORK/runs/quickstart" | grep -v latest | sort))
[ ${#ids[@]} -eq 2 ] || fail "expected 2 runs, found ${ids[*]}"
"$BUILD/bin/runner" report "${ids[@]}" --runs-dir "$WORK/runs" -o "$WORK/both.html" > "$WORK/both.log" 2>&1 ||
  { cat "$WORK/both.log"; fail "runner report of two runs failed"; }

# A run that does not exist: one line naming it, exit 1.
if "$BUILD/bin/runner" report "${ids[0]}x" --runs-dir "$WORK/runs" > "$WORK/missing.log" 2>&1; then
  fail "runner report of a missing run succeeded"
fi
grep -q "no run '${ids[0]}x'.*did you mean '${ids[0]}'" "$WORK/missing.log" || { cat "$WORK/missing.log"; fail "unclear error"; }

check_run_page() {
  local page=$1 status=$2
  render "$page" "$WORK/page.dom" "$WORK/page.console"
  [ ! -s "$WORK/page.console" ] || { cat "$WORK/page.console"; fail "$page: console messages"; }
  grep -qE 'data-rendered="[1-9][0-9]*"' "$WORK/page.dom" || fail "$page: the page's script did not finish"
  local stages
  stages=$(grep -o "<g class=\"stage\" data-stage=\"[a-z_]*\" data-status=\"$status\"" "$WORK/page.dom" | wc -l)
  [ "$stages" -eq 8 ] || fail "$page: expected 8 stages marked $status in the graph, found $stages"
  for stage in pretrain finetune distill; do
    grep -q "<div class=\"curves\" data-stage=\"$stage\">" "$WORK/page.dom" || fail "$page: no curves of $stage"
  done
  local lines
  lines=$(grep -c '<polyline class="series"' "$WORK/page.dom")
  [ "$lines" -ge 10 ] || fail "$page: only $lines curves"
  grep -qF '<tr class="set"><td>stages.pretrain.steps</td><td>4</td><td>&lt;command line argument 2&gt;</td></tr>' \
    "$WORK/page.dom" || fail "$page: the override and where it came from are not in the configuration"
  grep -q 'confusion matrix (counts)' "$WORK/page.dom" || fail "$page: no confusion matrix"
}
check_run_page "$WORK/runs/quickstart/${ids[0]}/report.html" ran
check_run_page "$WORK/runs/quickstart/${ids[1]}/report.html" cached

render "$WORK/both.html" "$WORK/both.dom" "$WORK/both.console"
[ ! -s "$WORK/both.console" ] || { cat "$WORK/both.console"; fail "both.html: console messages"; }
grep -q '<h2>Side by side</h2>' "$WORK/both.dom" || fail "both.html: no side-by-side table"
for id in "${ids[@]}"; do grep -q "id=\"run-$id\"" "$WORK/both.dom" || fail "both.html: no section for run $id"; done

mkdir -p "$BUILD/test-output"
timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$WORK/profile" \
  --window-size=1400,2400 --screenshot="$BUILD/test-output/report.png" \
  "file://$WORK/runs/quickstart/${ids[0]}/report.html" > /dev/null 2>&1 || fail "no screenshot"
[ -s "$BUILD/test-output/report.png" ] || fail "empty screenshot"
echo "report: both runs' pages and the side-by-side page render in Chromium without a console message, with the" \
     "stage graph, curves and configuration; screenshot in $BUILD/test-output/report.png"
