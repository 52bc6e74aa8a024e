#!/usr/bin/env bash
# Scale-out of the stream worker over a real broker (test/kafka/broker.sh):
#  1. event time while some partitions have not delivered yet: rows split over three
#     partitions, read from a backlog that arrives partition by partition, make no late
#     updates;
#  2. two servers sharing one six-partition topic through the "partitions" option (server
#     a with two workers for its share), one killed (kill -9 of its postmaster) mid-stream
#     and restarted: the union of both tables holds every row of the topic exactly once.
# Ports: GC_REGRESS_PORT+9 and +10 (PostgreSQL), KAFKA_PORT (+1).
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$TOP"
. test/pg.sh
GC_TEST_TMP=${GC_TEST_TMP:-/tmp/gcimpute-test-$$}
PY=${VENV:-$TOP/.venv}/bin/python
[ -x "$PY" ] || PY=/usr/bin/python3
export KAFKA_PORT=${KAFKA_PORT:-19092}
export KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
PORT_A=$((${GC_REGRESS_PORT:-54391} + 9))
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
start_broker "$KDIR"
conf=("shared_preload_libraries = 'gcimpute'" "gcimpute.database = '$DB'" "gcimpute.launcher_naptime = 200")
start_server() { # start_server DIR PORT
	pg_start "$1" "$2" "${conf[@]}" &&
		"$PG_BINDIR/psql" -h "$1" -p "$2" -U postgres -XAtq -c "CREATE DATABASE $DB" postgres &&
		"$PG_BINDIR/psql" -h "$1" -p "$2" -U postgres -XAtq -c "CREATE EXTENSION gcimpute" "$DB"
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

# ---- 2. two servers share a six-partition topic ------------------------------------------
# Rows are keyed by entity (entity % 6 is the partition), so each server assembles whole
# rows of its share. Server b is killed (kill -9 of its postmaster) while messages arrive.
start_server "$W/b" "$PORT_B"
on_b
check "server b starts" test -n "$(q -c 'SELECT 1' 2>/dev/null)"
bash test/kafka/broker.sh topic two6 6 "$KDIR" >/dev/null
ents=12 chunk=250 chunks=8 t0=1795000000
$GEN $ents $chunk 6 $t0 --row-per-message | "$TOOL" produce "$BS" two6 >/dev/null
on_a
mktable two6
q -c "SELECT gc_stream_create('two6', '$BS', 'two6', 'two6', '{$STREAMOPT, \"partitions\": {\"modulus\": 2, \"remainder\": 0}, \"workers\": 2}');
	  SELECT gc_stream_start('two6')" >/dev/null
on_b
mktable two6
q -c "SELECT gc_stream_create('two6', '$BS', 'two6', 'two6', '{$STREAMOPT, \"partitions\": [5, 1, 3]}');
	  SELECT gc_stream_start('two6')" >/dev/null
# the rest arrives in chunks while server b goes down and comes back
(
	for ((c = 1; c < chunks; c++)); do
		$GEN $ents $chunk 6 $((t0 + c * chunk)) --row-per-message | "$TOOL" produce "$BS" two6 >/dev/null 2>&1
		sleep 0.5
	done
) &
producer=$!
some_committed() { [ "$(committed two6)" -gt 0 ] 2>/dev/null; }
wait_for 60 some_committed
sleep 1
before=$(committed two6)
pids=$(server_procs | awk '{print $1}')
pm=$(head -1 "$PGD/data/postmaster.pid")
kill -9 "$pm"
gone() { for p in $pids; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
check "kill -9 of server b's postmaster mid-stream (its processes exit)" wait_for 30 gone
sleep 1
as_pg "$PG_BINDIR/pg_ctl" -D "$PGD/data" -l "$PGD/server.log" -w -t 60 start >/dev/null
check "server b restarts" test -n "$(q -c 'SELECT 1' 2>/dev/null)"
wait "$producer"
total=$((ents * chunk * chunks))
check "server b was killed mid-stream ($before of its $((total / 2)) messages committed)" test "$before" -lt $((total / 2))
check "the topic holds the $total messages produced" topic_holds two6 $total
on_a
check "server a commits its share ($((total / 2)) messages)" wait_done two6 $((total / 2)) 120
check "server a reads partitions 0, 2, 4" test "$(q -c "SELECT partitions FROM gc_stream_status WHERE name = 'two6'")" = "{0,2,4}"
check "server a's two workers divide its share: partitions 0, 4 and 2" test "$(q -c "SELECT string_agg(worker || ':' ||
		(SELECT array_agg(x ORDER BY x) FROM unnest(partitions) x)::text, ' ' ORDER BY worker) FROM gc_stream_workers WHERE name = 'two6'")" = "0:{0,4} 1:{2}"
q -c "\\copy (SELECT entity, extract(epoch FROM ts), temp, hum, pres, light, co2, noise, vib, door FROM two6) TO '$W/two6-a.csv' CSV"
on_b
check "server b commits its share ($((total / 2)) messages)" wait_done two6 $((total / 2)) 120
check "server b reads partitions 1, 3, 5" test "$(q -c "SELECT partitions FROM gc_stream_status WHERE name = 'two6'")" = "{1,3,5}"
q -c "\\copy (SELECT entity, extract(epoch FROM ts), temp, hum, pres, light, co2, noise, vib, door FROM two6) TO '$W/two6-b.csv' CSV"
"$TOP/test/kafka/bin/kdump" -b "$BS" two6 >"$W/two6.dump" 2>/dev/null
check "the union of both tables holds every row of the topic exactly once" \
	"$PY" test/stream/union_check.py "$W/two6.dump" "$W/two6-a.csv" "$W/two6-b.csv"
# the check can fail: a row of server b written twice
head -1 "$W/two6-b.csv" >>"$W/two6-b.csv"
if "$PY" test/stream/union_check.py "$W/two6.dump" "$W/two6-a.csv" "$W/two6-b.csv" >/dev/null; then
	notok "union_check.py detects a repeated row"
else
	ok "union_check.py detects a repeated row"
fi

# option errors
on_a
bad_share() { # bad_share JSON PATTERN: gc_stream_create refuses the share with that message
	q -c "SELECT gc_stream_create('bad', '$BS', 'two6', 'two6', '{\"partitions\": $1}')" >"$W/bad.out" 2>&1
	grep -qF "$2" "$W/bad.out" || { head -3 "$W/bad.out"; return 1; }
}
check "partitions: an empty list is refused" bad_share '[]' 'invalid value for stream option "partitions"'
check "partitions: a negative partition is refused" bad_share '[0, -1]' 'invalid value for stream option "partitions"'
check "partitions: a partition named twice is refused" bad_share '[2, 2]' 'names a partition twice'
check "partitions: remainder >= modulus is refused" bad_share '{"modulus": 2, "remainder": 2}' 'invalid value for stream option "partitions"'
check "partitions: an unknown key is refused" bad_share '{"modulus": 2, "rest": 0}' 'invalid value for stream option "partitions"'
check "partitions: a string is refused" bad_share '"0,2"' 'invalid value for stream option "partitions"'

finish
