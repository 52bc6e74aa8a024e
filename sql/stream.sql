-- Stream SQL API: validation errors and catalog behaviour (no broker and no
-- shared_preload_libraries needed: streams are defined and stored, workers do not run).
SET client_min_messages = warning;
\set SHOW_CONTEXT never
CREATE TABLE st_target (entity text, ts timestamptz, a float8, b float8, n int,
						note text, imputed bool[], raw float8[], kpart int, koff bigint);
CREATE TABLE st_notnum (entity text, note text);

-- a valid stream, and what is stored
SELECT gc_stream_create('st1', '127.0.0.1:9092', 'sensors', 'st_target',
	'{"entity_column": "entity", "time_column": "ts", "window": 1, "lateness": 0.5,
	  "partition_column": "kpart", "offset_column": "koff", "batch_size": 500}') > 0 AS created;
SELECT name, brokers, topic, target, enabled, options->>'format' AS format,
	   options->>'imputed_column' AS imputed, options->>'raw_column' AS raw,
	   options->'window' AS win, options->'batch_size' AS batch
FROM gc_streams;
SELECT p->>'column' AS col, p->>'role' AS role, p->>'field' AS field
FROM gc_stream_plan('st_target', (SELECT options FROM gc_streams WHERE name = 'st1')) o,
	 jsonb_array_elements(o->'plan') p;
SELECT name, state, partitions, lag, last_error FROM gc_stream_status;

-- duplicate name
SELECT gc_stream_create('st1', '127.0.0.1:9092', 'sensors', 'st_target');
-- bad names, brokers, topics, targets
SELECT gc_stream_create('bad name', '127.0.0.1:9092', 'sensors', 'st_target');
SELECT gc_stream_create('st2', '', 'sensors', 'st_target');
SELECT gc_stream_create('st2', 'h1:9092, h2:9092', 'sensors', 'st_target');
SELECT gc_stream_create('st2', '127.0.0.1:9092', 'bad/topic', 'st_target');
SELECT gc_stream_create('st2', '127.0.0.1:9092', 'sensors', 'st_notnum');
SELECT gc_stream_create('st2', '127.0.0.1:9092', 'sensors', 'pg_class_oid_index');
SELECT gc_stream_create('st2', '127.0.0.1:9092', 'sensors', NULL);
-- unknown option, listing the valid ones
SELECT gc_stream_create('st2', '127.0.0.1:9092', 'sensors', 'st_target', '{"formt": "json"}');
SELECT gc_stream_create('st2', '127.0.0.1:9092', 'sensors', 'st_target', '[]');
-- bad values
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"format": "avro"}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"batch_size": 0}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"batch_size": 10.5}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"flush_interval": "fast"}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"window": 0}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"lateness": "soon"}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"start": "middle"}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"start": -5}');
-- partitions: the stream's share of the topic, normalized; bad shares refused
SELECT gc_stream_opt_partitions('[4, 0, 2]') AS list, gc_stream_opt_partitions('{"remainder": 1, "modulus": 3}') AS modulus,
       gc_stream_opt_partitions(NULL) AS all_partitions;
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"partitions": [1, 1]}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"partitions": {"modulus": 0, "remainder": 0}}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"partitions": 3}');
-- workers: 1 by default, an integer from 1 to 64
SELECT gc_stream_plan('st_target', '{}')->'workers' AS default_workers,
       gc_stream_plan('st_target', '{"workers": 4, "partitions": {"modulus": 2, "remainder": 1}}')->'workers' AS four;
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"workers": 0}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"workers": 65}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"workers": 1.5}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"workers": "2"}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"dedup": "yes"}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"time_unit": "h"}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"row_time": "last"}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"csv_delimiter": ";;"}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"csv_fields": "a,b"}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"publisher_id_field": ""}');
-- special columns: missing, wrong type, used twice, half of a pair
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"entity_column": "nope", "time_column": "ts"}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"entity_column": "entity", "time_column": "note"}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"entity_column": "entity", "time_column": "entity"}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"entity_column": "entity"}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"imputed_column": "a"}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"raw_column": "imputed"}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"partition_column": "note"}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"columns": {"zzz": "x"}}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"columns": {"a": 5}}');
-- librdkafka pass-through settings are checked by librdkafka itself
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"kafka": {"no.such.setting": "1"}}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"kafka": {"session.timeout.ms": "abc"}}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"kafka": {"enable.auto.commit": "true"}}');
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target', '{"kafka": "sasl"}');
-- the model option needs an existing model at run time only
SELECT gc_stream_create('st2', 'h:1', 't', 'st_target',
	'{"kafka": {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
				"sasl.username": "u", "sasl.password": "secret"}, "model": "m", "format": "csv"}') > 0 AS created;
SELECT options ? 'kafka' AS options_keep_secret, kafka_conf->>'sasl.password' AS pw
FROM gc_streams WHERE name = 'st2';

-- start/stop/drop (what gc_stream_start warns depends on the server: sql/stream_start.sql)
SET client_min_messages = error;
SELECT gc_stream_start('st1');
SET client_min_messages = warning;
SELECT name, enabled FROM gc_streams ORDER BY name;
SELECT gc_stream_stop('st1');
SELECT gc_stream_start('nope');
SELECT gc_stream_stop('nope');
SELECT gc_stream_drop('nope');
INSERT INTO gc_stream_offsets VALUES ((SELECT id FROM gc_streams WHERE name = 'st1'), 0, 42);
SELECT name, partitions, committed_offsets FROM gc_stream_status ORDER BY name;
SELECT gc_stream_drop('st1');
SELECT count(*) AS offsets_left FROM gc_stream_offsets;
SELECT name FROM gc_stream_status;

-- security: INSERT on the target is required; other roles see neither the stream nor
-- its broker credentials
CREATE ROLE st_alice LOGIN;
CREATE ROLE st_bob LOGIN;
GRANT SELECT, INSERT, UPDATE ON st_target TO st_alice;
SET ROLE st_bob;
SELECT gc_stream_create('st3', 'h:1', 't', 'st_target');
SELECT count(*) AS visible FROM gc_streams;
SELECT kafka_conf FROM gc_streams;
SELECT gc_stream_drop('st2');
RESET ROLE;
SET ROLE st_alice;
SELECT gc_stream_create('st3', 'h:1', 't', 'st_target', '{"kafka": {"sasl.password": "alice-secret"}}') > 0 AS created;
SELECT name, owner FROM gc_streams;
SELECT kafka_conf FROM gc_streams;
SET ROLE st_bob;
SELECT count(*) AS bob_sees FROM gc_stream_status;
SELECT gc_stream_stop('st3');
SET ROLE st_alice;
SELECT name, state FROM gc_stream_status;
SELECT gc_stream_stop('st3');
SELECT gc_stream_drop('st3');
RESET ROLE;
SELECT count(*) AS streams FROM gc_streams;

-- status without shared_preload_libraries: empty worker set, no error
SELECT count(*) FROM gc_stream_worker_status();
SELECT gc_stream_drop('st2');
DROP TABLE st_target, st_notnum;
DROP ROLE st_alice;
DROP ROLE st_bob;
