#!/usr/bin/env bash
# pg_regress over sql/*.sql against a throwaway cluster (run as the postgres user).
set -uo pipefail
cd "$TOP"
. test/pg.sh
dir=$GC_TEST_TMP/regress port=${GC_REGRESS_PORT:-54391}
pg_start "$dir" "$port"
out=$dir/out
mkdir -p "$out" && cp -r sql expected "$out"/ && chown -R "$PGUSER_OS" "$out"
tests=$(ls sql/*.sql | xargs -n1 basename | sed 's/\.sql$//' | grep -v '^gcimpute--')
pgxs=$(dirname "$("$PG_CONFIG" --pgxs)")
as_pg "$pgxs/../test/regress/pg_regress" --bindir="$PG_BINDIR" --inputdir="$out" --outputdir="$out" \
	--host="$dir" --port="$port" --user=postgres --dbname=contrib_regression \
	--load-extension=gcimpute $tests 2>&1 | tee "$out/pg_regress.log"
pg_stop "$dir"
[ -f "$out/regression.diffs" ] && { head -c 20000 "$out/regression.diffs"; echo; }
# "test x ... ok" (up to 15) or "ok 1 - x" (16 and later)
pass=$(grep -cE '\.\.\. ok|[[:space:]]ok[[:space:]]+[0-9]+ ms|^ok [0-9]+ ' "$out/pg_regress.log")
fail=$(grep -cE 'FAILED|failed \(ignored\)|^not ok [0-9]+ ' "$out/pg_regress.log")
# pg_regress that ran nothing (it could not connect, create the database or the extension)
[ $((pass + fail)) -eq 0 ] && fail=1
echo "SUITE passed=$pass failed=$fail"
