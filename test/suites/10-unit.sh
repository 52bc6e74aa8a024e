#!/usr/bin/env bash
# C unit tests of the numerics (src/platform, copula, lowrank, sketch, latency), each program
# run under valgrind (leaks and invalid accesses fail), then once more natively: valgrind's
# CPU has no AVX-512, so only the native run reaches the AVX-512 kernels. The tests of the
# vector kernels run every level the CPU has (gc_simd_force) and compare bits. Last, the
# same programs built with -march=x86-64-v3 (FMA in the baseline) run natively, where the
# CPU has it: the portable and vector forms must still agree to the bit. Each native run
# counts as one result. First, docs/architecture.md's file table is checked against src/.
set -uo pipefail
cd "$TOP"
make -s unit UNIT_RUNNER=true >/dev/null || { echo "unit build failed"; echo "SUITE passed=0 failed=1"; exit 1; }
pass=0 fail=0
if out=$(make -s check-architecture 2>&1); then
	echo "architecture: ok - $out"
	pass=$((pass + 1))
else
	echo "$out" | sed 's/^/architecture: not ok - /'
	fail=$((fail + 1))
fi
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
# run_native DIR LABEL: every program in DIR once natively, one result each
run_native() {
	local bin out rc
	for bin in "$1"/test_*; do
		out=$("$bin" 2>&1)
		rc=$?
		if [ "$rc" -eq 0 ] && ! grep -q '^not ok' <<<"$out"; then
			echo "$(basename "$bin"): ok - $2 ($(grep -c '^ok' <<<"$out") checks)"
			pass=$((pass + 1))
		else
			echo "$out" | grep -E '^not ok' | sed "s|^|$(basename "$bin") ($2): |"
			echo "$(basename "$bin"): not ok - $2 (exit $rc)"
			fail=$((fail + 1))
		fi
	done
}
run_native test/unit/bin "native run"
if grep -q '\bavx2\b' /proc/cpuinfo && grep -q '\bfma\b' /proc/cpuinfo && grep -q '\bbmi2\b' /proc/cpuinfo; then
	if make -s unit UNIT_RUNNER=true UNIT_BIN=test/unit/bin-v3 UNIT_EXTRA_CFLAGS=-march=x86-64-v3 >/dev/null; then
		run_native test/unit/bin-v3 "x86-64-v3 build"
	else
		echo "unit: not ok - the x86-64-v3 build failed"
		fail=$((fail + 1))
	fi
fi
echo "SUITE passed=$pass failed=$fail"
