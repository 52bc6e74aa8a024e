#!/usr/bin/env bash
# Python tests (pytest): differential accuracy against the Python gcimpute from PyPI,
# statistical accuracy of sketches and latency fits, anything that needs numpy around SQL.
# They share one throwaway cluster started by test/python/conftest.py.
set -uo pipefail
# Not from the repository root: there `import gcimpute` (the Python reference) would find the
# extension's gcimpute.so in the current directory instead.
cd "$GC_TEST_TMP"
out=$("$VENV/bin/python" -m pytest -q -p no:cacheprovider --rootdir="$TOP/test/python" "$TOP/test/python" 2>&1)
rc=$?
echo "$out"
last=$(tail -n 1 <<<"$out")
p=$(grep -oE '[0-9]+ passed' <<<"$last" | grep -oE '[0-9]+' || echo 0)
f=$(grep -oE '[0-9]+ (failed|error|errors)' <<<"$last" | grep -oE '[0-9]+' | paste -sd+ | bc 2>/dev/null || echo 0)
[ -z "$f" ] && f=0
if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && [ "$f" -eq 0 ]; then f=1; fi
echo "SUITE passed=${p:-0} failed=$f"
