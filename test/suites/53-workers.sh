#!/usr/bin/env bash
# Several workers per stream (the "workers" option) over a real broker
# (test/kafka/broker.sh):
#  1. exactly once with two workers on a four-partition topic (rows assembled per entity,
#     producers keyed by entity): kill -9 of one worker and pg_ctl stop -m immediate in
#     the middle of a real-time stream; the table holds exactly the unique valid rows;
#  2. re-sharding: the worker count changed (2 -> 3 in one transaction with the workers
#     busy, then 3 -> 1) in the middle of a backlog, with rows pending; still exactly once;
#  3. an entity whose messages reach partitions of two workers is counted and reported;
#     partitions added to the topic later go to the worker their number says;
#  4. only worker 0 refreshes the model;
#  5. worker slots: gcimpute.max_streams counts workers; a stream that cannot fit is
#     refused, one that must wait for slots waits and starts when they free; stop and
#     drop end every worker.
# Ports: GC_REGRESS_PORT+11 (PostgreSQL), KAFKA_PORT (+1).
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$TOP"
. test/pg.sh
GC_TEST_TMP=${GC_TEST_TMP:-/tmp/gcimpute-test-$$}
PY=${VENV:-$TOP/.venv}/bin/python
[ -x "$PY" ] || PY=/usr/bin/python3
export KAFKA_PORT=${KAFKA_PORT:-19092}
export KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
PORT=$((${GC_REGRESS_PORT:-54391} + 11))
BS=127.0.0.1:$KAFKA_PORT
W=$GC_TEST_TMP/workers-suite
KDIR=$W/broker
PGD=$W/pg
rm -rf "$W"
mkdir -p "$W" && chmod 777 "$W"
SIM=test/sim/bin/gc_sensor_sim
KDUMP=test/kafka/bin/kdump
TOOL=$W/kafka_tool
DB=gcworkers
pass=0 fail=0
. test/lib.sh
cleanup() {
	pg_stop "$PGD"
	bash test/kafka/broker.sh stop "$KDIR" >/dev/null 2>&1
}
trap cleanup EXIT

build_stream_tools "$TOOL"
start_broker "$KDIR"
conf=("shared_preload_libraries = 'gcimpute'" "gcimpute.database = '$DB'" "gcimpute.launcher_naptime = 200"
	"gcimpute.max_streams = 6")
pg_start "$PGD" "$PORT" "${conf[@]}"
QDB=postgres q -c "CREATE DATABASE $DB" && q -c "CREATE EXTENSION gcimpute"
check "server starts" test "$(q -c 'SELECT 1' 2>/dev/null)" = 1

SIMOPT=(--brokers "$BS" --entities 20 --drop 0.15 --split 0.2 --lose 0.05 --dup 0.1 --malformed 0.05
	--delay-scale 0.002 --quiet)
STREAMOPT='"entity_column": "entity", "time_column": "ts", "max_message_bytes": 65536'
# nworkers STREAM: how many workers of the stream run (gc_stream_workers)
nworkers() { q -c "SELECT count(*) FROM gc_stream_workers WHERE name = '$1'"; }
no_workers() { [ -z "$(workers "$1")" ]; }
# stop_stream STREAM: gc_stream_stop, then wait until all of its workers have exited
stop_stream() { q -c "SELECT gc_stream_stop('$1')" >/dev/null && wait_for 30 no_workers "$1"; }

# a model for the imputation, fitted on a simulator's true rows
$SIM "${SIMOPT[@]}" --dry-run --count 3000 --seed 5 --print-truth "$W/fit.truth" >/dev/null
q -c "CREATE TEMP TABLE truth (entity text, ts timestamptz, messages int, observed text, temp float8, hum float8,
		pres float8, light float8, co2 float8, noise float8, vib float8, door float8)" \
	-c "\\copy truth FROM '$W/fit.truth' CSV HEADER" \
	-c "INSERT INTO gc_models SELECT 'sensors', gc_fit(ARRAY[temp, hum, pres, light, co2, noise, vib, door]) FROM truth"

# ---- 1. two workers, kill -9 and an immediate shutdown mid-stream ------------------------
# The simulator keys each message by its entity, so Kafka's partitioner sends all of an
# entity's messages (splits, re-sends) to one partition: one worker assembles its rows.
bash test/kafka/broker.sh topic k2 4 "$KDIR" >/dev/null
mktable k2
q -c "SELECT gc_stream_create('k2', '$BS', 'k2', 'k2', '{$STREAMOPT, \"window\": 0.05, \"lateness\": 0.1,
		\"model\": \"sensors\", \"workers\": 2}'); SELECT gc_stream_start('k2')" >/dev/null
two_running() { [ "$(q -c "SELECT count(*) FILTER (WHERE state = 'running') FROM gc_stream_workers WHERE name = 'k2'")" = 2 ]; }
check "two workers run for one stream" wait_for 30 two_running
check "worker 0 reads partitions 0, 2 and worker 1 partitions 1, 3" test \
	"$(q -c "SELECT string_agg(worker || ':' || partitions::text, ' ' ORDER BY worker) FROM gc_stream_workers WHERE name = 'k2'")" = "0:{0,2} 1:{1,3}"
check "the workers are two processes, each under its own name" test \
	"$(server_procs | grep -cE 'gcimpute stream k2 worker [01] *$')/$(q -c "SELECT count(DISTINCT pid) FROM gc_stream_workers WHERE name = 'k2'")" = 2/2
# 100 entities at 1000 rows/s for 8 s: one reading per entity every 0.1 s, windows of 0.05 s
$SIM "${SIMOPT[@]}" --entities 100 --topic k2 --rate 1000 --duration 8 --seed 21 --delay-max 1 \
	--print-truth "$W/k2.truth" >"$W/k2.rep" &
spid=$!
sleep 2.5
w1=$(q -c "SELECT pid FROM gc_stream_workers WHERE name = 'k2' AND worker = 1")
before=$(committed k2)
if [ -n "$w1" ] && kill -9 "$w1"; then ok "kill -9 of worker 1 mid-stream (pid $w1, $before offsets committed)"; else notok "kill -9 of worker 1"; fi
sleep 2.5
for i in $(seq 1 50); do pg_isready -q -h "$PGD" -p "$PORT" 2>/dev/null && break; sleep 0.2; done
check "both workers are back after the crash restart" wait_for 30 two_running
as_pg "$PG_BINDIR/pg_ctl" -D "$PGD/data" -m immediate -w stop >/dev/null 2>&1
sleep 1
as_pg "$PG_BINDIR/pg_ctl" -D "$PGD/data" -l "$PGD/server2.log" -w start >/dev/null
ok "pg_ctl stop -m immediate mid-stream, then start"
wait $spid
check "the simulator delivered everything" test "$(val failed "$W/k2.rep")" = 0
check "both workers resumed and committed all messages" wait_done k2 "$(val total_sent "$W/k2.rep")" 90
expected_rows k2 json "$W/k2.truth" "$W/k2.rep" "$W/k2.expected"
check "exactly the unique valid rows, none lost, none written twice (2 workers)" table_matches k2 "$W/k2.expected" --imputed
check "dead letters not duplicated by the replays ($(val malformed "$W/k2.rep"))" test \
	"$(q -c "SELECT count(*) FROM gc_dead_letters WHERE stream = 'k2'")" = "$(val malformed "$W/k2.rep")"
check "per worker: committed offsets, messages and dead letters of its own partitions add up" test "$(q -c "
	SELECT sum(x)::bigint = (SELECT sum(y) FROM gc_stream_status s, unnest(s.committed_offsets) y WHERE name = 'k2')
		   AND (SELECT sum(messages) FROM gc_stream_workers WHERE name = 'k2') = (SELECT messages FROM gc_stream_status WHERE name = 'k2')
		   AND (SELECT sum(dead_letters) FROM gc_stream_workers WHERE name = 'k2') = $(val malformed "$W/k2.rep")
	FROM gc_stream_workers w, unnest(w.committed_offsets) x WHERE name = 'k2'")" = t
check "gc_stream_status: one row for the stream, over both workers" test \
	"$(q -c "SELECT count(*) || ' ' || min(workers) || ' ' || min(state) || ' ' || min(partitions::text) || ' ' || min(lag)
			 FROM gc_stream_status WHERE name = 'k2'")" = "1 2 running {0,1,2,3} 0"
check "no entity reached both workers (keyed by entity)" test \
	"$(q -c "SELECT entity_conflicts FROM gc_stream_status WHERE name = 'k2'")" = 0

# ---- 2. re-sharding: 2 -> 3 -> 1 workers in the middle of a backlog ----------------------
# Offsets are per partition, so the partitions a worker held move to another with their
# stored offsets; rows pending at the stop are replayed by the new owner.
bash test/kafka/broker.sh topic rs 6 "$KDIR" >/dev/null
mktable rs
q -c "SELECT gc_stream_create('rs', '$BS', 'rs', 'rs', '{$STREAMOPT, \"window\": 1, \"lateness\": 0.5,
		\"model\": \"sensors\", \"workers\": 2, \"batch_size\": 200}')" >/dev/null
$SIM "${SIMOPT[@]}" --entities 30 --topic rs --count 6000 --seed 22 --start-time 2026-11-22T05:00:00Z \
	--print-truth "$W/rsa.truth" >"$W/rsa.rep"
q -c "SELECT gc_stream_start('rs')" >/dev/null
some() { c=$(committed rs); [ "$c" -gt 0 ] 2>/dev/null && [ "$c" -lt "$(val total_sent "$W/rsa.rep")" ]; }
wait_for 60 some
part=$(committed rs)
# stop, alter and start in one transaction while both workers are busy: the change waits
# for their batches in flight, and a worker whose options changed writes nothing more
q -c "SELECT gc_stream_stop('rs');
	  SELECT gc_stream_alter('rs', '{$STREAMOPT, \"window\": 1, \"lateness\": 0.5, \"model\": \"sensors\", \"workers\": 3, \"batch_size\": 200}');
	  SELECT gc_stream_start('rs')" >/dev/null
check "re-shard: 2 -> 3 workers in one transaction mid-backlog ($part of $(val total_sent "$W/rsa.rep") committed)" \
	test "$part" -lt "$(val total_sent "$W/rsa.rep")"
rs_three() { [ "$(q -c "SELECT string_agg(partitions::text, ' ' ORDER BY worker) FROM gc_stream_workers WHERE name = 'rs'")" = '{0,3} {1,4} {2,5}' ]; }
check "re-shard: three workers, two partitions each" wait_for 30 rs_three
$SIM "${SIMOPT[@]}" --entities 30 --first-entity 31 --topic rs --count 6000 --seed 23 \
	--start-time 2026-11-22T05:00:00Z --print-truth "$W/rsb.truth" >"$W/rsb.rep"
"$PY" test/stream/sum_reports.py "$W/rsa.rep" "$W/rsb.rep" >"$W/rs.rep"
sleep 1
stop_stream rs
part=$(committed rs)
q -c "SELECT gc_stream_alter('rs', '{$STREAMOPT, \"window\": 1, \"lateness\": 0.5, \"model\": \"sensors\", \"workers\": 1}');
	  SELECT gc_stream_start('rs')" >/dev/null
check "re-shard: back to one worker after $part of $(val total_sent "$W/rs.rep") committed" wait_done rs "$(val total_sent "$W/rs.rep")" 90
check "re-shard: one worker reads all six partitions" test \
	"$(q -c "SELECT count(*) || ' ' || min(partitions::text) FROM gc_stream_workers WHERE name = 'rs'")" = "1 {0,1,2,3,4,5}"
{ cat "$W/rsa.truth"; tail -n +2 "$W/rsb.truth"; } >"$W/rs.truth"
expected_rows rs json "$W/rs.truth" "$W/rs.rep" "$W/rs.expected"
check "re-shard: exactly the unique valid rows" table_matches rs "$W/rs.expected" --imputed
check "re-shard: dead letters once each" test \
	"$(q -c "SELECT count(*) FROM gc_dead_letters WHERE stream = 'rs'")" = "$(val malformed "$W/rs.rep")"

# ---- 3. an entity on partitions of two workers ---------------------------------------------
# e1 is sent to partitions 0 and 1 (worker 0 and worker 1), e2 only to partition 0.
bash test/kafka/broker.sh topic ec 2 "$KDIR" >/dev/null
mktable ec
for t in 0 1 2 3 4 5; do
	ts=$(date -u -d "@$((1795000000 + t))" +%Y-%m-%dT%H:%M:%SZ)
	printf '@0\t{"publisher_id":"a","data_id":%d,"entity":"e1","ts":"%s","temp":%d}\n' "$t" "$ts" "$t"
	printf '@1\t{"publisher_id":"b","data_id":%d,"entity":"e1","ts":"%s","hum":%d}\n' "$t" "$ts" "$t"
	printf '@0\t{"publisher_id":"c","data_id":%d,"entity":"e2","ts":"%s","temp":%d}\n' "$t" "$ts" "$t"
done | "$TOOL" produce "$BS" ec >/dev/null
q -c "SELECT gc_stream_create('ec', '$BS', 'ec', 'ec', '{$STREAMOPT, \"window\": 1, \"lateness\": 0, \"workers\": 2}');
	  SELECT gc_stream_start('ec')" >/dev/null
check "entity check: all 18 messages committed" wait_done ec 18 60
check "entity check: e1 counted once, by the worker that saw it second" test \
	"$(q -c "SELECT entity_conflicts FROM gc_stream_status WHERE name = 'ec'")/$(q -c "SELECT sum(entity_conflicts) FROM gc_stream_workers WHERE name = 'ec'")" = 1/1
names_e1() {
	q -c "SELECT last_error FROM gc_stream_status WHERE name = 'ec'" |
		grep -qE 'worker [01]: entity "e1" arrives on partition [01] \(worker [01]\) and partition [01] \(worker [01]\): key messages by entity'
}
check "entity check: last_error names the entity and both partitions" names_e1
check "entity check: a WARNING in the server log" grep -qE 'WARNING:  stream "ec": entity "e1" arrives on partition' "$PGD/server2.log"
check "entity check: e1's rows are written in two parts (what the report warns of)" test \
	"$(q -c "SELECT count(*) FILTER (WHERE entity = 'e1') || ' ' || count(*) FILTER (WHERE entity = 'e2') FROM ec")" = "12 6"
q -c "SELECT gc_stream_drop('ec')" >/dev/null
mktable ec1
q -c "SELECT gc_stream_create('ec1', '$BS', 'ec', 'ec1', '{$STREAMOPT, \"window\": 1, \"lateness\": 0}');
	  SELECT gc_stream_start('ec1')" >/dev/null
wait_done ec1 18 60 >/dev/null
check "entity check: with one worker the same topic gives whole rows and no report" test \
	"$(q -c "SELECT count(*) || ' ' || (SELECT coalesce(entity_conflicts, 0) FROM gc_stream_status WHERE name = 'ec1') FROM ec1")" = "12 0"
q -c "SELECT gc_stream_drop('ec1')" >/dev/null

# ---- 3b. partitions added to the topic go to a worker known in advance -------------------
# Two workers on two partitions; the topic grows to five: partition p goes to worker p % 2.
bash test/kafka/broker.sh topic grow 2 "$KDIR" >/dev/null
mktable grow
q -c "SELECT gc_stream_create('grow', '$BS', 'grow', 'grow', '{$STREAMOPT, \"window\": 1, \"lateness\": 0, \"workers\": 2}');
	  SELECT gc_stream_start('grow')" >/dev/null
gen_grow() { # gen_grow PARTITIONS: a reading of entity g<p> on each partition p
	for ((p = 0; p < $1; p++)); do
		printf '@%d\t{"publisher_id":"g%d","data_id":%d,"entity":"g%d","ts":"2026-11-22T06:00:00Z","temp":%d}\n' "$p" "$p" "$1" "$p" "$p"
	done | "$TOOL" produce "$BS" grow >/dev/null
}
gen_grow 2
wait_done grow 2 60 >/dev/null
"$TOOL" partitions "$BS" grow 5 2>/dev/null
gen_grow 5
check "grown topic: all 7 messages committed" wait_done grow 7 60
check "grown topic: worker 0 reads partitions 0, 2, 4 and worker 1 partitions 1, 3" test "$(q -c "SELECT string_agg(worker || ':' ||
		(SELECT array_agg(x ORDER BY x) FROM unnest(partitions) x)::text, ' ' ORDER BY worker) FROM gc_stream_workers WHERE name = 'grow'")" = "0:{0,2,4} 1:{1,3}"
q -c "SELECT gc_stream_drop('grow')" >/dev/null

# ---- 4. model_refresh: worker 0 only -------------------------------------------------------
stop_stream k2
mktable mr
q -c "INSERT INTO gc_models SELECT 'mr_model', model FROM gc_models WHERE name = 'sensors';
	  SELECT gc_stream_create('mr', '$BS', 'rs', 'mr', '{$STREAMOPT, \"window\": 1, \"lateness\": 0.5,
		\"model\": \"mr_model\", \"model_refresh\": 1, \"model_window\": 500, \"workers\": 2}');
	  SELECT gc_stream_start('mr')" >/dev/null
wait_done mr "$(val total_sent "$W/rs.rep")" 90 >/dev/null
sleep 3.5
p0=$(q -c "SELECT pid FROM gc_stream_workers WHERE name = 'mr' AND worker = 0")
refits=$(grep -c 'stream "mr": model "mr_model" refitted' "$PGD/server2.log")
others=$(grep 'stream "mr": model "mr_model" refitted' "$PGD/server2.log" | grep -vc "\[$p0\]")
check "model_refresh: $refits refits, all by worker 0 (pid $p0), $others by another" test "$refits" -ge 2 -a "$others" = 0
q -c "SELECT gc_stream_drop('mr')" >/dev/null
wait_for 30 no_workers mr

# ---- 5. worker slots (gcimpute.max_streams = 6 counts workers) ------------------------------
refused() { # refused SQL PATTERN
	q -c "$1" >"$W/refused.out" 2>&1 && return 1
	grep -qF "$2" "$W/refused.out" || { head -3 "$W/refused.out"; return 1; }
}
check "a stream needing more workers than gcimpute.max_streams is refused at create" \
	refused "SELECT gc_stream_create('big', '$BS', 'ec', 'ec', '{\"workers\": 7}')" \
	'stream "big" needs 7 workers, but gcimpute.max_streams is 6'
stop_stream rs
check "... and at alter" refused "SELECT gc_stream_alter('rs', '{\"workers\": 8}')" \
	'stream "rs" needs 8 workers, but gcimpute.max_streams is 6'
bash test/kafka/broker.sh topic idle 8 "$KDIR" >/dev/null
mktable s4
mktable s3
q -c "SELECT gc_stream_create('s4', '$BS', 'idle', 's4', '{$STREAMOPT, \"window\": 1, \"workers\": 4}');
	  SELECT gc_stream_create('s3', '$BS', 'idle', 's3', '{$STREAMOPT, \"window\": 1, \"workers\": 3}');
	  SELECT gc_stream_start('s4')" >/dev/null
four() { [ "$(nworkers s4)" = 4 ]; }
check "slots: a stream of 4 workers runs" wait_for 30 four
q -c "SELECT gc_stream_start('s3')" >/dev/null
sleep 2
check "slots: a stream of 3 more workers waits, none of them started" test -z "$(workers s3)"
check "slots: a WARNING says why" grep -q 'stream "s3" cannot start: all 6 gcimpute stream slots are in use' "$PGD/server2.log"
check "slots: it shows as starting" test "$(q -c "SELECT state FROM gc_stream_status WHERE name = 's3'")" = starting
t0=$(date +%s.%N)
stop_stream s4
dt=$(echo "$(date +%s.%N) - $t0" | bc)
check "stop ends all four workers (${dt} s)" test -z "$(workers s4)"
three() { [ "$(nworkers s3)" = 3 ]; }
check "slots: the waiting stream starts all its workers once slots are free" wait_for 30 three
q -c "SELECT gc_stream_drop('s3')" >/dev/null
check "drop ends all three workers" wait_for 30 no_workers s3
check "no worker crashed (other than the one killed)" bash -c \
	"[ \$(grep -cE 'terminated by signal (11|6|7)' '$PGD/server.log' '$PGD/server2.log' | awk -F: '{s += \$2} END {print s}') = 0 ]"
finish
