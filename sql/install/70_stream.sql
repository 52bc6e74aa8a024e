/*
 * 70_stream.sql — Kafka/AutoMQ stream ingest: catalog tables, SQL API and status view.
 *
 * The catalog is the single source of truth: the launcher (shared_preload_libraries)
 * starts the background workers of each enabled stream (one, or as many as its "workers"
 * option says, each with its own partitions), and each worker stores its per-partition
 * offsets in gc_stream_offsets in the same transaction as the rows those messages
 * produced.  Security (docs/streaming.md, Security): gc_streams is written only
 * by the API functions, which check as the caller; the worker is a session of the
 * stream's owner and never has more rights than the owner; the bookkeeping tables and
 * gc_models have row-level security by stream id and owner; the librdkafka settings
 * (which may hold SASL passwords) live in a column that no ordinary role may read.
 */

-- ---------------------------------------------------------------------------
-- Catalog
-- ---------------------------------------------------------------------------

CREATE TABLE gc_streams (
	id			serial PRIMARY KEY,
	name		text NOT NULL UNIQUE CHECK (name <> '' AND length(name) <= 63),
	owner		regrole NOT NULL DEFAULT current_user::regrole,
	brokers		text NOT NULL,
	topic		text NOT NULL,
	target		regclass NOT NULL,
	options		jsonb NOT NULL,
	kafka_conf	jsonb NOT NULL DEFAULT '{}',
	enabled		boolean NOT NULL DEFAULT false,
	created_at	timestamptz NOT NULL DEFAULT now(),
	started_system bigint,		/* where gc_stream_start last ran: cluster (system identifier) */
	started_database oid		/* ... and database; a restored copy does not match */
);
COMMENT ON TABLE gc_streams IS 'gcimpute streams: one Kafka topic ingested into one table (options normalized; kafka_conf holds librdkafka settings and is readable by superusers only)';
COMMENT ON COLUMN gc_streams.started_system IS 'system identifier of the cluster where gc_stream_start last ran; an enabled stream starts by itself only there';
COMMENT ON COLUMN gc_streams.started_database IS 'oid of the database where gc_stream_start last ran; a restored or copied database holds the stream until gc_stream_start';

CREATE TABLE gc_stream_offsets (
	stream_id	integer NOT NULL REFERENCES gc_streams (id) ON DELETE CASCADE,
	partition	integer NOT NULL,
	next_offset bigint NOT NULL,
	seen_offset bigint NOT NULL DEFAULT 0,	/* below it every message was handled once */
	updated_at	timestamptz NOT NULL DEFAULT now(),
	messages	bigint NOT NULL DEFAULT 0,	/* messages below seen_offset */
	duplicates	bigint NOT NULL DEFAULT 0,	/* of them, dropped as duplicates */
	closed_until bigint,		/* stream event time (us) up to which windows were written */
	PRIMARY KEY (stream_id, partition)
);
COMMENT ON TABLE gc_stream_offsets IS 'next Kafka offset to consume per stream and partition, written in the same transaction as the rows the consumed messages produced; messages from next_offset to seen_offset are replayed after a restart (rows still being assembled), without repeating their dead letters';
COMMENT ON COLUMN gc_stream_offsets.messages IS 'messages of the partition handled below seen_offset, committed with it (so restarts and restores neither lose nor repeat counts)';
COMMENT ON COLUMN gc_stream_offsets.duplicates IS 'of those messages, the ones dropped as duplicates';
COMMENT ON COLUMN gc_stream_offsets.closed_until IS 'the stream''s event time (microseconds since 1970) up to which windows were closed and written; a restarted or restored worker resumes from it, so a late value updates its written row instead of adding one';

CREATE TABLE gc_stream_dedup (
	stream_id	integer NOT NULL REFERENCES gc_streams (id) ON DELETE CASCADE,
	at			timestamptz NOT NULL DEFAULT now(),
	keys		text[] NOT NULL
);
-- the keys are short and random: compressing them costs more than it saves
ALTER TABLE gc_stream_dedup ALTER COLUMN keys SET STORAGE EXTERNAL;
CREATE INDEX ON gc_stream_dedup (stream_id, at);
COMMENT ON TABLE gc_stream_dedup IS 'durable (publisher_id, data_id) keys of written messages, one row per committed batch; pruned after the stream''s dedup_retention';

-- The views read the catalog with their owner's rights, so they filter by the owner as
-- the row level security policies below do (security_invoker views would need PostgreSQL
-- 15); security_barrier keeps a caller's own conditions from seeing the filtered rows.
CREATE VIEW gc_stream_dedup_keys WITH (security_barrier = true) AS
	SELECT d.stream_id, d.at,
		   split_part(k, E'\x1f', 1) AS publisher_id,
		   split_part(k, E'\x1f', 2) AS data_id
	FROM gc_stream_dedup d, unnest(d.keys) AS k
	WHERE EXISTS (SELECT 1 FROM gc_streams s
				  WHERE s.id = d.stream_id AND pg_catalog.pg_has_role(current_user, s.owner, 'USAGE'));
COMMENT ON VIEW gc_stream_dedup_keys IS 'the duplicate-detection keys (stream, publisher_id, data_id) one per row';

CREATE TABLE gc_dead_letters (
	id			bigserial PRIMARY KEY,
	stream		text NOT NULL,			/* the stream's name when the letter was written */
	topic		text,
	partition	integer,
	"offset"	bigint,
	payload		bytea,
	error		text NOT NULL,
	at			timestamptz NOT NULL DEFAULT now(),
	stream_id	integer NOT NULL,		/* what the letter belongs to: the stream's id and owner */
	owner		regrole NOT NULL
);
CREATE INDEX ON gc_dead_letters (stream_id, at);
COMMENT ON TABLE gc_dead_letters IS 'messages a stream could not write: raw payload, the error, and where the message came from; visible to the stream''s owner, also after the stream is dropped';

CREATE TABLE gc_stream_errors (
	stream_id	integer PRIMARY KEY REFERENCES gc_streams (id) ON DELETE CASCADE,
	state		text NOT NULL,
	last_error	text,
	at			timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE gc_stream_errors IS 'the last stream-level error (e.g. a dropped target table) that put a stream in the error state';

-- Owners see their own streams only, and change them only through the API functions
-- (gc_stream_create, gc_stream_alter, gc_stream_start/stop, gc_stream_drop), which check
-- as the caller and then write as the extension's owner.
ALTER TABLE gc_streams ENABLE ROW LEVEL SECURITY;
CREATE POLICY gc_streams_owner ON gc_streams
	USING (pg_has_role(current_user, owner, 'USAGE'))
	WITH CHECK (pg_has_role(current_user, owner, 'USAGE'));
REVOKE ALL ON gc_streams FROM PUBLIC;
REVOKE ALL ON SEQUENCE gc_streams_id_seq FROM PUBLIC;
GRANT SELECT (id, name, owner, brokers, topic, target, options, enabled, created_at,
			  started_system, started_database) ON gc_streams TO PUBLIC;

-- The bookkeeping of a stream belongs to its id and owner.  The worker, a session of the
-- owner, writes it; a role may read, write and delete the rows of its own streams only.
ALTER TABLE gc_stream_offsets ENABLE ROW LEVEL SECURITY;
CREATE POLICY gc_stream_offsets_owner ON gc_stream_offsets
	USING (EXISTS (SELECT 1 FROM gc_streams s WHERE s.id = stream_id))
	WITH CHECK (EXISTS (SELECT 1 FROM gc_streams s WHERE s.id = stream_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON gc_stream_offsets TO PUBLIC;

ALTER TABLE gc_stream_dedup ENABLE ROW LEVEL SECURITY;
CREATE POLICY gc_stream_dedup_owner ON gc_stream_dedup
	USING (EXISTS (SELECT 1 FROM gc_streams s WHERE s.id = stream_id))
	WITH CHECK (EXISTS (SELECT 1 FROM gc_streams s WHERE s.id = stream_id));
GRANT SELECT, INSERT, DELETE ON gc_stream_dedup TO PUBLIC;
GRANT SELECT ON gc_stream_dedup_keys TO PUBLIC;

ALTER TABLE gc_stream_errors ENABLE ROW LEVEL SECURITY;
CREATE POLICY gc_stream_errors_owner ON gc_stream_errors
	USING (EXISTS (SELECT 1 FROM gc_streams s WHERE s.id = stream_id))
	WITH CHECK (EXISTS (SELECT 1 FROM gc_streams s WHERE s.id = stream_id));
GRANT SELECT, INSERT, UPDATE, DELETE ON gc_stream_errors TO PUBLIC;

-- Dead letters outlive their stream: they stay visible to the stream's owner, to no one
-- else, and a new stream with the same name sees none of them.
ALTER TABLE gc_dead_letters ENABLE ROW LEVEL SECURITY;
CREATE POLICY gc_dead_letters_owner ON gc_dead_letters
	USING (pg_has_role(current_user, owner, 'USAGE'))
	WITH CHECK (pg_has_role(current_user, owner, 'USAGE')
				AND EXISTS (SELECT 1 FROM gc_streams s WHERE s.id = stream_id AND s.owner = gc_dead_letters.owner));
GRANT SELECT, INSERT, DELETE ON gc_dead_letters TO PUBLIC;
GRANT USAGE ON SEQUENCE gc_dead_letters_id_seq TO PUBLIC;

-- The models table: imputation models by name (unique across roles), each with an owner.
CREATE TABLE gc_models (
	name		text PRIMARY KEY,
	model		gcmodel NOT NULL,
	updated_at	timestamptz NOT NULL DEFAULT now(),
	owner		regrole NOT NULL DEFAULT current_user::regrole,
	UNIQUE (name, owner)
);
COMMENT ON TABLE gc_models IS 'named Gaussian copula models; a stream imputes with the model its "model" option names; a role sees its own models and those shared with it (gc_model_grants), and changes only its own';

-- Sharing: PostgreSQL has no per-row GRANT, so a row per (model, grantee) says who may
-- read a model besides its owner.  Only gc_model_grant/gc_model_revoke write these rows,
-- after checking that the caller owns the model; the foreign key ties each to the model's
-- owner.
CREATE TABLE gc_model_grants (
	model		text NOT NULL,
	owner		regrole NOT NULL,
	grantee		regrole NOT NULL,
	PRIMARY KEY (model, grantee),
	FOREIGN KEY (model, owner) REFERENCES gc_models (name, owner) ON UPDATE CASCADE ON DELETE CASCADE
);
COMMENT ON TABLE gc_model_grants IS 'who may read a model of gc_models besides its owner (read: impute with it, copy it)';

ALTER TABLE gc_model_grants ENABLE ROW LEVEL SECURITY;
CREATE POLICY gc_model_grants_read ON gc_model_grants FOR SELECT
	USING (pg_has_role(current_user, owner, 'USAGE') OR pg_has_role(current_user, grantee, 'USAGE'));
GRANT SELECT ON gc_model_grants TO PUBLIC;

ALTER TABLE gc_models ENABLE ROW LEVEL SECURITY;
CREATE POLICY gc_models_read ON gc_models FOR SELECT
	USING (pg_has_role(current_user, owner, 'USAGE')
		   OR EXISTS (SELECT 1 FROM gc_model_grants g
					  WHERE g.model = name AND pg_has_role(current_user, g.grantee, 'USAGE')));
CREATE POLICY gc_models_insert ON gc_models FOR INSERT
	WITH CHECK (pg_has_role(current_user, owner, 'USAGE'));
CREATE POLICY gc_models_update ON gc_models FOR UPDATE
	USING (pg_has_role(current_user, owner, 'USAGE'))
	WITH CHECK (pg_has_role(current_user, owner, 'USAGE'));
CREATE POLICY gc_models_delete ON gc_models FOR DELETE
	USING (pg_has_role(current_user, owner, 'USAGE'));
GRANT SELECT, INSERT, DELETE ON gc_models TO PUBLIC;
GRANT UPDATE (name, model, updated_at) ON gc_models TO PUBLIC;

-- ---------------------------------------------------------------------------
-- C helpers
-- ---------------------------------------------------------------------------

CREATE FUNCTION gc_stream_check_kafka_conf(conf jsonb) RETURNS void
	AS 'MODULE_PATHNAME', 'gc_stream_check_kafka_conf'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION gc_stream_check_kafka_conf(jsonb) IS 'raise an error unless every key/value is a librdkafka consumer property the stream may set';

CREATE FUNCTION gc_stream_wake() RETURNS boolean
	AS 'MODULE_PATHNAME', 'gc_stream_wake'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION gc_stream_wake() IS 'wake the stream launcher at commit; false when gcimpute is not in shared_preload_libraries';

CREATE FUNCTION gc_stream_worker_status(
	OUT stream_id integer, OUT pid integer, OUT state text, OUT started_at timestamptz,
	OUT rows_written bigint, OUT rows_per_s float8, OUT messages bigint,
	OUT duplicates bigint, OUT dead_letters bigint, OUT imputed_cells bigint,
	OUT late_updates bigint, OUT pending_rows integer, OUT last_error text,
	OUT latency_p50_ms float8, OUT latency_p99_ms float8,
	OUT partitions integer[], OUT high_watermarks bigint[],
	OUT worker integer, OUT workers integer, OUT entity_conflicts bigint)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'gc_stream_worker_status'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION gc_stream_worker_status() IS 'live state of the stream workers of this database (shared memory), one row per worker; empty without shared_preload_libraries';

-- ---------------------------------------------------------------------------
-- Option validation
-- ---------------------------------------------------------------------------

/*
 * gc_stream_plan: validate options against the target table and return them normalized,
 * with defaults filled in and a "plan" array telling the worker what goes to each column.
 * The worker calls this again at every start, so an altered target fails clearly.
 */
CREATE FUNCTION gc_stream_plan(target regclass, options jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
	valid text[] := ARRAY['format', 'csv_fields', 'csv_delimiter', 'columns',
		'entity_column', 'time_column', 'time_unit', 'window', 'lateness', 'row_time',
		'publisher_id_field', 'data_id_field', 'dedup', 'dedup_retention',
		'key_column', 'partition_column', 'offset_column', 'timestamp_column',
		'imputed_column', 'raw_column', 'start', 'batch_size', 'flush_interval',
		'max_message_bytes', 'model', 'model_refresh', 'model_window', 'kafka', 'partitions',
		'refine_previous', 'workers'];
	k text;
	o jsonb := '{}';
	v jsonb;
	cols jsonb;
	plan jsonb := '[]';
	r record;
	role text;
	field text;
	nvalue int := 0;
	special text[] := '{}';
	numeric_types regtype[] := ARRAY['float8', 'float4', 'numeric', 'int2', 'int4', 'int8']::regtype[];
BEGIN
	IF options IS NULL OR jsonb_typeof(options) <> 'object' THEN
		RAISE EXCEPTION 'stream options must be a json object'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	FOR k IN SELECT jsonb_object_keys(options) LOOP
		IF NOT k = ANY (valid) THEN
			RAISE EXCEPTION 'unrecognized stream option "%"', k
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Valid options are: ' || array_to_string(valid, ', ') || '.';
		END IF;
	END LOOP;

	-- format
	v := coalesce(options->'format', '"json"');
	IF v NOT IN ('"json"', '"csv"') THEN
		RAISE EXCEPTION 'invalid value for stream option "format": %', v
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Valid values are "json" and "csv".';
	END IF;
	o := o || jsonb_build_object('format', v);
	v := coalesce(options->'csv_delimiter', '","');
	IF jsonb_typeof(v) <> 'string' OR length(v #>> '{}') <> 1 THEN
		RAISE EXCEPTION 'invalid value for stream option "csv_delimiter": %', v
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Give a single character.';
	END IF;
	o := o || jsonb_build_object('csv_delimiter', v);

	-- numbers with ranges
	o := o || jsonb_build_object(
		'batch_size', @extschema@.gc_stream_opt_number(options, 'batch_size', 10000, 1, 1000000, true),
		'flush_interval', @extschema@.gc_stream_opt_number(options, 'flush_interval', 0.1, 0.001, 3600, false),
		'max_message_bytes', @extschema@.gc_stream_opt_number(options, 'max_message_bytes', 1048576, 16, 104857600, true),
		'dedup_retention', @extschema@.gc_stream_opt_number(options, 'dedup_retention', 3600, 1, 31536000, false),
		'model_refresh', @extschema@.gc_stream_opt_number(options, 'model_refresh', 0, 0, 31536000, false),
		'model_window', @extschema@.gc_stream_opt_number(options, 'model_window', 10000, 10, 100000000, true),
		-- each worker is a process with its own Kafka client and memory; past 64 the
		-- cores of one server are used up long before the partitions are
		'workers', @extschema@.gc_stream_opt_number(options, 'workers', 1, 1, 64, true));

	-- window and lateness: seconds or "auto"
	FOREACH k IN ARRAY ARRAY['window', 'lateness'] LOOP
		v := options->k;
		IF v IS NULL THEN
			v := CASE k WHEN 'window' THEN '"auto"' ELSE '1' END;
		END IF;
		IF NOT (v = '"auto"' OR (jsonb_typeof(v) = 'number' AND (v #>> '{}')::float8 >= 0
				AND (v #>> '{}')::float8 <= 86400 AND (k = 'lateness' OR (v #>> '{}')::float8 > 0))) THEN
			RAISE EXCEPTION 'invalid value for stream option "%": %', k, v
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Give a number of seconds (0 < window <= 86400, 0 <= lateness <= 86400) or "auto".';
		END IF;
		o := o || jsonb_build_object(k, v);
	END LOOP;

	v := coalesce(options->'row_time', '"first"');
	IF v NOT IN ('"first"', '"window"') THEN
		RAISE EXCEPTION 'invalid value for stream option "row_time": %', v
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Valid values are "first" (earliest event time of the row''s messages) and "window" (start of its window).';
	END IF;
	o := o || jsonb_build_object('row_time', v);

	v := coalesce(options->'time_unit', '"s"');
	IF v NOT IN ('"s"', '"ms"', '"us"') THEN
		RAISE EXCEPTION 'invalid value for stream option "time_unit": %', v
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Valid values are "s", "ms" and "us".';
	END IF;
	o := o || jsonb_build_object('time_unit', v);

	-- refine_previous: a temporal model only, revise the entity's earlier rows as later ones arrive
	o := o || jsonb_build_object(
		'dedup', @extschema@.gc_stream_opt_bool(options, 'dedup', true),
		'refine_previous', @extschema@.gc_stream_opt_bool(options, 'refine_previous', false));

	v := coalesce(options->'start', '"earliest"');
	IF NOT (v IN ('"earliest"', '"latest"') OR (jsonb_typeof(v) = 'number' AND (v #>> '{}') ~ '^[0-9]+$')) THEN
		RAISE EXCEPTION 'invalid value for stream option "start": %', v
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Valid values are "earliest", "latest" or a non-negative offset.';
	END IF;
	o := o || jsonb_build_object('start', v);
	o := o || jsonb_build_object('partitions', @extschema@.gc_stream_opt_partitions(options->'partitions'));

	FOREACH k IN ARRAY ARRAY['publisher_id_field', 'data_id_field', 'model'] LOOP
		v := options->k;
		IF v IS NULL THEN
			v := CASE k WHEN 'publisher_id_field' THEN '"publisher_id"'
						WHEN 'data_id_field' THEN '"data_id"' ELSE 'null' END;
		END IF;
		IF v <> 'null' AND (jsonb_typeof(v) <> 'string' OR v = '""') THEN
			RAISE EXCEPTION 'invalid value for stream option "%": %', k, v
				USING ERRCODE = 'invalid_parameter_value', HINT = 'Give a non-empty string.';
		END IF;
		o := o || jsonb_build_object(k, v);
	END LOOP;
	IF o->>'model' IS NOT NULL AND to_regprocedure('@extschema@.gc_impute(@extschema@.gcmodel, float8[])') IS NULL THEN
		RAISE EXCEPTION 'stream option "model" needs the function gc_impute(gcmodel, float8[])'
			USING ERRCODE = 'undefined_function';
	END IF;

	v := options->'kafka';
	IF v IS NOT NULL AND jsonb_typeof(v) <> 'object' THEN
		RAISE EXCEPTION 'invalid value for stream option "kafka": %', v
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Give an object of librdkafka consumer properties, e.g. {"security.protocol": "SASL_SSL"}.';
	END IF;

	-- special columns: each names an existing column of the target with a suitable type
	FOREACH k IN ARRAY ARRAY['entity_column', 'time_column', 'key_column', 'partition_column',
							 'offset_column', 'timestamp_column', 'imputed_column', 'raw_column'] LOOP
		v := options->k;
		IF v IS NULL AND k IN ('imputed_column', 'raw_column') THEN
			-- conventional names are used when the table has them
			SELECT to_jsonb(a.attname::text) INTO v FROM pg_attribute a
			WHERE a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped
			  AND a.attname = CASE k WHEN 'imputed_column' THEN 'imputed' ELSE 'raw' END;
		END IF;
		IF v IS NULL OR v = 'null' THEN
			o := o || jsonb_build_object(k, NULL::text);
			CONTINUE;
		END IF;
		IF jsonb_typeof(v) <> 'string' THEN
			RAISE EXCEPTION 'invalid value for stream option "%": %', k, v
				USING ERRCODE = 'invalid_parameter_value', HINT = 'Give the name of a column of the target table.';
		END IF;
		SELECT a.attname::text AS name, a.atttypid::regtype AS typ INTO r FROM pg_attribute a
		WHERE a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped AND a.attname = (v #>> '{}');
		IF NOT FOUND THEN
			RAISE EXCEPTION 'stream option "%" names column "%", which table % does not have', k, v #>> '{}', target
				USING ERRCODE = 'undefined_column';
		END IF;
		IF r.name = ANY (special) THEN
			RAISE EXCEPTION 'column "%" is named by two stream options', r.name
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF (k = 'time_column' AND r.typ NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'float8'::regtype, 'bigint'::regtype))
		   OR (k = 'timestamp_column' AND r.typ NOT IN ('timestamptz'::regtype, 'timestamp'::regtype))
		   OR (k IN ('partition_column', 'offset_column') AND r.typ NOT IN ('int4'::regtype, 'int8'::regtype, 'numeric'::regtype))
		   OR (k = 'imputed_column' AND r.typ <> 'boolean[]'::regtype)
		   OR (k = 'raw_column' AND r.typ <> 'float8[]'::regtype) THEN
			RAISE EXCEPTION 'column "%" named by stream option "%" has type %, which is not supported', r.name, k, r.typ
				USING ERRCODE = 'datatype_mismatch',
					  HINT = CASE k WHEN 'time_column' THEN 'Use timestamptz, timestamp, float8 or bigint.'
									WHEN 'timestamp_column' THEN 'Use timestamptz or timestamp.'
									WHEN 'imputed_column' THEN 'Use boolean[].'
									WHEN 'raw_column' THEN 'Use float8[].'
									ELSE 'Use integer, bigint or numeric.' END;
		END IF;
		special := special || r.name;
		o := o || jsonb_build_object(k, r.name);
	END LOOP;
	IF (o->>'entity_column' IS NULL) <> (o->>'time_column' IS NULL) THEN
		RAISE EXCEPTION 'stream options "entity_column" and "time_column" go together'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Give both to assemble rows per entity and event-time window, or neither to write one row per message.';
	END IF;

	-- column mapping: target column -> message field (identity by default)
	cols := coalesce(options->'columns', '{}');
	IF jsonb_typeof(cols) <> 'object' THEN
		RAISE EXCEPTION 'invalid value for stream option "columns": %', cols
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Give an object mapping target column names to message field names.';
	END IF;
	FOR k, v IN SELECT * FROM jsonb_each(cols) LOOP
		IF jsonb_typeof(v) <> 'string' THEN
			RAISE EXCEPTION 'stream option "columns" maps column "%" to %, which is not a field name', k, v
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = target AND a.attnum > 0
					   AND NOT a.attisdropped AND a.attname = k) THEN
			RAISE EXCEPTION 'stream option "columns" names column "%", which table % does not have', k, target
				USING ERRCODE = 'undefined_column';
		END IF;
	END LOOP;

	FOR r IN SELECT a.attnum, a.attname::text AS name, a.atttypid::regtype AS typ, a.attnotnull,
				   a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '' AS hasdef
			 FROM pg_attribute a
			 WHERE a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped
			 ORDER BY a.attnum LOOP
		role := CASE r.name
			WHEN o->>'entity_column' THEN 'entity'
			WHEN o->>'time_column' THEN 'time'
			WHEN o->>'key_column' THEN 'key'
			WHEN o->>'partition_column' THEN 'partition'
			WHEN o->>'offset_column' THEN 'offset'
			WHEN o->>'timestamp_column' THEN 'timestamp'
			WHEN o->>'imputed_column' THEN 'imputed'
			WHEN o->>'raw_column' THEN 'raw'
			ELSE NULL END;
		field := coalesce(cols->>r.name, r.name);
		IF role IS NULL AND field IN (o->>'publisher_id_field', o->>'data_id_field') THEN
			role := 'text';		-- the message's identity, stored as is
		END IF;
		IF role IS NULL THEN
			IF r.typ = ANY (numeric_types) THEN
				role := 'value';
				nvalue := nvalue + 1;
			ELSIF cols ? r.name OR NOT r.hasdef THEN
				role := 'text';
			ELSE
				CONTINUE;		-- filled by its default
			END IF;
		END IF;
		IF role IN ('key', 'partition', 'offset', 'timestamp', 'imputed', 'raw') THEN
			field := NULL;
		END IF;
		plan := plan || jsonb_build_object('attnum', r.attnum, 'column', r.name, 'type', r.typ::text,
										   'role', role, 'field', field);
	END LOOP;
	IF nvalue = 0 THEN
		RAISE EXCEPTION 'table % has no numeric column to ingest', target
			USING ERRCODE = 'invalid_table_definition',
				  HINT = 'Value columns have type float8, float4, numeric, smallint, integer or bigint.';
	END IF;
	IF o->>'raw_column' IS NOT NULL OR o->>'imputed_column' IS NOT NULL OR o->>'model' IS NOT NULL THEN
		NULL;
	END IF;

	v := options->'csv_fields';
	IF v IS NULL THEN
		SELECT coalesce(jsonb_agg(p->'field' ORDER BY (p->>'attnum')::int), '[]') INTO v
		FROM jsonb_array_elements(plan) p WHERE p->>'field' IS NOT NULL;
	ELSIF jsonb_typeof(v) <> 'array' OR EXISTS (SELECT 1 FROM jsonb_array_elements(v) e WHERE jsonb_typeof(e) <> 'string') THEN
		RAISE EXCEPTION 'invalid value for stream option "csv_fields": %', v
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Give an array of field names in CSV column order.';
	END IF;
	o := o || jsonb_build_object('csv_fields', v, 'columns', cols, 'plan', plan);
	RETURN o;
END
$fn$;
COMMENT ON FUNCTION gc_stream_plan(regclass, jsonb) IS 'validate stream options against a target table and return them normalized with the column plan';

CREATE FUNCTION gc_stream_opt_number(options jsonb, k text, dflt float8, lo float8, hi float8, integral boolean)
RETURNS jsonb LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
	v jsonb := options->k;
	x float8;
BEGIN
	IF v IS NULL THEN
		RETURN to_jsonb(dflt);
	END IF;
	IF jsonb_typeof(v) <> 'number' THEN
		RAISE EXCEPTION 'invalid value for stream option "%": %', k, v
			USING ERRCODE = 'invalid_parameter_value', HINT = format('Give a number between %s and %s.', lo, hi);
	END IF;
	x := (v #>> '{}')::float8;
	IF x < lo OR x > hi OR (integral AND x <> trunc(x)) THEN
		RAISE EXCEPTION 'value % for stream option "%" is out of range', v, k
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = format('Give %s between %s and %s.', CASE WHEN integral THEN 'an integer' ELSE 'a number' END, lo, hi);
	END IF;
	RETURN v;
END
$fn$;
COMMENT ON FUNCTION gc_stream_opt_number(jsonb, text, float8, float8, float8, boolean) IS 'internal: read a numeric stream option with its default and range';

CREATE FUNCTION gc_stream_opt_bool(options jsonb, k text, dflt boolean)
RETURNS jsonb LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
	v jsonb := coalesce(options->k, to_jsonb(dflt));
BEGIN
	IF jsonb_typeof(v) <> 'boolean' THEN
		RAISE EXCEPTION 'invalid value for stream option "%": %', k, v
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Give true or false.';
	END IF;
	RETURN v;
END
$fn$;
COMMENT ON FUNCTION gc_stream_opt_bool(jsonb, text, boolean) IS 'internal: read a boolean stream option with its default';

/*
 * The "partitions" option: the share of the topic a stream reads, so that several servers
 * divide one topic between them.  A list names partitions; {"modulus": m, "remainder": r}
 * takes every partition p with p % m = r, also those added to the topic later.  Returns
 * the list sorted, the object as given, or null (every partition).
 */
CREATE FUNCTION gc_stream_opt_partitions(v jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
	m jsonb;
	r jsonb;
	list jsonb;
BEGIN
	IF v IS NULL OR v = 'null' THEN
		RETURN 'null';
	END IF;
	IF jsonb_typeof(v) = 'array' THEN
		IF jsonb_array_length(v) = 0 OR jsonb_array_length(v) > 128 OR EXISTS (
				SELECT 1 FROM jsonb_array_elements(v) e
				WHERE jsonb_typeof(e) <> 'number' OR (e #>> '{}')::numeric <> trunc((e #>> '{}')::numeric)
					  OR (e #>> '{}')::numeric NOT BETWEEN 0 AND 2147483647) THEN
			RAISE EXCEPTION 'invalid value for stream option "partitions": %', v
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Give a list of 1 to 128 partition numbers (integers from 0), or {"modulus": m, "remainder": r}.';
		END IF;
		SELECT jsonb_agg(DISTINCT (e #>> '{}')::int ORDER BY (e #>> '{}')::int) INTO list
		FROM jsonb_array_elements(v) e;
		IF jsonb_array_length(list) <> jsonb_array_length(v) THEN
			RAISE EXCEPTION 'stream option "partitions" names a partition twice: %', v
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		RETURN list;
	END IF;
	IF jsonb_typeof(v) = 'object' THEN
		m := v->'modulus';
		r := v->'remainder';
		IF (SELECT count(*) FROM jsonb_object_keys(v)) = 2 AND jsonb_typeof(m) = 'number'
		   AND jsonb_typeof(r) = 'number' AND (m #>> '{}')::numeric = trunc((m #>> '{}')::numeric)
		   AND (r #>> '{}')::numeric = trunc((r #>> '{}')::numeric)
		   AND (m #>> '{}')::numeric BETWEEN 1 AND 1024
		   AND (r #>> '{}')::numeric >= 0 AND (r #>> '{}')::numeric < (m #>> '{}')::numeric THEN
			RETURN jsonb_build_object('modulus', (m #>> '{}')::int, 'remainder', (r #>> '{}')::int);
		END IF;
		RAISE EXCEPTION 'invalid value for stream option "partitions": %', v
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'The object form takes exactly the keys "modulus" (1 to 1024) and "remainder" (0 to modulus - 1).',
				  HINT = 'For two servers on one topic, give {"modulus": 2, "remainder": 0} to one and {"modulus": 2, "remainder": 1} to the other.';
	END IF;
	RAISE EXCEPTION 'invalid value for stream option "partitions": %', v
		USING ERRCODE = 'invalid_parameter_value',
			  HINT = 'Give a list of partition numbers, such as [0, 2, 4], or {"modulus": m, "remainder": r}.';
END
$fn$;
COMMENT ON FUNCTION gc_stream_opt_partitions(jsonb) IS 'internal: validate and normalize the "partitions" stream option (a list, or modulus and remainder)';

-- ---------------------------------------------------------------------------
-- SQL API
-- ---------------------------------------------------------------------------

/*
 * gc_stream_validate: every check of a stream definition, made as the calling role:
 * names, the target and the caller's privileges on it, the options (gc_stream_plan), and
 * the model (readable to impute with it, owned to refresh it).  Returns
 * {"options": normalized options, "kafka": librdkafka settings}.  The API functions call
 * it before they write gc_streams; the librdkafka settings are checked by them in C.
 */
CREATE FUNCTION gc_stream_validate(name text, brokers text, topic text, target regclass,
								   options jsonb, is_new boolean) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
	o jsonb;
	model_owner regrole;
BEGIN
	IF name IS NULL OR brokers IS NULL OR topic IS NULL OR target IS NULL THEN
		RAISE EXCEPTION 'stream name, brokers, topic and target must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF name !~ '^[A-Za-z0-9_.-]{1,63}$' THEN
		RAISE EXCEPTION 'invalid stream name "%"', name
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use 1 to 63 letters, digits, "_", "." or "-".';
	END IF;
	IF brokers !~ '^[^,\s]+(,[^,\s]+)*$' THEN
		RAISE EXCEPTION 'invalid broker list "%"', brokers
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Give host:port pairs separated by commas.';
	END IF;
	IF topic !~ '^[A-Za-z0-9._-]{1,249}$' THEN
		RAISE EXCEPTION 'invalid topic name "%"', topic
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Kafka topic names have 1 to 249 letters, digits, ".", "_" or "-".';
	END IF;
	IF (SELECT c.relkind FROM pg_class c WHERE c.oid = target) NOT IN ('r', 'p') THEN
		RAISE EXCEPTION '"%" is not a table', target
			USING ERRCODE = 'wrong_object_type';
	END IF;
	IF NOT has_table_privilege(target, 'INSERT') THEN
		RAISE EXCEPTION 'permission denied for table %', target
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'Creating a stream requires INSERT on its target table.';
	END IF;
	o := @extschema@.gc_stream_plan(target, options);
	IF o->>'imputed_column' IS NOT NULL OR o->>'model' IS NOT NULL THEN
		IF NOT has_table_privilege(target, 'UPDATE') AND o->>'entity_column' IS NOT NULL THEN
			RAISE EXCEPTION 'permission denied for table %', target
				USING ERRCODE = 'insufficient_privilege',
					  DETAIL = 'A stream that assembles rows updates cells when late values arrive, so it needs UPDATE on the target.';
		END IF;
	END IF;
	IF o->>'model' IS NOT NULL THEN
		-- row-level security shows the caller its own models and those shared with it
		SELECT m.owner INTO model_owner FROM @extschema@.gc_models m WHERE m.name = o->>'model';
		IF model_owner IS NULL AND @extschema@.gc_model_name_taken(o->>'model') THEN
			RAISE EXCEPTION 'permission denied for model "%"', o->>'model'
				USING ERRCODE = 'insufficient_privilege',
					  DETAIL = 'The model belongs to another role and is not shared with you.',
					  HINT = 'Its owner can share it with gc_model_grant.';
		END IF;
		IF (o->>'model_refresh')::float8 > 0 AND model_owner IS NOT NULL
		   AND NOT pg_has_role(current_user, model_owner, 'USAGE') THEN
			RAISE EXCEPTION 'stream option "model_refresh" needs a model of your own: model "%" belongs to %',
				o->>'model', model_owner
				USING ERRCODE = 'insufficient_privilege',
					  HINT = 'Refresh a model under a name of your own; a shared model can only be read.';
		END IF;
	END IF;
	IF is_new AND EXISTS (SELECT 1 FROM @extschema@.gc_stream_names() n WHERE n = name) THEN
		RAISE EXCEPTION 'stream "%" already exists', name
			USING ERRCODE = 'duplicate_object';
	END IF;
	RETURN jsonb_build_object('options', o - 'plan', 'kafka', coalesce(options->'kafka', '{}'));
END
$fn$;
COMMENT ON FUNCTION gc_stream_validate(text, text, text, regclass, jsonb, boolean) IS 'internal: check a stream definition as the calling role; returns the normalized options and the librdkafka settings';

CREATE FUNCTION gc_stream_create(name text, brokers text, topic text, target regclass,
								 options jsonb DEFAULT '{}') RETURNS integer
	AS 'MODULE_PATHNAME', 'gc_stream_create'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION gc_stream_create(text, text, text, regclass, jsonb) IS 'define a stream from a Kafka topic into a table (stopped; start it with gc_stream_start)';

CREATE FUNCTION gc_stream_alter(name text, options jsonb) RETURNS void
	AS 'MODULE_PATHNAME', 'gc_stream_alter'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION gc_stream_alter(text, jsonb) IS 'replace the options of a stopped stream (validated as by gc_stream_create)';

-- Names of all streams, whoever owns them (stream names are unique across owners).
CREATE FUNCTION gc_stream_names() RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
	SELECT name FROM @extschema@.gc_streams
$fn$;
COMMENT ON FUNCTION gc_stream_names() IS 'internal: names of every stream (to refuse duplicates across owners)';

-- Whether any role has a model of this name (model names are unique across owners).
CREATE FUNCTION gc_model_name_taken(name text) RETURNS boolean
LANGUAGE sql STABLE STRICT SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
	SELECT EXISTS (SELECT 1 FROM @extschema@.gc_models m WHERE m.name OPERATOR(pg_catalog.=) $1)
$fn$;
COMMENT ON FUNCTION gc_model_name_taken(text) IS 'internal: whether a model of this name exists, whoever owns it';

CREATE FUNCTION gc_model_grant(model text, grantee regrole) RETURNS void
	AS 'MODULE_PATHNAME', 'gc_model_grant'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION gc_model_grant(text, regrole) IS 'let a role (and its members) read one of your models: impute with it, copy it, use it in a stream';

CREATE FUNCTION gc_model_revoke(model text, grantee regrole) RETURNS void
	AS 'MODULE_PATHNAME', 'gc_model_revoke'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION gc_model_revoke(text, regrole) IS 'stop sharing one of your models with a role';

/*
 * Starting a stream records where it was started (gc_streams.started_system and
 * started_database): the launcher resumes an enabled stream by itself only there, so a
 * restored or copied database never starts consuming until someone runs gc_stream_start
 * in it.
 */
CREATE FUNCTION gc_stream_set_enabled(name text, enable boolean) RETURNS void
	AS 'MODULE_PATHNAME', 'gc_stream_set_enabled'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION gc_stream_set_enabled(text, boolean) IS 'internal: enable or disable a stream and wake the launcher';

-- This cluster and database, as gc_streams.started_system and started_database name them.
CREATE FUNCTION gc_stream_here(OUT system bigint, OUT database oid)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $fn$
	SELECT c.system_identifier, d.oid
	FROM pg_catalog.pg_control_system() c, pg_catalog.pg_database d
	WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()
$fn$;
COMMENT ON FUNCTION gc_stream_here() IS 'internal: system identifier of this cluster and oid of this database, where a stream started here records it was started';

CREATE FUNCTION gc_stream_start(name text) RETURNS void
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
	SELECT @extschema@.gc_stream_set_enabled(name, true)
$fn$;
COMMENT ON FUNCTION gc_stream_start(text) IS 'start ingesting a stream (it resumes from its stored offsets, also after a restart)';

CREATE FUNCTION gc_stream_stop(name text) RETURNS void
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $fn$
	SELECT @extschema@.gc_stream_set_enabled(name, false)
$fn$;
COMMENT ON FUNCTION gc_stream_stop(text) IS 'stop a stream after its current batch; offsets are kept';

CREATE FUNCTION gc_stream_drop(name text) RETURNS void
	AS 'MODULE_PATHNAME', 'gc_stream_drop'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION gc_stream_drop(text) IS 'drop a stream with its offsets and dedup keys (its dead letters are kept, visible to its owner)';

/*
 * An enabled stream without a worker is "held" when it was started in another cluster or
 * database (a restored copy waits for gc_stream_start), "unserved" when no launcher serves
 * this database, else "starting".  messages and duplicates are the committed counts.  A
 * stream with several workers ("workers" option) is one row here: its partitions and
 * counters over all of them, the state of the first worker that is not running, the pid
 * and the first error of the lowest-numbered worker, the highest latency quantiles;
 * gc_stream_workers has a row per worker.  security_barrier and the owner filter: see
 * gc_stream_dedup_keys.
 */
CREATE VIEW gc_stream_status WITH (security_barrier = true) AS
	WITH ws AS (SELECT * FROM @extschema@.gc_stream_worker_status()),
	w AS (
		SELECT ws.stream_id,
			   (array_agg(ws.pid ORDER BY ws.worker))[1] AS pid,
			   CASE WHEN count(*) < max(ws.workers) THEN 'starting'
					ELSE (array_agg(ws.state ORDER BY ws.state = 'running', ws.worker))[1] END AS state,
			   (SELECT array_agg(h.p ORDER BY h.p) FROM ws y, unnest(y.partitions, y.high_watermarks) AS h(p, hw)
				WHERE y.stream_id = ws.stream_id) AS partitions,
			   (SELECT array_agg(h.hw ORDER BY h.p) FROM ws y, unnest(y.partitions, y.high_watermarks) AS h(p, hw)
				WHERE y.stream_id = ws.stream_id) AS high_watermarks,
			   sum(ws.rows_written)::bigint AS rows_written, sum(ws.rows_per_s) AS rows_per_s,
			   sum(ws.imputed_cells)::bigint AS imputed_cells, sum(ws.late_updates)::bigint AS late_updates,
			   sum(ws.pending_rows)::integer AS pending_rows,
			   (array_agg(CASE WHEN ws.workers > 1 THEN pg_catalog.format('worker %s: %s', ws.worker, ws.last_error)
							   ELSE ws.last_error END ORDER BY ws.worker) FILTER (WHERE ws.last_error IS NOT NULL))[1] AS last_error,
			   max(ws.latency_p50_ms) AS latency_p50_ms, max(ws.latency_p99_ms) AS latency_p99_ms,
			   sum(ws.entity_conflicts)::bigint AS entity_conflicts
		FROM ws GROUP BY ws.stream_id)
	SELECT s.name, s.topic, s.target, s.owner,
		   CASE WHEN e.state IS NOT NULL THEN e.state
				WHEN NOT s.enabled THEN 'stopped'
				WHEN w.pid IS NOT NULL THEN w.state
				WHEN (s.started_system, s.started_database) IS DISTINCT FROM (h.system, h.database) THEN 'held'
				WHEN pg_catalog.current_setting('gcimpute.database', true) IS DISTINCT FROM pg_catalog.current_database() THEN 'unserved'
				ELSE 'starting' END AS state,
		   w.pid,
		   o.partitions,
		   o.committed_offsets,
		   w.high_watermarks,
		   (SELECT sum(greatest(hw - co, 0))::bigint
			FROM unnest(w.partitions, w.high_watermarks) AS h(p, hw)
			JOIN unnest(o.partitions, o.committed_offsets) AS c(p, co) USING (p)) AS lag,
		   w.rows_written, w.rows_per_s, o.messages, o.duplicates,
		   (SELECT count(*) FROM @extschema@.gc_dead_letters d WHERE d.stream_id = s.id) AS dead_letters,
		   w.imputed_cells, w.late_updates, w.pending_rows,
		   CASE WHEN e.last_error IS NOT NULL OR w.pid IS NOT NULL OR NOT s.enabled THEN coalesce(e.last_error, w.last_error)
				WHEN (s.started_system, s.started_database) IS DISTINCT FROM (h.system, h.database) THEN
					pg_catalog.format('started in another cluster or database (restored or copied): run gc_stream_start(%L) to resume from its stored offsets', s.name)
				WHEN pg_catalog.current_setting('gcimpute.database', true) IS DISTINCT FROM pg_catalog.current_database() THEN
					CASE WHEN pg_catalog.current_setting('gcimpute.database', true) IS NULL
						 THEN 'gcimpute is not in shared_preload_libraries: no stream runs'
						 ELSE pg_catalog.format('gcimpute serves the streams of database %I only (gcimpute.database)',
												pg_catalog.current_setting('gcimpute.database', true)) END
				WHEN n.workers > pg_catalog.current_setting('gcimpute.max_streams', true)::int THEN
					pg_catalog.format('the stream has %s workers, but gcimpute.max_streams is %s',
									  n.workers, pg_catalog.current_setting('gcimpute.max_streams'))
				END AS last_error,
		   w.latency_p50_ms, w.latency_p99_ms,
		   n.workers, w.entity_conflicts
	FROM @extschema@.gc_streams s
	CROSS JOIN @extschema@.gc_stream_here() h
	CROSS JOIN LATERAL (SELECT coalesce((s.options->>'workers')::int, 1) AS workers) n
	LEFT JOIN w ON w.stream_id = s.id
	LEFT JOIN @extschema@.gc_stream_errors e ON e.stream_id = s.id
	LEFT JOIN LATERAL (
		SELECT array_agg(f.partition ORDER BY f.partition) AS partitions,
			   array_agg(f.next_offset ORDER BY f.partition) AS committed_offsets,
			   sum(f.messages)::bigint AS messages, sum(f.duplicates)::bigint AS duplicates
		FROM @extschema@.gc_stream_offsets f WHERE f.stream_id = s.id) o ON true
	WHERE pg_catalog.pg_has_role(current_user, s.owner, 'USAGE');
COMMENT ON VIEW gc_stream_status IS 'one row per stream: state, per-partition committed offsets and high watermarks, lag, throughput, duplicates, dead letters, imputed cells, last error, end-to-end latency, workers and entities seen by two of them';
GRANT SELECT ON gc_stream_status TO PUBLIC;

/*
 * One row per running worker of a stream ("workers" option): its partitions with their
 * committed offsets (gc_stream_offsets) and high watermarks, and what it did since it
 * started.  messages, duplicates and dead_letters are the committed counts of its
 * partitions, as in gc_stream_status.
 */
CREATE VIEW gc_stream_workers WITH (security_barrier = true) AS
	SELECT s.name, w.worker, w.workers, w.pid, w.state, w.started_at, w.partitions,
		   o.committed_offsets, w.high_watermarks,
		   (SELECT sum(greatest(hw - co, 0))::bigint
			FROM unnest(w.partitions, w.high_watermarks, o.committed_offsets) AS x(p, hw, co)) AS lag,
		   w.rows_written, w.rows_per_s, o.messages, o.duplicates,
		   (SELECT count(*) FROM @extschema@.gc_dead_letters d
			WHERE d.stream_id = s.id AND d.partition = ANY (w.partitions)) AS dead_letters,
		   w.imputed_cells, w.late_updates, w.pending_rows, w.entity_conflicts, w.last_error,
		   w.latency_p50_ms, w.latency_p99_ms
	FROM @extschema@.gc_streams s
	JOIN @extschema@.gc_stream_worker_status() w ON w.stream_id = s.id
	LEFT JOIN LATERAL (
		SELECT array_agg(f.next_offset ORDER BY u.i) AS committed_offsets,
			   sum(f.messages)::bigint AS messages, sum(f.duplicates)::bigint AS duplicates
		FROM unnest(w.partitions) WITH ORDINALITY AS u(p, i)
		LEFT JOIN @extschema@.gc_stream_offsets f ON f.stream_id = s.id AND f.partition = u.p) o ON true
	WHERE pg_catalog.pg_has_role(current_user, s.owner, 'USAGE');
COMMENT ON VIEW gc_stream_workers IS 'one row per running stream worker: its partitions, committed offsets, high watermarks, lag, counters, entities also seen by another worker, last error, pid';
GRANT SELECT ON gc_stream_workers TO PUBLIC;
