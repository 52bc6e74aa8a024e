#!/usr/bin/env bash
# C unit tests of the numerics (src/platform, copula, lowrank, sketch, latency), each program run under valgrind (leaks and invalid accesses fail),
# then once more natively: valgrind's CPU has no AVX-512, so only the native run reaches the
# AVX-512 kernels (l3batch, gc_lrk_gemm); each native run counts as one result.
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
for bin in test/unit/bin/test_*; do
	out=$("$bin" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ] && ! grep -q '^not ok' <<<"$out"; then
		echo "$(basename "$bin"): ok - native run ($(grep -c '^ok' <<<"$out") checks)"
		pass=$((pass + 1))
	else
		echo "$out" | grep -E '^not ok' | sed "s|^|$(basename "$bin") (native): |"
		echo "$(basename "$bin"): not ok - native run (exit $rc)"
		fail=$((fail + 1))
	fi
done
echo "SUITE passed=$pass failed=$fail"
