#!/usr/bin/env bash
# Fresh-user smoke: the tasks as README tells a new user to run them, in the
# environment of a plain server or CUDA machine: NO_COLOR and
# XDG_RUNTIME_DIR unset, LD_LIBRARY_PATH set. No task may read
# /usr/share/fonts, so figures are drawn with no system font visible.
#
# Usage (from the repository root): bash scripts/smoke.sh
# Prints "smoke: ok NAME" or "smoke: FAILED NAME (why)" per check and ends
# with "smoke: N passed, N failed"; exits 1 when a check failed.
set -uo pipefail
cd "$(dirname "$0")/.."

unset NO_COLOR XDG_RUNTIME_DIR
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-/usr/lib}"

FILE=tests/fixtures/cli/mlp_smoke.yaml
RUN=.cache/smoke/mlp
OUT=.cache/smoke/out
rm -rf .cache/smoke
mkdir -p "$OUT"
passed=0
failed=0

ok() { echo "smoke: ok $1"; passed=$((passed + 1)); }
fail() { echo "smoke: FAILED $1 ($2)"; failed=$((failed + 1)); }

# run NAME CMD…: runs CMD with stdout in $OUT/NAME.out, stderr in $OUT/NAME.err; sets $code.
run() {
  local name=$1
  shift
  "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
  code=$?
}
has() { grep -qE -- "$2" "$OUT/$1"; }
# Lines a user should never see in a normal run.
alarming() { grep -qE 'XDG_RUNTIME_DIR (is invalid|not set)|internal error|    at ' "$OUT/$1.err"; }

# 1. --help of every task exits 0.
tasks=$(deno eval 'console.log(Object.keys(JSON.parse(Deno.readTextFileSync("deno.json")).tasks).join(" "))')
bad=""
for t in $tasks; do
  run "help-${t//:/-}" deno task "$t" --help
  [ "$code" -eq 0 ] || bad="$bad $t(exit $code)"
done
if [ -z "$bad" ]; then ok "--help of every task"; else fail "--help of every task" "${bad# }"; fi

# 2. inspect: adapter and backend named, nothing alarming.
run inspect deno task inspect "$FILE"
if [ "$code" -ne 0 ]; then
  fail inspect "exit $code: $(tail -1 "$OUT/inspect.err")"
elif ! has inspect.out '^adapter: .+ via '; then
  fail inspect "no 'adapter: … via BACKEND' line"
elif alarming inspect; then
  fail inspect "alarming stderr: $(grep -m1 -E 'XDG|internal|    at ' "$OUT/inspect.err")"
else ok inspect; fi

# 3. a 1-epoch MLP train with --set.
run train deno task train "$FILE" --set schedule.epochs=1 --set optimizer.lr=0.02
if [ "$code" -ne 0 ]; then
  fail "train --set" "exit $code: $(tail -1 "$OUT/train.err")"
elif ! has train.out 'final test accuracy [0-9.]+% after 8 steps'; then
  fail "train --set" "unexpected result: $(tail -1 "$OUT/train.out")"
elif ! has train.err "^training smoke-mlp → $RUN on .+ via "; then
  fail "train --set" "no header naming the adapter and backend"
elif alarming train; then
  fail "train --set" "alarming stderr: $(grep -m1 -E 'XDG|internal|    at ' "$OUT/train.err")"
else ok "train --set"; fi

# 4. a second train into the same directory is refused and changes nothing.
before=$(cat "$RUN/checkpoints/latest.json" "$RUN/metrics.jsonl" 2>/dev/null | cksum)
run retrain deno task train "$FILE" --set schedule.epochs=1 --set optimizer.lr=0.02
after=$(cat "$RUN/checkpoints/latest.json" "$RUN/metrics.jsonl" 2>/dev/null | cksum)
if [ "$code" -eq 0 ]; then
  fail "second train refused" "exit 0: the run directory was trained into again"
elif ! has retrain.err '^error: .*--resume'; then
  fail "second train refused" "no one-line error naming --resume: $(tail -1 "$OUT/retrain.err")"
elif alarming retrain; then
  fail "second train refused" "stack trace or internal error"
elif [ "$before" != "$after" ]; then
  fail "second train refused" "the run directory changed"
else ok "second train refused"; fi

# 5. eval of the run.
run eval deno task eval "$FILE" --checkpoint "$RUN"
if [ "$code" -ne 0 ]; then
  fail eval "exit $code: $(tail -1 "$OUT/eval.err")"
elif ! has eval.out 'test accuracy [0-9.]+% .*at step 8'; then
  fail eval "unexpected output: $(tail -1 "$OUT/eval.out")"
elif alarming eval; then
  fail eval "alarming stderr"
else ok eval; fi

# 6. --resume of a finished run says so and exits 0.
run resume deno task train --resume "$RUN"
if [ "$code" -ne 0 ]; then
  fail "resume of a finished run" "exit $code: $(tail -1 "$OUT/resume.err")"
elif ! grep -qiE 'complete|finished' "$OUT/resume.out" "$OUT/resume.err"; then
  fail "resume of a finished run" "does not say the run is complete: $(tail -1 "$OUT/resume.out")"
elif has resume.out 'n/a after 0 steps'; then
  fail "resume of a finished run" "reports n/a after 0 steps"
else ok "resume of a finished run"; fi

# 7. figures from the run, with no system font readable.
run report deno task adabk report "$RUN" --out "$OUT/report"
if [ "$code" -ne 0 ]; then
  fail "report (PNG text)" "exit $code: $(tail -1 "$OUT/report.err")"
elif has report.err 'PNG figures skipped'; then
  fail "report (PNG text)" "$(grep -m1 'PNG figures skipped' "$OUT/report.err")"
elif [ ! -s "$OUT/report/loss_vs_epoch.png" ]; then
  fail "report (PNG text)" "no loss_vs_epoch.png"
else ok "report (PNG text)"; fi

# 8. a first run (empty DENO_DIR) downloads no TensorFlow.js and no d3.
fresh=$(mktemp -d)
run first-run env DENO_DIR="$fresh" deno task inspect "$FILE"
heavy=$(ls "$fresh/npm/registry.npmjs.org" 2>/dev/null | grep -E '^(@tensorflow|d3|@observablehq|core-js)' | tr '\n' ' ')
if [ "$code" -ne 0 ]; then
  fail "first run downloads" "exit $code: $(tail -1 "$OUT/first-run.err")"
elif [ -n "$heavy" ]; then
  fail "first run downloads" "fetched $heavy"
else ok "first run downloads ($(ls "$fresh/npm/registry.npmjs.org" | tr '\n' ' '))"; fi
rm -rf "$fresh"

echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
