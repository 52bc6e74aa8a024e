#!/usr/bin/env bash
# Lifecycle: upgrades, dump and restore, DROP EXTENSION, on real servers (gcimpute
# preloaded) and a real Kafka broker (test/kafka/broker.sh).
#
#  1. ALTER EXTENSION gcimpute UPDATE from every older version (sql/gcimpute--V.sql) while
#     a stream is consuming: the worker keeps running, the table holds every row exactly
#     once, and the updated database's objects equal a fresh install's
#     (test/lifecycle/ext_catalog.sql).
#  2. pg_dump -Fc and plain pg_dump of a database whose stream is mid-flight, restored into
#     another cluster (pg_restore, psql): models, streams, offsets, dedup keys, dead letters
#     and sequences come back; the restored stream does not start by itself ("held"); after
#     gc_stream_start it resumes from the dumped offsets and the table equals what the
#     reference reader makes of the topic (no row lost or twice), with every dead letter
#     once and the message counts of the whole topic.
#  3. A restore where a stream's owner role does not exist, and a non-superuser's pg_dump:
#     both fail with a message naming what is missing; the documented ways around work.
#  4. DROP EXTENSION: refused while user objects use its types; with CASCADE (or none)
#     the workers exit, the targets keep their rows, the extension's tables go.
# Ports: GC_LIFECYCLE_PORT (default GC_REGRESS_PORT+4) and the next one; KAFKA_PORT.
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$TOP"
. test/pg.sh
GC_TEST_TMP=${GC_TEST_TMP:-/tmp/gcimpute-test-$$}
VENV=${VENV:-$TOP/.venv}
PY=$VENV/bin/python
[ -x "$PY" ] || PY=/usr/bin/python3
export KAFKA_PORT=${KAFKA_PORT:-19092}
export KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
# the test data must stay on the topic however old its timestamps get
export KAFKA_EXTRA_PROPS="log.retention.ms=-1"
PORT_A=${GC_LIFECYCLE_PORT:-$((${GC_REGRESS_PORT:-54391} + 4))}
PORT_B=$((PORT_A + 1))
BS=127.0.0.1:$KAFKA_PORT
W=$GC_TEST_TMP/lifecycle-suite
KDIR=$W/broker
A=$W/a	# the source cluster: gcimpute.database = gcsrc
B=$W/b	# the restore cluster: gcimpute.database = gcdst, later gcplain
rm -rf "$W"
mkdir -p "$W" && chmod 777 "$W"
SIM=test/sim/bin/gc_sensor_sim
KDUMP=test/kafka/bin/kdump
. test/lib.sh
pass=0 fail=0
# test/lib.sh's q, workers and wait_done serve the cluster in PGD/PORT and database DB
# (QDB for one query): cluster A, database gcsrc, unless a function says otherwise.
PGD=$A PORT=$PORT_A DB=gcsrc
qa() { local PGD=$A PORT=$PORT_A DB=gcsrc; q "$@"; }
qb() { local PGD=$B PORT=$PORT_B DB=gcdst; q "$@"; }
cleanup() {
	pg_stop "$A"
	pg_stop "$B"
	bash test/kafka/broker.sh stop "$KDIR" >/dev/null 2>&1
}
trap cleanup EXIT
# state_is STREAM STATE
state_is() { [ "$(q -c "SELECT state FROM gc_stream_status WHERE name = '$1'")" = "$2" ]; }
# expected_rows TOPIC TRUTH REPORT OUT: the rows the topic must produce (reference reader)
expected_rows() {
	$KDUMP -b "$BS" "$1" >"$W/$1.dump" 2>/dev/null &&
		"$PY" test/sim/check_stream.py --format json --dump "$W/$1.dump" --truth "$2" --report "$3" \
			--expected "$4" >"$W/$1.check"
}
# table_matches TABLE EXPECTED: the target table equals the expected rows, cell by cell
table_matches() {
	local out=$W/$(date +%s%N).csv
	q -c "\\copy (SELECT entity, extract(epoch FROM ts), temp, hum, pres, light, co2, noise, vib, door, imputed FROM $1) TO '$out' CSV" &&
		"$PY" test/stream/compare.py "$2" "$out" --imputed
}
TABLE='(entity text, ts timestamptz, temp float8, hum float8, pres float8, light float8,
		co2 float8, noise float8, vib float8, door float8, imputed bool[], raw float8[])'
STREAMOPT='{"entity_column": "entity", "time_column": "ts", "window": 0.05, "lateness": 0.1,
	"max_message_bytes": 65536, "model": "sensors"}'
SIMOPT=(--brokers "$BS" --entities 100 --drop 0.15 --split 0.2 --lose 0.05 --dup 0.1 --malformed 0.05
	--delay-scale 0.002 --delay-max 1 --quiet)

# ---- build and start ----------------------------------------------------------------------
if make -s -C test/sim >/dev/null && make -s -C test/kafka >/dev/null; then
	ok "build simulator and kdump"
else
	notok "build simulator and kdump"
	finish
fi
start_broker "$KDIR"
conf=("shared_preload_libraries = 'gcimpute'" "gcimpute.launcher_naptime = 200")
pg_start "$A" "$PORT_A" "${conf[@]}" "gcimpute.database = 'gcsrc'"
pg_start "$B" "$PORT_B" "${conf[@]}" "gcimpute.database = 'gcdst'"
QDB=postgres q -c "CREATE DATABASE gcsrc" -c "CREATE DATABASE gcfresh" -c "CREATE ROLE lc_alice LOGIN"

# A model for the streams, fitted to rows like the ones they will carry.
$SIM "${SIMOPT[@]}" --dry-run --count 3000 --seed 5 --print-truth "$W/model.truth" >/dev/null
model_sql=(-c "CREATE TEMP TABLE truth (entity text, ts timestamptz, messages int, observed text, temp float8,
		hum float8, pres float8, light float8, co2 float8, noise float8, vib float8, door float8)"
	-c "\\copy truth FROM '$W/model.truth' CSV HEADER"
	-c "INSERT INTO gc_models SELECT 'sensors', gc_fit(ARRAY[temp, hum, pres, light, co2, noise, vib, door]) FROM truth")

# ---- 1. update from every older version with a stream running -------------------------------
QDB=gcfresh q -c "CREATE EXTENSION gcimpute"
QDB=gcfresh q -f test/lifecycle/ext_catalog.sql >"$W/fresh.catalog"
default=$(sed -n "s/^default_version = '\(.*\)'/\1/p" gcimpute.control)
for old in $(ls sql/gcimpute--*.sql | sed -n 's|^sql/gcimpute--\([0-9.]*\)\.sql$|\1|p' | grep -vx "$default"); do
	QDB=postgres q -c "DROP DATABASE IF EXISTS gcup" -c "CREATE DATABASE gcup"
	QDB=gcup q -c "CREATE EXTENSION gcimpute VERSION '$old'" -c "ALTER EXTENSION gcimpute UPDATE"
	QDB=gcup q -f test/lifecycle/ext_catalog.sql >"$W/up-$old.catalog"
	check "update $old -> $default: the same objects as a fresh install ($(wc -l <"$W/fresh.catalog") facts)" \
		diff -u "$W/fresh.catalog" "$W/up-$old.catalog"
done
# the comparison can fail: one changed property is found
QDB=gcup q -c "ALTER FUNCTION gc_impute(gcmodel, float8[]) COST 1"
check "the catalog comparison sees a changed function cost" bash -c \
	"DB=gcup; ! diff -q '$W/fresh.catalog' <('$PG_BINDIR/psql' -h '$A' -p $PORT_A -U postgres -d gcup -XAtq -f test/lifecycle/ext_catalog.sql) >/dev/null"

# The stream database starts at the oldest version; the update runs while u1 consumes.
oldest=$(ls sql/gcimpute--*.sql | sed -n 's|^sql/gcimpute--\([0-9.]*\)\.sql$|\1|p' | sort -V | head -1)
qa -c "CREATE EXTENSION gcimpute VERSION '$oldest'" "${model_sql[@]}" -c "CREATE TABLE u1 $TABLE"
bash test/kafka/broker.sh topic u1 2 "$KDIR" >/dev/null
qa -c "SELECT gc_stream_create('u1', '$BS', 'u1', 'u1', '$STREAMOPT'); SELECT gc_stream_start('u1')" >/dev/null
$SIM "${SIMOPT[@]}" --topic u1 --rate 800 --duration 6 --seed 21 --print-truth "$W/u1.truth" >"$W/u1.rep" &
spid=$!
sleep 2.5
pid_before=$(workers u1)
if qa -c "ALTER EXTENSION gcimpute UPDATE" && [ "$(qa -c "SELECT extversion FROM pg_extension WHERE extname = 'gcimpute'")" = "$default" ]; then
	ok "ALTER EXTENSION gcimpute UPDATE $oldest -> $default with a stream consuming"
else
	notok "ALTER EXTENSION gcimpute UPDATE with a stream consuming"
fi
sleep 1
check "update: the stream's worker kept running (pid ${pid_before:-none})" \
	test -n "$pid_before" -a "$(workers u1)" = "$pid_before"
wait $spid
check "update: every message committed" wait_done u1 "$(val total_sent "$W/u1.rep")"
expected_rows u1 "$W/u1.truth" "$W/u1.rep" "$W/u1.expected"
check "update: exactly the unique valid rows, none lost, none twice" table_matches u1 "$W/u1.expected"
check "update: the running stream recorded where it runs (not held)" wait_for 20 state_is u1 running
qa -f test/lifecycle/ext_catalog.sql >"$W/src.catalog"
check "update: the stream database's objects equal a fresh install's" diff -u "$W/fresh.catalog" "$W/src.catalog"
qa -c "SELECT gc_stream_drop('u1')" >/dev/null

# ---- 2. dump and restore with a stream mid-flight -------------------------------------------
# l1 consumes a real-time topic; l2 is a stopped stream with broker secrets owned by lc_alice
# (restored as is); dead letters, dedup keys and sequences are in use.
bash test/kafka/broker.sh topic l1 3 "$KDIR" >/dev/null
qa -c "CREATE TABLE l1 $TABLE; CREATE TABLE l2 (v float8); GRANT INSERT ON l2 TO lc_alice;
	   CREATE TABLE user_models (name text, m gcmodel);
	   INSERT INTO user_models SELECT name, model FROM gc_models;
	   SELECT gc_stream_create('l1', '$BS', 'l1', 'l1', '$STREAMOPT'); SELECT gc_stream_start('l1');
	   SET ROLE lc_alice;
	   SELECT gc_stream_create('l2', '$BS', 'l2', 'l2', '{\"kafka\": {\"sasl.username\": \"u\", \"sasl.password\": \"pw\"}}');
	   RESET ROLE" >/dev/null
$SIM "${SIMOPT[@]}" --topic l1 --rate 800 --duration 8 --seed 22 --print-truth "$W/l1.truth" >"$W/l1.rep" &
spid=$!
sleep 3
as_pg "$PG_BINDIR/pg_dump" -h "$A" -p "$PORT_A" -U postgres -Fc -f "$W/gcsrc.fc" gcsrc
rc1=$?
sleep 1.5
as_pg "$PG_BINDIR/pg_dump" -h "$A" -p "$PORT_A" -U postgres -f "$W/gcsrc.sql" gcsrc
rc2=$?
check "pg_dump -Fc and plain pg_dump while l1 consumes (rc $rc1, $rc2)" test "$rc1$rc2" = 00
dumped=$(grep -c . <(as_pg "$PG_BINDIR/pg_restore" -a -t l1 -f - "$W/gcsrc.fc" | sed -n '/^COPY/,/^\\\./p'))
check "the dump caught the stream mid-flight ($((dumped - 2)) rows of l1 dumped)" test "$dumped" -gt 50
wait $spid
total=$(val total_sent "$W/l1.rep")
check "source: every message committed" wait_done l1 "$total"
expected_rows l1 "$W/l1.truth" "$W/l1.rep" "$W/l1.expected"
check "source: exactly the unique valid rows" table_matches l1 "$W/l1.expected"
check "source: the committed counts cover the topic (messages $total, duplicates $(val duplicates "$W/l1.rep"))" test \
	"$(qa -c "SELECT messages || ' ' || duplicates FROM gc_stream_status WHERE name = 'l1'")" = "$total $(val duplicates "$W/l1.rep")"
qa -c "SELECT gc_stream_stop('l1')" >/dev/null
sleep 1
qa -c "SELECT gc_stream_start('l1')" >/dev/null
wait_for 20 state_is l1 running
check "source: the counts survive a worker restart" test \
	"$(qa -c "SELECT messages || ' ' || state FROM gc_stream_status WHERE name = 'l1'")" = "$total running"

# 2a. a missing owner role: the stream rows cannot be loaded, and the error says why
QDB=postgres qb -c "CREATE DATABASE gcnorole"
as_pg "$PG_BINDIR/pg_restore" -h "$B" -p "$PORT_B" -U postgres -d gcnorole "$W/gcsrc.fc" >"$W/norole.log" 2>&1
check "restore without the owner role: the stream rows fail with the missing role named" bash -c \
	"grep -A2 'COPY failed for table \"gc_streams\"' '$W/norole.log' | grep -q 'role \"lc_alice\" does not exist'"
QDB=postgres qb -c "CREATE ROLE lc_alice LOGIN"
QDB=gcnorole qb -c "TRUNCATE gc_streams, gc_stream_offsets, gc_stream_dedup, gc_stream_errors CASCADE" >/dev/null
as_pg "$PG_BINDIR/pg_restore" -h "$B" -p "$PORT_B" -U postgres -d gcnorole -a \
	-t gc_streams -t gc_stream_offsets -t gc_stream_dedup -t gc_stream_errors "$W/gcsrc.fc" >"$W/norole2.log" 2>&1
check "after CREATE ROLE, pg_restore -a of the stream tables completes the restore" test \
	"$(QDB=gcnorole qb -c "SELECT string_agg(name || ':' || owner, ',' ORDER BY name) || ' ' || (SELECT count(*) > 0 FROM gc_stream_offsets) FROM gc_streams")" = "l1:postgres,l2:lc_alice true"
QDB=postgres qb -c "DROP DATABASE gcnorole"

# 2b. pg_restore of the custom dump into gcdst on cluster B
QDB=postgres qb -c "CREATE DATABASE gcdst"
as_pg "$PG_BINDIR/pg_restore" -h "$B" -p "$PORT_B" -U postgres -d gcdst "$W/gcsrc.fc" >"$W/restore.log" 2>&1
check "pg_restore into another cluster: no error" bash -c "[ ! -s '$W/restore.log' ] || { cat '$W/restore.log'; false; }"
# imputations of 200 rows with gaps, as exact text: a model that lost a bit differs
impute_digest="SET extra_float_digits = 3; SELECT md5(string_agg(gc_impute(model, ARRAY[
	CASE WHEN i % 2 = 0 THEN 10 + i % 17 END, CASE WHEN i % 3 = 0 THEN 0.5 + (i % 5) * 0.1 END,
	CASE WHEN i % 4 = 1 THEN 990 + i % 23 END, NULL, CASE WHEN i % 5 = 2 THEN 400 + i END,
	CASE WHEN i % 2 = 1 THEN 40 + i % 9 END, NULL, CASE WHEN i % 7 < 3 THEN i % 3 END]::float8[])::text, ';' ORDER BY i))
	FROM gc_models, generate_series(1, 200) i WHERE name = 'sensors'"
# restored_ok DIR PORT DB LABEL: the restored database holds everything and resumes
# exactly once
restored_ok() {
	local PGD=$1 PORT=$2 DB=$3 label=$4
	check "$label: models restored (the same bytes)" test \
		"$(q -c "SELECT string_agg(name || md5(model::text), ',' ORDER BY name) FROM gc_models")" = \
		"$(qa -c "SELECT string_agg(name || md5(model::text), ',' ORDER BY name) FROM gc_models")"
	check "$label: the restored model imputes bit for bit as the source's" test \
		"$(q -c "$impute_digest")" = "$(qa -c "$impute_digest")"
	check "$label: both streams restored with options, owner and broker settings" test \
		"$(q -c "SELECT string_agg(name || owner || options::text || kafka_conf::text || enabled, ',' ORDER BY name) FROM gc_streams")" = \
		"$(qa -c "SELECT string_agg(name || owner || options::text || kafka_conf::text || enabled, ',' ORDER BY name) FROM gc_streams")"
	check "$label: offsets, dedup keys and dead letters restored" test \
		"$(q -c "SELECT (SELECT count(*) FROM gc_stream_offsets) > 0 AND (SELECT count(*) FROM gc_stream_dedup) > 0
					AND (SELECT count(*) FROM gc_dead_letters) > 0")" = t
	check "$label: the sequences continue after the restored ids" test \
		"$(q -c "SELECT (SELECT last_value FROM gc_streams_id_seq) >= (SELECT max(id) FROM gc_streams)
					AND (SELECT last_value FROM gc_dead_letters_id_seq) >= (SELECT max(id) FROM gc_dead_letters)")" = t
	sleep 2
	check "$label: the restored stream does not start by itself (held, no worker)" test \
		"$(q -c "SELECT state FROM gc_stream_status WHERE name = 'l1'")/$(workers l1 | wc -l)" = "held/0"
	q -c "SELECT gc_stream_start('l1')" >/dev/null
	check "$label: after gc_stream_start it resumes and commits the whole topic" wait_done l1 "$total"
	check "$label: exactly the unique valid rows, none lost, none twice" table_matches l1 "$W/l1.expected"
	check "$label: every dead letter once ($(val malformed "$W/l1.rep"))" test \
		"$(q -c "SELECT count(*) || '/' || count(DISTINCT (partition, \"offset\")) FROM gc_dead_letters WHERE stream = 'l1'")" = \
		"$(val malformed "$W/l1.rep")/$(val malformed "$W/l1.rep")"
	check "$label: the message counts continue from the dump's" test \
		"$(q -c "SELECT messages || ' ' || duplicates FROM gc_stream_status WHERE name = 'l1'")" = "$total $(val duplicates "$W/l1.rep")"
	check "$label: models stored in user tables restored" test \
		"$(q -c "SELECT count(*) FROM user_models u JOIN gc_models g USING (name) WHERE u.m::text = g.model::text")" = 1
}
restored_ok "$B" "$PORT_B" gcdst "pg_restore"

# 2c. plain pg_dump | psql into gcplain, served after a restart of cluster B
QDB=postgres qb -c "CREATE DATABASE gcplain"
if QDB=gcplain qb -f "$W/gcsrc.sql" >"$W/plain.log" 2>&1; then ok "pg_dump | psql: no error"; else notok "pg_dump | psql"; tail -5 "$W/plain.log"; fi
sed -i "s/^gcimpute.database = .*/gcimpute.database = 'gcplain'/" "$B/data/postgresql.conf"
as_pg "$PG_BINDIR/pg_ctl" -D "$B/data" -m fast -w restart -l "$B/server2.log" >/dev/null
restored_ok "$B" "$PORT_B" gcplain "psql"

# 2d. a restore into another database of the same cluster is held as well (its database
# oid differs), and gc_stream_start there says that no launcher serves it
QDB=postgres q -c "CREATE DATABASE gccopy"
as_pg "$PG_BINDIR/pg_restore" -h "$A" -p "$PORT_A" -U postgres -d gccopy "$W/gcsrc.fc" >/dev/null 2>&1
check "same cluster, other database: held" test "$(QDB=gccopy q -c "SELECT state FROM gc_stream_status WHERE name = 'l1'")" = held
check "same cluster, other database: gc_stream_start warns that gcimpute.database is gcsrc" bash -c \
	"'$PG_BINDIR/psql' -h '$A' -p $PORT_A -U postgres -d gccopy -XAtq -c \"SELECT gc_stream_start('l1')\" 2>&1 |
	 grep -q 'will not run: gcimpute serves the streams of database \"gcsrc\" only'"
check "same cluster, other database: then unserved, with the reason" test \
	"$(QDB=gccopy q -c "SELECT state || ': ' || last_error FROM gc_stream_status WHERE name = 'l1'")" = \
	"unserved: gcimpute serves the streams of database gcsrc only (gcimpute.database)"

# ---- 3. a non-superuser's pg_dump -------------------------------------------------------------
QDB=postgres q -c "CREATE ROLE lc_dumper LOGIN" >/dev/null
qa -c "GRANT SELECT ON l1, l2, u1, user_models TO lc_dumper" >/dev/null
"$PG_BINDIR/pg_dump" -h "$A" -p "$PORT_A" -U lc_dumper -f /dev/null gcsrc >"$W/nonsuper.log" 2>&1
rc=$?
check "non-superuser pg_dump fails (rc $rc), naming the extension's object it may not read" bash -c \
	"[ $rc -ne 0 ] && grep -qE 'permission denied for (table|sequence) gc_' '$W/nonsuper.log'"
"$PG_BINDIR/pg_dump" -h "$A" -p "$PORT_A" -U lc_dumper --exclude-table-data='public.gc_*' -Fc -f "$W/nonsuper.fc" gcsrc >"$W/nonsuper2.log" 2>&1
rc=$?
"$PG_BINDIR/pg_restore" -l "$W/nonsuper.fc" >"$W/nonsuper.toc" 2>/dev/null
check "non-superuser pg_dump --exclude-table-data='public.gc_*' works (rc $rc): the user's tables, no extension data" bash -c \
	"[ $rc -eq 0 ] && grep -q 'TABLE DATA public l1 ' '$W/nonsuper.toc' && ! grep -q 'TABLE DATA public gc_' '$W/nonsuper.toc'"

# ---- 4. DROP EXTENSION ------------------------------------------------------------------------
rows=$(qa -c "SELECT count(*) FROM l1")
if qa -c "DROP EXTENSION gcimpute" >/dev/null 2>"$W/drop.err"; then
	notok "DROP EXTENSION is refused while a user table has a gcmodel column"
else
	check "DROP EXTENSION is refused while a user table has a gcmodel column" grep -q 'column m of table user_models depends on type gcmodel' "$W/drop.err"
fi
check "l1's worker runs before the drop" test -n "$(workers l1)"
qa -c "DROP EXTENSION gcimpute CASCADE" 2>/dev/null
for i in $(seq 1 25); do [ -z "$(workers l1)" ] && break; sleep 0.2; done
check "DROP EXTENSION CASCADE: the worker exits within 5 s" test -z "$(workers l1)"
check "DROP EXTENSION CASCADE: the target keeps its $rows rows; the gcmodel column and the extension's tables go" test \
	"$(qa -c "SELECT (SELECT count(*) FROM l1) || ' ' || (SELECT count(*) FROM pg_attribute WHERE attrelid = 'user_models'::regclass AND attname = 'm' AND NOT attisdropped) || ' ' || (to_regclass('gc_streams') IS NULL)")" = "$rows 0 true"
qa -c "CREATE EXTENSION gcimpute"
check "CREATE EXTENSION again starts empty" test "$(qa -c "SELECT count(*) FROM gc_streams") $(qa -c "SELECT count(*) FROM gc_models")" = "0 0"

check "no worker crashed" bash -c "! grep -qE 'terminated by signal (11|6|7)' '$A/server.log' '$B/server.log' '$B/server2.log'"
finish
