#!/usr/bin/env bash
# The one test command: set up a fresh machine, build, then run every suite in
# test/suites/ (C unit tests under valgrind, pg_regress, differential tests against the
# Python gcimpute, integration tests). Ends with "N passed, N failed".
#
#   bash test/run_all.sh            all suites
#   bash test/run_all.sh regress    only suites whose file name contains "regress"
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
filter=${1:-}

bash test/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
export TOP=$top VENV=$top/.venv PG_CONFIG=${PG_CONFIG:-pg_config}
export GC_TEST_TMP=${GC_TEST_TMP:-/tmp/gcimpute-test-$$}
mkdir -p "$GC_TEST_TMP" && chmod 755 "$GC_TEST_TMP"
# shellcheck source=test/pg.sh
. test/pg.sh
if ! gc_build "$top"; then
	echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi

total_pass=0 total_fail=0
for suite in test/suites/*.sh; do
	[ -n "$filter" ] && [[ "$suite" != *"$filter"* ]] && continue
	name=$(basename "$suite" .sh)
	echo "=== suite $name"
	log="$GC_TEST_TMP/$name.log"
	t0=$(date +%s)
	bash "$suite" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	# Each suite ends with a line "SUITE passed=N failed=M".
	line=$(grep -E '^SUITE passed=[0-9]+ failed=[0-9]+$' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		echo "suite $name did not report (exit $rc): counted as 1 failure"
		total_fail=$((total_fail + 1))
		continue
	fi
	p=$(sed -E 's/.*passed=([0-9]+).*/\1/' <<<"$line")
	f=$(sed -E 's/.*failed=([0-9]+).*/\1/' <<<"$line")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	echo "=== suite $name: $p passed, $f failed ($(($(date +%s) - t0)) s)"
	total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
done
[ "${KEEP_TMP:-0}" = 1 ] || rm -rf "$GC_TEST_TMP"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
