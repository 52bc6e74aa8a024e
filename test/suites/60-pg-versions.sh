#!/usr/bin/env bash
# The PostgreSQL matrix: for every supported major (test/pg_versions.sh: 14 to 18) build
# with -Wall -Wextra -Werror and install, run pg_regress, and run the stream smoke test
# (test/stream/smoke.sh) against one shared broker. The major of PG_CONFIG was built and
# regress-tested by the suites before this one: its build is reused and its regress counts
# are reported, not run again. Each other major builds in its own copy of the tree. One
# line per major at the end; every check counts in the totals.
# Ports: GC_REGRESS_PORT (pg_regress), GC_VERSIONS_PORT (smoke, default GC_REGRESS_PORT+6),
# KAFKA_PORT (+1).
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$TOP"
GC_TEST_TMP=${GC_TEST_TMP:-/tmp/gcimpute-test-$$}
export KAFKA_PORT=${KAFKA_PORT:-19092}
export KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
SMOKE_PORT=${GC_VERSIONS_PORT:-$((${GC_REGRESS_PORT:-54391} + 6))}
BS=127.0.0.1:$KAFKA_PORT
W=$GC_TEST_TMP/pg-versions
export KDIR=$W/broker
PG_CONFIG=${PG_CONFIG:-pg_config}
rm -rf "$W"	# a fresh broker: a rerun must not find the last run's topics
mkdir -p "$W"
pass=0 fail=0
summary=()
trap 'bash test/kafka/broker.sh stop "$KDIR" >/dev/null 2>&1' EXIT

major_of() { "$1" --version 2>/dev/null | sed -nE 's/^PostgreSQL ([0-9]+).*/\1/p'; }
# counts LOG: "P F" from a suite log's SUITE line, "0 1" when there is none
counts() {
	local line
	line=$(grep -E '^SUITE passed=[0-9]+ failed=[0-9]+$' "$1" 2>/dev/null | tail -n 1)
	[ -n "$line" ] || { echo "0 1"; return; }
	sed -E 's/SUITE passed=([0-9]+) failed=([0-9]+)/\1 \2/' <<<"$line"
}

if ! { make -s -C test/sim >/dev/null && make -s -C test/kafka >/dev/null; }; then
	echo "not ok - build simulator and kdump"
	echo "SUITE passed=0 failed=1"
	exit 1
fi
if ! bash test/kafka/broker.sh start "$KDIR" >"$W/broker.out" 2>&1; then
	tail -5 "$W/broker.out"
	echo "not ok - broker starts"
	echo "SUITE passed=0 failed=1"
	exit 1
fi

main=$(major_of "$PG_CONFIG")
for v in $(bash test/pg_versions.sh list); do
	t0=$(date +%s)
	pgc=$(bash test/pg_versions.sh pg_config "$v")
	if [ "$v" = "$main" ]; then
		pgc=$PG_CONFIG
	fi
	if [ "$(major_of "$pgc")" != "$v" ]; then
		echo "not ok - PostgreSQL $v is not installed (bash test/pg_versions.sh install $v)"
		fail=$((fail + 1))
		summary+=("PostgreSQL $v: not installed")
		continue
	fi
	vdir=$W/pg$v
	build=reused
	if [ "$v" != "$main" ]; then
		# a copy of the tree (tracked and new files, no build products) per major
		rm -rf "$vdir" && mkdir -p "$vdir/src"
		git ls-files -co --exclude-standard | tar cf - -T - | tar xf - -C "$vdir/src"
		if make -C "$vdir/src" -s -j2 PG_CONFIG="$pgc" >"$vdir/build.log" 2>&1 &&
			make -C "$vdir/src" -s install PG_CONFIG="$pgc" >>"$vdir/build.log" 2>&1; then
			echo "ok - PostgreSQL $v: build with -Werror and install"
			pass=$((pass + 1))
			build=ok
		else
			grep -E 'error|warning' "$vdir/build.log" | head -20
			echo "not ok - PostgreSQL $v: build with -Werror and install"
			fail=$((fail + 1))
			summary+=("PostgreSQL $v: build FAILED")
			continue
		fi
		(cd "$vdir/src" && TOP=$vdir/src PG_CONFIG=$pgc GC_TEST_TMP=$vdir bash test/suites/20-regress.sh) \
			>"$vdir/regress.log" 2>&1
		read -r rp rf < <(counts "$vdir/regress.log")
		[ -f "$vdir/regress/out/regression.diffs" ] && head -c 5000 "$vdir/regress/out/regression.diffs"
		pass=$((pass + rp)); fail=$((fail + rf))
	elif [ -f "$GC_TEST_TMP/20-regress.log" ]; then
		read -r rp rf < <(counts "$GC_TEST_TMP/20-regress.log")	# counted in its own suite
	else
		(TOP=$TOP PG_CONFIG=$pgc GC_TEST_TMP=$vdir bash test/suites/20-regress.sh) >"$W/regress$v.log" 2>&1
		read -r rp rf < <(counts "$W/regress$v.log")
		pass=$((pass + rp)); fail=$((fail + rf))
	fi
	echo "PostgreSQL $v: pg_regress $rp passed, $rf failed"
	PG_CONFIG=$pgc bash test/stream/smoke.sh "$vdir/smoke" "$SMOKE_PORT" "$BS" "smoke$v" >"$W/smoke$v.log" 2>&1
	grep -E '^(ok|not ok) ' "$W/smoke$v.log" | sed "s/^\(ok\|not ok\) - /\1 - PostgreSQL $v smoke: /"
	read -r sp sf < <(counts "$W/smoke$v.log")
	[ "$sf" -gt 0 ] && tail -n 20 "$W/smoke$v.log"
	pass=$((pass + sp)); fail=$((fail + sf))
	summary+=("PostgreSQL $v ($("$pgc" --version | sed 's/^PostgreSQL //')): build $build, pg_regress $rp/$((rp + rf)), stream smoke $sp/$((sp + sf)), $(($(date +%s) - t0)) s")
done
printf '%s\n' "${summary[@]}"
echo "SUITE passed=$pass failed=$fail"
[ "$fail" -eq 0 ]
