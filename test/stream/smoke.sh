#!/usr/bin/env bash
# A short end-to-end stream test for one PostgreSQL major (the CI matrix runs it on each):
# a server with shared_preload_libraries=gcimpute, a model fitted in SQL, 1,500 damaged
# JSON readings (dropped cells, split rows, duplicates, malformed messages) assembled per
# entity and 1 s window and imputed by the worker; the table must hold exactly the rows
# check_stream.py derives from the topic, then the worker must exit on drop within 5 s
# and pg_ctl stop -m fast must be prompt. About 15 s.
#
#   PG_CONFIG=... KDIR=BROKERDIR bash test/stream/smoke.sh DIR PORT BROKERS TOPIC
# Needs the simulator and kdump built in TOP (make -C test/sim, make -C test/kafka) and the
# broker of test/kafka/broker.sh running in KDIR. Ends with "SUITE passed=N failed=M".
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$TOP"
. test/pg.sh
. test/lib.sh
W=$1 PORT=$2 BS=$3 TOPIC=$4
PGD=$W/pg DB=smoke
VENV=${VENV:-$TOP/.venv}
PY=$VENV/bin/python
[ -x "$PY" ] || PY=/usr/bin/python3
SIM=test/sim/bin/gc_sensor_sim
pass=0 fail=0
rm -rf "$W"
mkdir -p "$W" && chmod 777 "$W"
trap 'pg_stop "$PGD"' EXIT

pg_start "$PGD" "$PORT" "shared_preload_libraries = 'gcimpute'" "gcimpute.database = '$DB'" \
	"gcimpute.launcher_naptime = 200"
COLS="temp float8, hum float8, pres float8, light float8, co2 float8, noise float8, vib float8, door float8"
$SIM --dry-run --quiet --entities 20 --count 2000 --seed 1 --drop 0 --print-truth "$W/model.truth" >/dev/null
chmod 644 "$W/model.truth"
if QDB=postgres q -c "CREATE DATABASE $DB" && q -c "CREATE EXTENSION gcimpute" \
	-c "CREATE TABLE truth (entity text, ts timestamptz, messages int, observed text, $COLS)" \
	-c "\\copy truth FROM '$W/model.truth' CSV HEADER" \
	-c "INSERT INTO gc_models SELECT 'm', gc_fit(ARRAY[temp, hum, pres, light, co2, noise, vib, door]) FROM truth" \
	-c "CREATE TABLE readings (entity text, ts timestamptz, $COLS, imputed bool[], raw float8[])" \
	-c "SELECT gc_stream_create('smoke', '$BS', '$TOPIC', 'readings', '{\"entity_column\": \"entity\",
			\"time_column\": \"ts\", \"window\": 1, \"lateness\": 0.5, \"model\": \"m\", \"max_message_bytes\": 65536}')" \
	-c "SELECT gc_stream_start('smoke')" >/dev/null; then
	ok "server with the extension preloaded, a model, a stream"
else
	notok "server with the extension preloaded, a model, a stream"
	echo "SUITE passed=$pass failed=$fail"
	exit 1
fi
bash test/kafka/broker.sh topic "$TOPIC" 2 "$KDIR" >/dev/null 2>&1
$SIM --brokers "$BS" --topic "$TOPIC" --entities 20 --count 1500 --seed 5 --drop 0.15 --split 0.2 \
	--dup 0.1 --malformed 0.05 --delay-scale 0.002 --quiet --print-truth "$W/truth.csv" >"$W/rep.txt"
total=$(val total_sent "$W/rep.txt")
check "the topic holds the $total messages produced" topic_holds "$TOPIC" "$total"
check "all $total messages committed" wait_done smoke "$total" 60
"$TOP/test/kafka/bin/kdump" -b "$BS" "$TOPIC" >"$W/dump.txt" 2>/dev/null
"$PY" test/sim/check_stream.py --dump "$W/dump.txt" --truth "$W/truth.csv" --report "$W/rep.txt" \
	--expected "$W/expected.csv" >"$W/check.txt"
q -c "\\copy (SELECT entity, extract(epoch FROM ts), temp, hum, pres, light, co2, noise, vib, door, imputed FROM readings) TO '$W/table.csv' CSV"
check "the table holds exactly the unique valid rows, gaps imputed; one dead letter per malformed message" \
	bash -c "'$PY' test/stream/compare.py '$W/expected.csv' '$W/table.csv' --imputed &&
		[ \"\$('$PG_BINDIR/psql' -h '$PGD' -p $PORT -U postgres -d $DB -XAtc \"SELECT count(*) FROM gc_dead_letters\")\" = '$(val malformed "$W/rep.txt")' ]"
pids=$(workers smoke | tr '\n' ' ')
q -c "SELECT gc_stream_drop('smoke')" >/dev/null
check "gc_stream_drop: the worker exits within 5 s" bash -c "[ -n '$pids' ] && for i in \$(seq 50); do kill -0 $pids 2>/dev/null || exit 0; sleep 0.1; done; exit 1"
q -c "SELECT gc_stream_create('smoke2', '$BS', '$TOPIC', 'readings', '{\"entity_column\": \"entity\", \"time_column\": \"ts\", \"window\": 1}');
	  SELECT gc_stream_start('smoke2')" >/dev/null
wait_for 10 test -n "$(workers smoke2)"
t0=$(date +%s.%N)
as_pg "$PG_BINDIR/pg_ctl" -D "$PGD/data" -m fast -w -t 30 stop >/dev/null
rc=$?
dt=$(echo "$(date +%s.%N) - $t0" | bc)
check "pg_ctl stop -m fast with a running stream (rc $rc, $(printf '%.1f' "$dt") s)" test "$rc" = 0 -a "$(echo "$dt < 10" | bc)" = 1
check "no process crashed" bash -c "! grep -qE 'terminated by signal' '$PGD/server.log'"
echo "SUITE passed=$pass failed=$fail"
[ "$fail" -eq 0 ]
