#!/usr/bin/env bash
# Stream ingest integration tests: a server with shared_preload_libraries=gcimpute and a real
# single-node Kafka broker (test/kafka/broker.sh). The sensor simulator (test/sim) produces
# readings with dropped fields, split rows, lost messages, duplicates and malformed messages;
# check_stream.py turns what is on the topic into the rows the table must hold, and
# test/stream/compare.py compares the target table with them cell by cell. Then faults:
# kill -9 of the worker mid-stream, pg_ctl stop -m immediate, a broker restart, partitions
# added to a live topic, an idle topic, a dropped target table, out of stream slots,
# DROP EXTENSION and DROP DATABASE with running workers, pg_ctl stop -m fast.
# Ports: GC_STREAM_PORT (PostgreSQL, default GC_REGRESS_PORT+2), KAFKA_PORT (+1).
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
PORT=${GC_STREAM_PORT:-$((${GC_REGRESS_PORT:-54391} + 2))}
BS=127.0.0.1:$KAFKA_PORT
W=$GC_TEST_TMP/stream-suite
KDIR=$W/broker
PGD=$W/pg
rm -rf "$W"
mkdir -p "$W" && chmod 777 "$W"
SIM=test/sim/bin/gc_sensor_sim
KDUMP=test/kafka/bin/kdump
TOOL=$W/kafka_tool
DB=gcstream
pass=0 fail=0
. test/lib.sh
cleanup() {
	pg_stop "$PGD"
	bash test/kafka/broker.sh stop "$KDIR" >/dev/null 2>&1
}
trap cleanup EXIT

# ---- build and start --------------------------------------------------------------------
build_stream_tools "$TOOL"
start_broker "$KDIR"
conf=("shared_preload_libraries = 'gcimpute'" "gcimpute.database = '$DB'" "gcimpute.launcher_naptime = 200"
	"gcimpute.max_streams = 6")
pg_start "$PGD" "$PORT" "${conf[@]}"
QDB=postgres q -c "CREATE DATABASE $DB" && q -c "CREATE EXTENSION gcimpute"
launcher_up() { server_procs | grep -q "gcimpute stream launcher"; }
manager_up() { server_procs | grep -q "gcimpute stream manager"; }
sleep 1
check "launcher and manager run" manager_up

SIMOPT=(--brokers "$BS" --entities 20 --drop 0.15 --split 0.2 --lose 0.05 --dup 0.1 --malformed 0.05
	--delay-scale 0.002 --quiet)
STREAMOPT='"entity_column": "entity", "time_column": "ts", "window": 1, "lateness": 0.5, "max_message_bytes": 65536'

# ---- 1. JSON with every kind of damage, imputed by a model --------------------------------
bash test/kafka/broker.sh topic j1 3 "$KDIR" >/dev/null
$SIM "${SIMOPT[@]}" --topic j1 --count 4000 --seed 7 --start-time 2026-11-22T00:00:00Z \
	--print-truth "$W/j1.truth" >"$W/j1.rep"
mktable j1
q -c "CREATE TEMP TABLE truth (entity text, ts timestamptz, messages int, observed text, temp float8, hum float8,
		pres float8, light float8, co2 float8, noise float8, vib float8, door float8)" \
	-c "\\copy truth FROM '$W/j1.truth' CSV HEADER" \
	-c "INSERT INTO gc_models SELECT 'sensors', gc_fit(ARRAY[temp, hum, pres, light, co2, noise, vib, door]) FROM truth"
q -c "SELECT gc_stream_create('j1', '$BS', 'j1', 'j1', '{$STREAMOPT, \"model\": \"sensors\"}'); SELECT gc_stream_start('j1')" >/dev/null
total=$(val total_sent "$W/j1.rep")
check "json: all $total messages committed" wait_done j1 "$total"
expected_rows j1 json "$W/j1.truth" "$W/j1.rep" "$W/j1.expected"
check "json: the table holds exactly the unique valid rows, observed cells as sent, gaps imputed" \
	table_matches j1 "$W/j1.expected" --imputed
check "json: one dead letter per malformed message ($(val malformed "$W/j1.rep"))" test \
	"$(q -c "SELECT count(*) FROM gc_dead_letters WHERE stream = 'j1'")" = "$(val malformed "$W/j1.rep")"
check "json: dead letters keep payload, error, topic, partition and offset" test \
	"$(q -c "SELECT count(*) FROM gc_dead_letters WHERE stream = 'j1' AND topic = 'j1' AND partition >= 0
			AND \"offset\" >= 0 AND error <> '' AND payload IS NOT NULL")" = "$(val malformed "$W/j1.rep")"
check "json: duplicates counted ($(val duplicates "$W/j1.rep"))" test \
	"$(q -c "SELECT duplicates FROM gc_stream_status WHERE name = 'j1'")" = "$(val duplicates "$W/j1.rep")"
check "json: imputed cells reported" test "$(q -c "SELECT imputed_cells > 0 AND latency_p99_ms >= latency_p50_ms
		FROM gc_stream_status WHERE name = 'j1'")" = t
check "json: raw column keeps NULL where a cell was imputed" test "$(q -c "SELECT count(*) FROM j1, generate_subscripts(imputed, 1) i
		WHERE imputed[i] <> (raw[i] IS NULL)")" = 0
check "json: committed offsets equal the high watermarks (lag 0)" test "$(q -c "SELECT lag FROM gc_stream_status WHERE name = 'j1'")" = 0
# the comparison can fail: hide one row
q -c "CREATE TABLE j1_bad AS SELECT * FROM j1; DELETE FROM j1_bad WHERE ctid = (SELECT min(ctid) FROM j1_bad)"
if table_matches j1_bad "$W/j1.expected" --imputed >/dev/null 2>&1; then
	notok "compare.py detects a missing row"
else
	ok "compare.py detects a missing row"
fi
# A materialized view over the imputed table.
q -c "CREATE MATERIALIZED VIEW j1_hourly AS SELECT entity, avg(temp) AS temp, count(*) AS n,
		sum((SELECT count(*) FROM unnest(imputed) x WHERE x)) AS imputed FROM j1 GROUP BY entity"
check "materialized view over the imputed table" test "$(q -c "SELECT sum(n) FROM j1_hourly")" = "$(q -c "SELECT count(*) FROM j1")"

# The writer's direct path (a plain table takes the rows without COPY) keeps what COPY did.
# Four streams read j1 in append mode: v0 (a unique index, defaults, one of them volatile),
# v1 (as v0 with a CHECK constraint), v2 (no dedup, so the unique index refuses the
# duplicates) and v3 (a BEFORE trigger: that table still goes through COPY).
cutoff=$(q -c "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY temp) FROM j1")
vcols="publisher_id text NOT NULL, data_id bigint, temp float8, hum float8, pres float8, light float8,
	co2 float8, noise float8, vib float8, door float8, src text DEFAULT 'stream'"
q -c "CREATE TABLE v0 ($vcols, written_at timestamptz DEFAULT clock_timestamp(), UNIQUE (publisher_id, data_id));
	  CREATE TABLE v1 ($vcols, CHECK (temp IS NULL OR temp < $cutoff));
	  CREATE TABLE v2 ($vcols, UNIQUE (publisher_id, data_id));
	  CREATE TABLE v3 ($vcols);
	  CREATE FUNCTION v3_src() RETURNS trigger LANGUAGE plpgsql AS \$\$BEGIN NEW.src := 'trigger'; RETURN NEW; END\$\$;
	  CREATE TRIGGER v3_src BEFORE INSERT ON v3 FOR EACH ROW EXECUTE FUNCTION v3_src();
	  SELECT gc_stream_create('v0', '$BS', 'j1', 'v0', '{\"max_message_bytes\": 65536}');
	  SELECT gc_stream_create('v1', '$BS', 'j1', 'v1', '{\"max_message_bytes\": 65536}');
	  SELECT gc_stream_create('v2', '$BS', 'j1', 'v2', '{\"max_message_bytes\": 65536, \"dedup\": false}');
	  SELECT gc_stream_create('v3', '$BS', 'j1', 'v3', '{\"max_message_bytes\": 65536}');
	  SELECT gc_stream_start(s) FROM unnest(ARRAY['v0', 'v1', 'v2', 'v3']) s" >/dev/null
for s in v0 v1 v2 v3; do wait_done $s "$total" 60 >/dev/null; done
vrows=$(q -c "SELECT count(*) FROM v0")
check "direct insert: every valid unique message is a row ($vrows), defaults filled" test \
	"$(q -c "SELECT count(*) = (SELECT messages - duplicates - dead_letters FROM gc_stream_status WHERE name = 'v0')
			 AND count(*) FILTER (WHERE src = 'stream' AND written_at IS NOT NULL) = count(*)
			 FROM v0")" = t
check "direct insert: a CHECK violation is a dead letter, the other rows are written" test \
	"$(q -c "SELECT (SELECT count(*) FROM v1) = (SELECT count(*) FROM v0 WHERE temp IS NULL OR temp < $cutoff)
			 AND (SELECT count(*) FROM v1) > 0
			 AND count(*) = (SELECT count(*) FROM v0 WHERE temp >= $cutoff)
			 AND bool_and((convert_from(payload, 'UTF8')::jsonb->>'temp')::float8 >= $cutoff)
			 FROM gc_dead_letters WHERE stream = 'v1' AND error LIKE '%violates check constraint%'")" = t
check "direct insert: the same rows as through COPY with a trigger (v3), cell for cell" test \
	"$(q -c "SELECT count(*) FROM (SELECT publisher_id, data_id, temp, hum, pres, light, co2, noise, vib, door FROM v0
			 EXCEPT SELECT publisher_id, data_id, temp, hum, pres, light, co2, noise, vib, door FROM v3) x")/$(q -c "SELECT count(*) FILTER (WHERE src = 'trigger') FROM v3")" = "0/$vrows"
check "direct insert: without dedup the unique index refuses each duplicate (a dead letter)" test \
	"$(q -c "SELECT (SELECT count(*) FROM v2) = $vrows
			 AND count(*) = (SELECT duplicates FROM gc_stream_status WHERE name = 'v0') AND count(*) > 0
			 FROM gc_dead_letters WHERE stream = 'v2' AND error LIKE '%duplicate key value violates unique constraint%'")" = t
q -c "SELECT gc_stream_drop(s) FROM unnest(ARRAY['v0', 'v1', 'v2', 'v3']) s" >/dev/null

# The model is refreshed from the stream: a second stream on j1 refits its own model.
mktable r1
q -c "INSERT INTO gc_models SELECT 'r1model', model FROM gc_models WHERE name = 'sensors'"
before=$(q -c "SELECT md5(model::text) FROM gc_models WHERE name = 'r1model'")
q -c "SELECT gc_stream_create('r1', '$BS', 'j1', 'r1', '{$STREAMOPT, \"model\": \"r1model\",
		\"model_refresh\": 1, \"model_window\": 500}'); SELECT gc_stream_start('r1')" >/dev/null
wait_done r1 "$total" 60 >/dev/null
sleep 2.5
check "model refresh: the stream refits its model from the rows it wrote" test \
	"$(q -c "SELECT md5(model::text) <> '$before' AND updated_at > now() - interval '30 s' FROM gc_models WHERE name = 'r1model'")" = t
q -c "SELECT gc_stream_drop('r1')" >/dev/null

# Late updates and the model refresh run kept plans; an ALTER TABLE of the target under the
# running worker must make them replan, not write through a stale plan.
bash test/kafka/broker.sh topic al 1 "$KDIR" >/dev/null
mktable al
q -c "INSERT INTO gc_models SELECT 'almodel', model FROM gc_models WHERE name = 'sensors'"
q -c "SELECT gc_stream_create('al', '$BS', 'al', 'al', '{\"entity_column\": \"entity\", \"time_column\": \"ts\",
		\"window\": 1, \"lateness\": 0, \"flush_interval\": 0.05, \"model\": \"almodel\", \"model_refresh\": 1,
		\"model_window\": 50}'); SELECT gc_stream_start('al')" >/dev/null
al_now=$(date +%s)
al_row() { # entity, seconds before now, data_id, fields
	echo "{\"entity\": \"$1\", \"ts\": $((al_now - $2)), \"publisher_id\": \"p\", \"data_id\": $3, $4}"
}
al_full='"temp": 20, "hum": 40, "pres": 1000, "light": 300, "co2": 500, "noise": 30, "vib": 0.1, "door": 0'
{
	for i in $(seq 0 29); do al_row "e$((i % 3))" $((300 - 2 * i)) "$i" "$al_full"; done
	al_row x 200 100 '"temp": 21'
	al_row y 190 101 '"temp": 22'
	al_row z 100 102 "$al_full"
} | "$TOOL" produce "$BS" al >/dev/null 2>&1
wait_done al 33 60 >/dev/null
al_row x 200 103 '"hum": 41' | "$TOOL" produce "$BS" al >/dev/null 2>&1
wait_done al 34 60 >/dev/null
check "kept plans: a late value updates its written row" test \
	"$(q -c "SELECT hum = 41 AND NOT imputed[2] AND imputed[3] FROM al WHERE entity = 'x'")" = t
q -c "ALTER TABLE al ADD COLUMN note text DEFAULT 'added' NOT NULL; ALTER TABLE al ALTER COLUMN door TYPE numeric"
al_row y 190 104 '"hum": 42' | "$TOOL" produce "$BS" al >/dev/null 2>&1
wait_done al 35 60 >/dev/null
check "kept plans: after ALTER TABLE of the target, a late value updates its row" test \
	"$(q -c "SELECT hum = 42 AND NOT imputed[2] AND imputed[3] AND temp = 22 AND note = 'added' FROM al WHERE entity = 'y'")" = t
check "kept plans: ... no row added, the stream still running" test \
	"$(q -c "SELECT (SELECT count(*) FROM al) || ' ' || state || ' ' || late_updates FROM gc_stream_status WHERE name = 'al'")" = "33 running 2"
al_t0=$(q -c "SELECT updated_at FROM gc_models WHERE name = 'almodel'")
sleep 2.5
check "kept plans: the model refresh runs after the ALTER" test \
	"$(q -c "SELECT updated_at > '$al_t0' FROM gc_models WHERE name = 'almodel'")" = t
q -c "SELECT gc_stream_drop('al')" >/dev/null

# window and lateness "auto": the arrival period (1 s per entity) and a lognormal fit of the
# delays give the same rows
mktable a1
q -c "SELECT gc_stream_create('a1', '$BS', 'j1', 'a1', '{\"entity_column\": \"entity\", \"time_column\": \"ts\",
		\"window\": \"auto\", \"lateness\": \"auto\", \"max_message_bytes\": 65536, \"model\": \"sensors\"}');
	  SELECT gc_stream_start('a1')" >/dev/null
check "auto window and lateness: all messages committed" wait_done a1 "$total" 60
check "auto window and lateness: the same rows as with a fixed window" table_matches a1 "$W/j1.expected" --imputed
check "auto window: 1 s derived from the arrival period" grep -q 'stream "a1": auto window is 1 s' "$PGD/server.log"
check "auto lateness: fitted to the producer delays" grep -qE 'stream "a1": auto lateness [0-9.]+ s \((lognormal|gamma|weibull) fit' "$PGD/server.log"
q -c "SELECT gc_stream_drop('a1')" >/dev/null

# ---- 1b. a temporal model: each row imputed from its entity's earlier rows ----------------
# The same result as gc_impute_series in causal mode over the rows as written. Rows arrive
# in time order here (no delays), so every row is imputed after its predecessors.
bash test/kafka/broker.sh topic t1 1 "$KDIR" >/dev/null
$SIM --brokers "$BS" --entities 5 --quiet --topic t1 --count 1500 --seed 9 --ar 0.9 --drop 0.2 \
	--dropout 0.05 --dropout-rows 3:6 --delay-scale 0 --start-time 2026-11-22T00:00:00Z \
	--print-truth "$W/t1.truth" >"$W/t1.rep"
mktable t1
q -c "CREATE TABLE truth_t (entity text, ts timestamptz, messages int, observed text, temp float8, hum float8,
		pres float8, light float8, co2 float8, noise float8, vib float8, door float8)" \
	-c "\\copy truth_t FROM '$W/t1.truth' CSV HEADER" \
	-c "INSERT INTO gc_models SELECT 'sensors_t', gc_fit_series(entity, ts,
		ARRAY[temp, hum, pres, light, co2, noise, vib, door], '{\"lags\": 2}' ORDER BY ts) FROM truth_t" \
	-c "INSERT INTO gc_models SELECT 'sensors_tp', gc_fit(ARRAY[temp, hum, pres, light, co2, noise, vib, door]) FROM truth_t"
q -c "SELECT gc_stream_create('t1', '$BS', 't1', 't1', '{$STREAMOPT, \"model\": \"sensors_t\"}'); SELECT gc_stream_start('t1')" >/dev/null
check "temporal: all $(val total_sent "$W/t1.rep") messages committed" wait_done t1 "$(val total_sent "$W/t1.rep")"
check "temporal: imputed cells equal gc_impute_series causal over the written rows" test "$(q -c "
	WITH s AS (SELECT raw, ARRAY[temp, hum, pres, light, co2, noise, vib, door] AS v,
			gc_impute_series(m.model, ts, raw, '{\"mode\": \"causal\"}') OVER (PARTITION BY entity ORDER BY ts) AS c
		FROM t1, gc_models m WHERE m.name = 'sensors_t')
	SELECT count(*) > 100 AND count(*) FILTER (WHERE abs(v[i] - c[i]) > 1e-9 * (1 + abs(c[i]))) = 0
	FROM s, generate_subscripts(raw, 1) i WHERE raw[i] IS NULL")" = t
check "temporal: better than the plain copula on the same rows" test "$(q -c "
	SELECT avg(abs((ARRAY[r.temp, r.hum, r.pres])[i] - (ARRAY[t.temp, t.hum, t.pres])[i]))
		< 0.9 * avg(abs((gc_impute(m.model, r.raw))[i] - (ARRAY[t.temp, t.hum, t.pres])[i]))
	FROM t1 r JOIN truth_t t USING (entity, ts), gc_models m, generate_series(1, 3) i
	WHERE m.name = 'sensors_tp' AND r.raw[i] IS NULL")" = t
# a restart: the history comes back from the target's raw column, so the rows after it are
# still imputed from the rows before it
q -c "SELECT gc_stream_stop('t1')" >/dev/null
for i in $(seq 1 50); do [ -z "$(workers t1)" ] && break; sleep 0.2; done
$SIM --brokers "$BS" --entities 5 --quiet --topic t1 --count 500 --seed 10 --ar 0.9 --drop 0.3 \
	--delay-scale 0 --data-id-base 100000 --start-time 2026-11-22T00:05:00Z >"$W/t1b.rep"
# with an index on (entity, ts) the refill skips from entity to entity and reads only each
# one's last rows: the table's sequential-scan counter does not grow by its size
q -c "CREATE INDEX t1_entity_ts ON t1 (entity, ts)"
seq0=$(q -c "SELECT pg_catalog.pg_stat_force_next_flush(); SELECT seq_tup_read FROM pg_stat_user_tables WHERE relname = 't1'" | tail -1)
q -c "SELECT gc_stream_start('t1')" >/dev/null
check "temporal: restarted, all messages committed" wait_done t1 "$(($(val total_sent "$W/t1.rep") + $(val total_sent "$W/t1b.rep")))"
check "temporal: the first start refilled the history by reading the whole target" \
	grep -q 'stream "t1": temporal history refilled with 0 rows, by reading the whole target' "$PGD/server.log"
check "temporal: the restart refilled it by the (entity, ts) index" \
	grep -qE 'stream "t1": temporal history refilled with [1-9][0-9]* rows, by an index' "$PGD/server.log"
sleep 1.5
check "temporal: the indexed refill did not read the table sequentially" test "$(q -c "
	SELECT seq_tup_read - $seq0 < 100 FROM pg_stat_user_tables WHERE relname = 't1'")" = t
check "temporal: after the restart still equal to gc_impute_series causal" test "$(q -c "
	WITH s AS (SELECT ts, raw, ARRAY[temp, hum, pres, light, co2, noise, vib, door] AS v,
			gc_impute_series(m.model, ts, raw, '{\"mode\": \"causal\"}') OVER (PARTITION BY entity ORDER BY ts) AS c
		FROM t1, gc_models m WHERE m.name = 'sensors_t')
	SELECT count(*) > 300 AND count(*) FILTER (WHERE abs(v[i] - c[i]) > 1e-9 * (1 + abs(c[i]))) = 0
	FROM s, generate_subscripts(raw, 1) i WHERE raw[i] IS NULL AND ts >= '2026-11-22 00:05:00+00'")" = t
# Out of order and late: rows and parts of rows delayed past the lateness. A row written
# after later rows of its entity, or completed by a late message, makes the stream impute
# those later rows (within the span) again: at the end every row is what gc_impute_series
# causal gives over the final table. With "refine_previous" the earlier rows within the span
# are imputed again as later ones arrive: at the end, gc_impute_series smooth.
bash test/kafka/broker.sh topic t4 1 "$KDIR" >/dev/null
T4SIM=(--brokers "$BS" --entities 5 --quiet --topic t4 --ar 0.9 --drop 0.25 --split 0.4
	--delay-scale 1 --delay-max 3)
$SIM "${T4SIM[@]}" --count 1200 --seed 12 --start-time 2026-11-23T00:00:00Z >"$W/t4.rep"
mktable t4c
mktable t4s
q -c "SELECT gc_stream_create('t4c', '$BS', 't4', 't4c', '{$STREAMOPT, \"model\": \"sensors_t\"}');
	SELECT gc_stream_create('t4s', '$BS', 't4', 't4s', '{$STREAMOPT, \"model\": \"sensors_t\", \"refine_previous\": true}');
	SELECT gc_stream_start('t4c'); SELECT gc_stream_start('t4s')" >/dev/null
t4total=$(val total_sent "$W/t4.rep")
check "out of order: all $t4total messages committed (causal)" wait_done t4c "$t4total"
check "out of order: all $t4total messages committed (refine_previous)" wait_done t4s "$t4total"
# mode: the stream's table against gc_impute_series over its own received cells
series_equal() {
	q -c "WITH s AS (SELECT raw, imputed, ARRAY[temp, hum, pres, light, co2, noise, vib, door] AS v,
			gc_impute_series(m.model, ts, raw, '{\"mode\": \"$2\"}') OVER (PARTITION BY entity ORDER BY ts) AS c
		FROM $1, gc_models m WHERE m.name = 'sensors_t')
	SELECT count(*) FILTER (WHERE raw[i] IS NULL) > 200
		AND count(*) FILTER (WHERE raw[i] IS NULL AND abs(v[i] - c[i]) > 1e-9 * (1 + abs(c[i]))) = 0
		AND count(*) FILTER (WHERE raw[i] IS NOT NULL AND v[i] IS DISTINCT FROM raw[i]) = 0
		AND count(*) FILTER (WHERE imputed[i] IS DISTINCT FROM (raw[i] IS NULL)) = 0
	FROM s, generate_subscripts(raw, 1) i"
}
check "out of order: every row equals gc_impute_series causal over the final table" test "$(series_equal t4c causal)" = t
check "refine_previous: every row equals gc_impute_series smooth over the final table" test "$(series_equal t4s smooth)" = t
# a late message completing a written row: the rows after it (and with refine_previous
# before it) are imputed again from the completed row
late=$(q -c "SELECT entity || ' ' || to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM t4c
	WHERE raw[1] IS NULL AND entity = 's2' ORDER BY ts LIMIT 1 OFFSET 5")
echo "{\"publisher_id\":\"${late% *}\",\"data_id\":900001,\"entity\":\"${late% *}\",\"ts\":\"${late#* }\",\"temp\":21.5}" |
	"$TOOL" produce "$BS" t4 2>/dev/null
check "late completion: committed" wait_done t4c "$((t4total + 1))"
check "late completion: committed (refine_previous)" wait_done t4s "$((t4total + 1))"
check "late completion: the row was completed in place" test "$(q -c "
	SELECT count(*) = 1 AND bool_and(raw[1] = 21.5 AND temp = 21.5 AND NOT imputed[1]) FROM t4c
	WHERE entity = '${late% *}' AND ts = '${late#* }'")/$(q -c "SELECT late_updates > 0 FROM gc_stream_status WHERE name = 't4c'")" = t/t
check "late completion: the later rows follow gc_impute_series causal" test "$(series_equal t4c causal)" = t
check "late completion: refine_previous still gc_impute_series smooth" test "$(series_equal t4s smooth)" = t
check "refine_previous: the refined rows differ from the causal ones" test "$(q -c "
	SELECT count(*) > 100 FROM t4c c JOIN t4s s USING (entity, ts), generate_subscripts(c.raw, 1) i
	WHERE c.raw[i] IS NULL AND abs((ARRAY[c.temp, c.hum, c.pres, c.light, c.co2, c.noise, c.vib, c.door])[i]
		- (ARRAY[s.temp, s.hum, s.pres, s.light, s.co2, s.noise, s.vib, s.door])[i]) > 1e-6")" = t
# a restart in between: the rows written before it are refined from the target, once each
q -c "SELECT gc_stream_stop('t4s')" >/dev/null
for i in $(seq 1 50); do [ -z "$(workers t4s)" ] && break; sleep 0.2; done
$SIM "${T4SIM[@]}" --count 400 --seed 13 --data-id-base 100000 --start-time 2026-11-23T00:04:00Z >"$W/t4b.rep"
q -c "SELECT gc_stream_start('t4s')" >/dev/null
check "refine_previous: restarted, all messages committed" wait_done t4s "$((t4total + 1 + $(val total_sent "$W/t4b.rep")))"
check "refine_previous: after the restart still gc_impute_series smooth" test "$(series_equal t4s smooth)" = t
check "refine_previous: one row per entity and time" test "$(q -c "
	SELECT count(*) = count(DISTINCT (entity, ts)) FROM t4s")" = t
q -c "SELECT gc_stream_drop('t4c'); SELECT gc_stream_drop('t4s')" >/dev/null 2>&1
# model_refresh refits a temporal model as temporal (with its lags and step)
q -c "SELECT gc_stream_drop('t1')" >/dev/null 2>&1
mktable t3
q -c "INSERT INTO gc_models SELECT 'sensors_t3', model FROM gc_models WHERE name = 'sensors_t';
	SELECT gc_stream_create('t3', '$BS', 't1', 't3', '{$STREAMOPT, \"model\": \"sensors_t3\",
		\"model_refresh\": 2, \"model_window\": 1000}'); SELECT gc_stream_start('t3')" >/dev/null
for i in $(seq 1 100); do [ "$(q -c "SELECT (gc_model_info(model) ->> 'rows')::int FROM gc_models WHERE name = 'sensors_t3'")" = 1000 ] && break; sleep 0.2; done
check "temporal: model_refresh refits it as a temporal model with its lags" test "$(q -c "SELECT gc_model_info(model) ->> 'lags' = '2'
	AND (gc_model_info(model) ->> 'rows')::int = 1000 FROM gc_models WHERE name = 'sensors_t3'")" = t
q -c "SELECT gc_stream_drop('t3')" >/dev/null 2>&1
mktable t2
q -c "SELECT gc_stream_create('t2', '$BS', 't1', 't2', '{\"model\": \"sensors_t\"}'); SELECT gc_stream_start('t2')" >/dev/null
for i in $(seq 1 75); do [ "$(q -c "SELECT state FROM gc_stream_status WHERE name = 't2'")" = error ] && break; sleep 0.2; done
check "temporal model without entity and time columns: a clear error" test \
	"$(q -c "SELECT last_error FROM gc_stream_status WHERE name = 't2'" | grep -c 'is temporal but stream')" = 1
q -c "SELECT gc_stream_drop('t2'); DROP TABLE truth_t" >/dev/null 2>&1

# ---- 2. CSV, no model: missing cells stay NULL -------------------------------------------
bash test/kafka/broker.sh topic c1 2 "$KDIR" >/dev/null
$SIM "${SIMOPT[@]}" --topic c1 --format csv --count 2000 --seed 8 --start-time 2026-11-22T01:00:00Z \
	--print-truth "$W/c1.truth" >"$W/c1.rep"
mktable c1
q -c "SELECT gc_stream_create('c1', '$BS', 'c1', 'c1', '{$STREAMOPT, \"format\": \"csv\",
		\"csv_fields\": [\"publisher_id\", \"data_id\", \"entity\", \"ts\", \"temp\", \"hum\", \"pres\", \"light\", \"co2\", \"noise\", \"vib\", \"door\"]}');
	  SELECT gc_stream_start('c1')" >/dev/null
check "csv: all messages committed" wait_done c1 "$(val total_sent "$W/c1.rep")"
expected_rows c1 csv "$W/c1.truth" "$W/c1.rep" "$W/c1.expected"
check "csv: the table holds exactly the unique valid rows" table_matches c1 "$W/c1.expected"
check "csv: one dead letter per malformed message" test \
	"$(q -c "SELECT count(*) FROM gc_dead_letters WHERE stream = 'c1'")" = "$(val malformed "$W/c1.rep")"

# ---- 3. crashes and restarts mid-stream: nothing lost, nothing twice ---------------------
# A real-time simulator feeds k1 for 6 s; during that the worker is killed with -9 (the
# postmaster then restarts every process), and the server is stopped -m immediate.
bash test/kafka/broker.sh topic k1 2 "$KDIR" >/dev/null
mktable k1
q -c "SELECT gc_stream_create('k1', '$BS', 'k1', 'k1', '{\"entity_column\": \"entity\", \"time_column\": \"ts\",
		\"window\": 0.05, \"lateness\": 0.1, \"max_message_bytes\": 65536, \"model\": \"sensors\"}'); SELECT gc_stream_start('k1')" >/dev/null
# 100 entities at 1000 rows/s: one reading per entity every 0.1 s, windows of 0.05 s
$SIM "${SIMOPT[@]}" --entities 100 --topic k1 --rate 1000 --duration 6 --seed 9 --delay-max 1 \
	--print-truth "$W/k1.truth" >"$W/k1.rep" &
spid=$!
sleep 2
wpid=$(workers k1)
if [ -n "$wpid" ] && kill -9 "$wpid"; then ok "kill -9 of the k1 worker mid-stream (pid $wpid)"; else notok "kill -9 of the k1 worker"; fi
sleep 2
for i in $(seq 1 50); do pg_isready -q -h "$PGD" -p "$PORT" 2>/dev/null && break; sleep 0.2; done
as_pg "$PG_BINDIR/pg_ctl" -D "$PGD/data" -m immediate -w stop >/dev/null 2>&1
sleep 1
as_pg "$PG_BINDIR/pg_ctl" -D "$PGD/data" -l "$PGD/server2.log" -w start >/dev/null
ok "pg_ctl stop -m immediate mid-stream, then start"
wait $spid
check "crash: the simulator delivered everything" test "$(val failed "$W/k1.rep")" = 0
check "crash: every stream resumed and committed all messages" wait_done k1 "$(val total_sent "$W/k1.rep")" 90
expected_rows k1 json "$W/k1.truth" "$W/k1.rep" "$W/k1.expected"
check "crash: exactly the unique valid rows, none lost, none written twice" table_matches k1 "$W/k1.expected" --imputed
check "crash: dead letters not duplicated by the replay" test \
	"$(q -c "SELECT count(*) FROM gc_dead_letters WHERE stream = 'k1'")" = "$(val malformed "$W/k1.rep")"
check "crash: the other streams are untouched" table_matches j1 "$W/j1.expected" --imputed

# ---- 4. broker restart -----------------------------------------------------------------
bash test/kafka/broker.sh topic b1 2 "$KDIR" >/dev/null
mktable b1
q -c "SELECT gc_stream_create('b1', '$BS', 'b1', 'b1', '{$STREAMOPT}'); SELECT gc_stream_start('b1')" >/dev/null
$SIM "${SIMOPT[@]}" --topic b1 --count 1000 --seed 10 --start-time 2026-11-22T02:00:00Z --print-truth "$W/b1a.truth" >"$W/b1a.rep"
t1=$(val total_sent "$W/b1a.rep")
wait_done b1 "$t1" 60 >/dev/null
bash test/kafka/broker.sh stop "$KDIR" >/dev/null 2>&1
sleep 3
check "broker down: the worker keeps running" test -n "$(workers b1)"
bash test/kafka/broker.sh start "$KDIR" >/dev/null 2>&1
$SIM "${SIMOPT[@]}" --topic b1 --count 1000 --seed 10 --first-entity 21 --start-time 2026-11-22T02:00:00Z \
	--print-truth "$W/b1b.truth" >"$W/b1b.rep"
t2=$(val total_sent "$W/b1b.rep")
check "broker restart: the stream reconnects and commits everything" wait_done b1 "$((t1 + t2))" 90
{ cat "$W/b1a.truth"; tail -n +2 "$W/b1b.truth"; } >"$W/b1.truth"
"$PY" test/stream/sum_reports.py "$W/b1a.rep" "$W/b1b.rep" >"$W/b1.rep"
expected_rows b1 json "$W/b1.truth" "$W/b1.rep" "$W/b1.expected"
check "broker restart: exactly the unique valid rows" table_matches b1 "$W/b1.expected"

# ---- 5. partitions added to a live topic; two streams on one topic -----------------------
bash test/kafka/broker.sh topic p1 1 "$KDIR" >/dev/null
mktable p1
mktable p1b
q -c "SELECT gc_stream_create('p1', '$BS', 'p1', 'p1', '{$STREAMOPT}'); SELECT gc_stream_start('p1');
	  SELECT gc_stream_create('p1b', '$BS', 'p1', 'p1b', '{$STREAMOPT}'); SELECT gc_stream_start('p1b')" >/dev/null
$SIM "${SIMOPT[@]}" --topic p1 --count 600 --seed 11 --start-time 2026-11-22T03:00:00Z --print-truth "$W/p1a.truth" >"$W/p1a.rep"
"$TOOL" partitions "$BS" p1 3 2>/dev/null
$SIM "${SIMOPT[@]}" --topic p1 --count 600 --seed 11 --first-entity 21 --start-time 2026-11-22T03:00:00Z \
	--print-truth "$W/p1b.truth" >"$W/p1b.rep"
pt=$(($(val total_sent "$W/p1a.rep") + $(val total_sent "$W/p1b.rep")))
check "new partitions are picked up (3 partitions, $pt messages)" wait_done p1 "$pt" 60
check "two streams on one topic each get every message" wait_done p1b "$pt" 30
check "new partitions: all three partitions have committed offsets" test \
	"$(q -c "SELECT array_length(committed_offsets, 1) FROM gc_stream_status WHERE name = 'p1'")" = 3
check "two streams on one topic hold the same rows" test \
	"$(q -c "SELECT count(*) FROM (SELECT entity, ts, temp FROM p1 EXCEPT SELECT entity, ts, temp FROM p1b) x")" = 0

# ---- 6. idle topic -----------------------------------------------------------------------
q -c "SELECT gc_stream_drop('p1b')" >/dev/null
bash test/kafka/broker.sh topic idle 2 "$KDIR" >/dev/null
mktable idle
q -c "SELECT gc_stream_create('idle', '$BS', 'idle', 'idle', '{$STREAMOPT}'); SELECT gc_stream_start('idle')" >/dev/null
sleep 3
ipid=$(workers idle)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
if [ -n "$ipid" ]; then
	c0=$(cpu "$ipid")
	sleep 5
	c1=$(cpu "$ipid")
	check "idle topic: the worker sleeps ($((c1 - c0)) ticks of CPU in 5 s)" test $((c1 - c0)) -lt 50
else
	notok "idle topic: worker running"
fi
check "idle topic: state running" test "$(q -c "SELECT state FROM gc_stream_status WHERE name = 'idle'")" = running

# ---- 7. out of stream slots (gcimpute.max_streams = 6; j1 c1 k1 b1 p1 idle run) ------------
mktable extra
q -c "SELECT gc_stream_create('extra', '$BS', 'idle', 'extra', '{$STREAMOPT}'); SELECT gc_stream_start('extra')" >/dev/null
sleep 2
check "out of slots: a clear WARNING in the log" grep -q 'stream "extra" cannot start: all 6 gcimpute stream slots are in use' "$PGD/server2.log"
check "out of slots: the 7th stream does not run" test -z "$(workers extra)"
check "out of slots: it shows as starting" test "$(q -c "SELECT state FROM gc_stream_status WHERE name = 'extra'")" = starting

# ---- 8. stop frees the slot --------------------------------------------------------------
q -c "SELECT gc_stream_stop('idle')" >/dev/null
sleep 3
check "gc_stream_stop ends the worker" test -z "$(workers idle)"
check "a stopped stream shows stopped" test "$(q -c "SELECT state FROM gc_stream_status WHERE name = 'idle'")" = stopped
check "a freed slot is used by the waiting stream" test -n "$(workers extra)"

# ---- 9. dropped target table ---------------------------------------------------------------
q -c "DROP TABLE b1"
$SIM "${SIMOPT[@]}" --topic b1 --count 100 --seed 12 --first-entity 41 >/dev/null
for i in $(seq 1 50); do [ "$(q -c "SELECT state FROM gc_stream_status WHERE name = 'b1'")" = error ] && break; sleep 0.2; done
check "dropped target: the stream is in the error state with last_error" test \
	"$(q -c "SELECT state || ': ' || last_error FROM gc_stream_status WHERE name = 'b1'" | grep -c 'error: .*no longer exists')" = 1
sleep 1
check "dropped target: the worker exited and is not restarted" test -z "$(workers b1)"

# ---- 10. hot standby: nothing starts --------------------------------------------------------
SB=$W/standby
SPORT=$((PORT + 1))
mkdir -p "$SB" && chown "$PGUSER_OS" "$SB"
if as_pg "$PG_BINDIR/pg_basebackup" -h "$PGD" -p "$PORT" -U postgres -D "$SB/data" -R -X stream >/dev/null 2>&1; then
	sed -i -e "s/^port = .*/port = $SPORT/" -e "s|^unix_socket_directories = .*|unix_socket_directories = '$SB'|" "$SB/data/postgresql.conf"
	as_pg "$PG_BINDIR/pg_ctl" -D "$SB/data" -l "$SB/server.log" -w start >/dev/null
	sleep 3
	spid=$(head -1 "$SB/data/postmaster.pid")
	check "hot standby: in recovery, no gcimpute launcher, manager or worker" bash -c \
		"[ \"\$('$PG_BINDIR/psql' -h '$SB' -p $SPORT -U postgres -d $DB -XAtc 'SELECT pg_is_in_recovery()')\" = t ] &&
		 ! ps -o args= --ppid $spid | grep -q gcimpute"
	as_pg "$PG_BINDIR/pg_ctl" -D "$SB/data" -m fast -w stop >/dev/null
else
	notok "hot standby: pg_basebackup"
fi

# ---- 11. DROP EXTENSION, DROP DATABASE, stop -m fast -----------------------------------
QDB=postgres q -c "CREATE DATABASE gcother"
QDB=gcother q -c "CREATE EXTENSION gcimpute"
t0=$(date +%s.%N)
q -c "DROP EXTENSION gcimpute CASCADE" 2>/dev/null
dt=$(echo "$(date +%s.%N) - $t0" | bc)
check "DROP EXTENSION with running workers is not blocked (${dt} s)" test "$(echo "$dt < 10" | bc)" = 1
for i in $(seq 1 25); do [ -z "$(workers j1)$(workers k1)" ] && break; sleep 0.2; done
check "DROP EXTENSION: the workers exit" test -z "$(workers j1)$(workers k1)"
q -c "CREATE EXTENSION gcimpute; CREATE TABLE d1 (entity text, ts timestamptz, temp float8)"
q -c "SELECT gc_stream_create('d1', '$BS', 'j1', 'd1', '{\"entity_column\": \"entity\", \"time_column\": \"ts\", \"window\": 1}');
	  SELECT gc_stream_start('d1')" >/dev/null
sleep 2
check "a stream runs in the database before it is dropped" test -n "$(workers d1)"
t0=$(date +%s.%N)
QDB=postgres q -c "DROP DATABASE $DB WITH (FORCE)"
rc=$?
dt=$(echo "$(date +%s.%N) - $t0" | bc)
check "DROP DATABASE with running workers completes (rc $rc, ${dt} s)" test "$rc" = 0 -a "$(echo "$dt < 15" | bc)" = 1
sleep 2
after_drop_db() {
	[ -z "$(workers d1)" ] && launcher_up && [ "$(grep -c "database \"$DB\" does not exist" "$PGD/server2.log")" -le 1 ]
}
check "DROP DATABASE: no worker left, launcher still up, no restart loop" after_drop_db
t0=$(date +%s.%N)
as_pg "$PG_BINDIR/pg_ctl" -D "$PGD/data" -m fast -w -t 30 stop >/dev/null
dt=$(echo "$(date +%s.%N) - $t0" | bc)
check "pg_ctl stop -m fast is prompt (${dt} s)" test "$(echo "$dt < 10" | bc)" = 1
check "no worker crashed during the suite" bash -c "! grep -qE 'terminated by signal (11|6|7)' '$PGD/server.log' '$PGD/server2.log'"
finish
