#!/usr/bin/env bash
# C unit tests of src/core, each program run under valgrind (leaks and invalid accesses fail).
set -uo pipefail
cd "$TOP"
make -s unit UNIT_RUNNER=true >/dev/null || { echo "unit build failed"; echo "SUITE passed=0 failed=1"; exit 1; }
pass=0 fail=0
for bin in test/unit/bin/test_*; do
	out=$(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite "$bin" 2>&1)
	rc=$?
	echo "$out" | grep -E '^(not ok|ok|#)' | sed "s|^|$(basename "$bin"): |"
	p=$(grep -c '^ok' <<<"$out"); f=$(grep -c '^not ok' <<<"$out")
	if [ "$rc" -ne 0 ]; then
		echo "$out" | tail -n 20
		echo "$(basename "$bin"): exit $rc (valgrind error or crash)"
		f=$((f + 1))
	fi
	pass=$((pass + p)); fail=$((fail + f))
done
echo "SUITE passed=$pass failed=$fail"
