#!/usr/bin/env bash
# The main job, live, on a fresh machine: install what is needed, build gcimpute, start a
# real Apache Kafka broker (KRaft, jars from Maven Central) and a throwaway PostgreSQL with
# the ingest worker, fit a copula on sensor history, then stream readings from 20 simulated
# sensors — whose readings move smoothly in time (AR(1)), with dropped fields, sensor
# dropouts, split and lost messages, duplicates, malformed messages and lognormal delivery
# delays — and watch rows arrive, complete, exactly once, gaps imputed; at the end the
# accuracy of the imputation next to carrying the last value forward.
#
#   bash test/demo.sh           (bash test/demo_gss.sh: the offline demo on survey data)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash test/setup.sh
export PG_CONFIG=${PG_CONFIG:-pg_config}
. test/pg.sh
gc_build "$top"
make -s -C test/sim >/dev/null

dir=${GC_DEMO_DIR:-/tmp/gcimpute-demo}
port=${GC_DEMO_PORT:-54399}
export KAFKA_PORT=${GC_DEMO_KAFKA_PORT:-19292}
export KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1))
bs=127.0.0.1:$KAFKA_PORT
rm -rf "$dir"
mkdir -p "$dir" && chmod 777 "$dir"
cleanup() {
	pg_stop "$dir/pg"
	bash test/kafka/broker.sh stop "$dir/kafka" >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== starting a Kafka broker (KRaft) on $bs"
bash test/kafka/broker.sh start "$dir/kafka" >"$dir/broker.log" 2>&1 || { tail -20 "$dir/broker.log"; exit 1; }
bash test/kafka/broker.sh topic sensors 2 "$dir/kafka" >/dev/null
echo "== starting PostgreSQL with shared_preload_libraries = gcimpute"
pg_start "$dir/pg" "$port" "shared_preload_libraries = 'gcimpute'" "gcimpute.database = 'demo'" \
	"gcimpute.launcher_naptime = 200"
psql_() { as_pg psql -X -q -h "$dir/pg" -p "$port" -U postgres -d demo -v ON_ERROR_STOP=1 "$@"; }
as_pg psql -X -q -h "$dir/pg" -p "$port" -U postgres -d postgres -c "CREATE DATABASE demo"

# a day of complete history from the same sensors (same correlation) to fit the model on
sim=test/sim/bin/gc_sensor_sim
$sim --dry-run --quiet --entities 20 --count 4000 --seed 11 --drop 0 --ar 0.9 --start-time 2026-11-21T00:00:00Z \
	--print-truth "$dir/history.csv" --print-sigma "$dir/sigma.csv" >/dev/null
tail -n +2 "$dir/sigma.csv" >"$dir/corr.csv"	# the correlation without its header row
chmod 644 "$dir"/*.csv

psql_ <<SQL
CREATE EXTENSION gcimpute;
CREATE TABLE history (entity text, ts timestamptz, messages int, observed text, temp float8, hum float8,
  pres float8, light float8, co2 float8, noise float8, vib float8, door float8);
\copy history FROM '$dir/history.csv' CSV HEADER
INSERT INTO gc_models SELECT 'sensors', gc_fit(ARRAY[temp, hum, pres, light, co2, noise, vib, door]) FROM history;
-- the same sensors as series in time: each reading with its two predecessors (docs/temporal.md)
INSERT INTO gc_models SELECT 'sensors in time',
  gc_fit_series(entity, ts, ARRAY[temp, hum, pres, light, co2, noise, vib, door], '{"lags": 2}' ORDER BY ts) FROM history;

CREATE TABLE readings (entity text, ts timestamptz,
  temp float8, hum float8, pres float8, light float8, co2 float8, noise float8, vib float8, door float8,
  imputed bool[], raw float8[]);
SELECT gc_stream_create('sensors', '$bs', 'sensors', 'readings',
  '{"entity_column": "entity", "time_column": "ts", "window": 1, "lateness": "auto", "model": "sensors"}');
SELECT gc_stream_start('sensors');
\echo
\echo '== model fitted on 4000 rows of history:'
SELECT gc_model_info(model) -> 'types' AS types FROM gc_models WHERE name = 'sensors';
SQL

echo
echo "== 20 sensors publish one reading per second each for 15 s: 20% of fields dropped,"
echo "   sensors out for 3-8 s now and then, 20% of rows split over several messages,"
echo "   2% of messages lost, 5% sent twice, 2% malformed, lognormal delays"
$sim --brokers "$bs" --topic sensors --quiet --entities 20 --rate 20 --duration 15 --seed 12 \
	--corr "file:$dir/corr.csv" --ar 0.9 --drop 0.2 --dropout 0.03 --dropout-rows 3:8 \
	--split 0.2 --lose 0.02 --dup 0.05 --malformed 0.02 \
	--delay-scale 0.05 --delay-max 5 --print-truth "$dir/live.csv" >"$dir/sim.report" &
simpid=$!
for t in 3 6 9 12 15; do
	sleep 3
	psql_ -c "SELECT '${t}s' AS at, state, (SELECT count(*) FROM readings) AS rows_written, duplicates,
	                 dead_letters, imputed_cells, pending_rows, round(latency_p50_ms) AS p50_ms, round(latency_p99_ms) AS p99_ms
	          FROM gc_stream_status WHERE name = 'sensors'"
done
wait "$simpid"
chmod 644 "$dir/live.csv"
sleep 8		# the allowed lateness of the last windows

psql_ <<SQL
\echo '== the latest rows: * marks an imputed cell (the raw column keeps what arrived)'
SELECT entity, to_char(ts, 'HH24:MI:SS') AS ts,
       (SELECT string_agg(round(v::numeric, 1) || CASE WHEN imputed[i] THEN '*' ELSE '' END, '  ' ORDER BY i)
        FROM unnest(ARRAY[temp, hum, pres, light, co2, noise, vib, door]) WITH ORDINALITY AS u(v, i)) AS "temp hum pres light co2 noise vib door"
FROM readings WHERE true = ANY (imputed) ORDER BY ts DESC, entity LIMIT 8;

\echo '== stream status'
SELECT name, state, lag, duplicates, dead_letters, imputed_cells, round(latency_p50_ms) AS p50_ms, round(latency_p99_ms) AS p99_ms FROM gc_stream_status;
\echo '== dead letters (malformed messages), never stalling the partition'
SELECT partition, "offset", left(error, 60) AS error FROM gc_dead_letters ORDER BY "offset" LIMIT 5;

\echo '== accuracy of the imputed cells against the simulator''s true values (SMAE: below 1 beats the median)'
CREATE TEMP TABLE truth (entity text, ts timestamptz, messages int, observed text, temp float8, hum float8,
  pres float8, light float8, co2 float8, noise float8, vib float8, door float8);
\copy truth FROM '$dir/live.csv' CSV HEADER
CREATE TEMP TABLE compared AS
SELECT r.entity, r.ts, r.raw,
       ARRAY[t.temp, t.hum, t.pres, t.light, t.co2, t.noise, t.vib, t.door] AS truth,
       ARRAY[r.temp, r.hum, r.pres, r.light, r.co2, r.noise, r.vib, r.door] AS stream,
       -- carry the last value received from the sensor forward
       (SELECT array_agg(COALESCE((SELECT v FROM unnest(hist.col) WITH ORDINALITY u(v, k)
                                   WHERE v IS NOT NULL ORDER BY k DESC LIMIT 1),
                                  (ARRAY[r.temp, r.hum, r.pres, r.light, r.co2, r.noise, r.vib, r.door])[j])
                         ORDER BY j)
        FROM generate_series(1, 8) j,
             LATERAL (SELECT array_agg(p.raw[j] ORDER BY p.ts) AS col FROM readings p
                      WHERE p.entity = r.entity AND p.ts <= r.ts) hist) AS locf,
       gc_impute_series(m.model, r.ts, r.raw, '{"mode": "causal"}')
         OVER (PARTITION BY r.entity ORDER BY r.ts) AS temporal
FROM readings r JOIN truth t USING (entity, ts), gc_models m WHERE m.name = 'sensors in time';
SELECT count(*) AS rows_compared,
       round((SELECT avg(v) FROM unnest(gc_smae(locf, truth, raw)) v)::numeric, 3) AS carry_forward,
       round((SELECT avg(v) FROM unnest(gc_smae(stream, truth, raw)) v)::numeric, 3) AS stream_copula,
       round((SELECT avg(v) FROM unnest(gc_smae(temporal, truth, raw)) v)::numeric, 3) AS temporal_causal
FROM compared;
SQL
echo
grep -E "^(total_sent|rows|duplicates|malformed|lost)=" "$dir/sim.report" | tr '\n' ' '; echo
