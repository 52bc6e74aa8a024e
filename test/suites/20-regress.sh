#!/usr/bin/env bash
# pg_regress over sql/*.sql against throwaway clusters (run as the postgres user), twice:
# on a plain server and on one with gcimpute in shared_preload_libraries (the stream
# launcher serving another database, gcimpute.database's default). The tests must pass on
# both; where the server's answer differs, an alternative expected file (NAME_1.out) says so.
set -uo pipefail
cd "$TOP"
. test/pg.sh
port=${GC_REGRESS_PORT:-54391}
tests=$(ls sql/*.sql | xargs -n1 basename | sed 's/\.sql$//' | grep -v '^gcimpute--')
pgxs=$(dirname "$("$PG_CONFIG" --pgxs)")
pass=0 fail=0

# run_regress NAME [postgresql.conf lines...]
run_regress() {
	local name=$1 dir=$GC_TEST_TMP/regress-$1 p f
	shift
	pg_start "$dir" "$port" "$@"
	local out=$dir/out
	mkdir -p "$out" && cp -r sql expected "$out"/ && chown -R "$PGUSER_OS" "$out"
	echo "--- pg_regress on the $name server"
	# shellcheck disable=SC2086
	as_pg "$pgxs/../test/regress/pg_regress" --bindir="$PG_BINDIR" --inputdir="$out" --outputdir="$out" \
		--host="$dir" --port="$port" --user=postgres --dbname=contrib_regression \
		--load-extension=gcimpute $tests 2>&1 | tee "$out/pg_regress.log"
	pg_stop "$dir"
	[ -f "$out/regression.diffs" ] && { head -c 20000 "$out/regression.diffs"; echo; }
	# "test x ... ok" (up to 15) or "ok 1 - x" (16 and later)
	p=$(grep -cE '\.\.\. ok|[[:space:]]ok[[:space:]]+[0-9]+ ms|^ok [0-9]+ ' "$out/pg_regress.log")
	f=$(grep -cE 'FAILED|failed \(ignored\)|^not ok [0-9]+ ' "$out/pg_regress.log")
	# pg_regress that ran nothing (it could not connect, create the database or the extension)
	[ $((p + f)) -eq 0 ] && f=1
	pass=$((pass + p)) fail=$((fail + f))
}

run_regress plain
run_regress preloaded "shared_preload_libraries = 'gcimpute'"
echo "SUITE passed=$pass failed=$fail"
