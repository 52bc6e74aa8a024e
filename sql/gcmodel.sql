-- the gcmodel type: text (JSON) and binary I/O, validation of hand-edited models
SET extra_float_digits = 0;

CREATE TABLE io AS
SELECT gc_fit(ARRAY[x, y, z]) AS m
FROM (SELECT i * 1.5 + sin(i) AS x, CASE WHEN i % 4 = 0 THEN NULL ELSE (i % 3)::float8 END AS y,
             CASE WHEN i % 5 = 0 THEN NULL ELSE cos(i) * i END AS z
      FROM generate_series(1, 60) i) s;

-- text round trip is exact
SELECT m::text::gcmodel::text = m::text AS text_roundtrip FROM io;

-- binary round trip through COPY
DO $$
BEGIN
	EXECUTE format('COPY io TO %L WITH (FORMAT binary)', '/tmp/gcimpute_regress_' || pg_backend_pid() || '.bin');
	CREATE TEMP TABLE io2 (m gcmodel);
	EXECUTE format('COPY io2 FROM %L WITH (FORMAT binary)', '/tmp/gcimpute_regress_' || pg_backend_pid() || '.bin');
END $$;
SELECT io.m::text = io2.m::text AS binary_roundtrip FROM io, io2;

-- a small hand-written model is accepted and usable
CREATE TABLE hand AS SELECT '{"version": 1, "kind": "full", "p": 2, "rows": 4, "iterations": 1, "max_iter": 50,
  "converged": true, "ridge_steps": 0, "tol": 0.01, "delta": 0, "loglik": 0,
  "columns": [{"type": "continuous", "n": 4, "exact": true, "x": [1, 2, 3, 4], "cum": [1, 2, 3, 4], "mult": [1, 1, 1, 1]},
              {"type": "binary", "n": 4, "exact": true, "x": [0, 1], "cum": [2, 4], "mult": [2, 2]}],
  "correlation": [[1, 0.5], [0.5, 1]]}'::gcmodel AS m;
SELECT gc_model_info(m) FROM hand;
SELECT gc_correlation(m) FROM hand;
SELECT gc_impute(m, ARRAY[4, NULL]) AS high_x, gc_impute(m, ARRAY[1, NULL]) AS low_x FROM hand;

-- malformed or hand-edited text is rejected with a clear error
SELECT 'not json'::gcmodel;
SELECT '[1, 2]'::gcmodel;
SELECT '{"version": 3}'::gcmodel;
SELECT '{"version": 1, "kind": "full"}'::gcmodel;
SELECT '{"version": 1, "kind": "dense", "p": 1}'::gcmodel;
SELECT replace((SELECT m::text FROM hand), '"p": 2', '"p": 3')::gcmodel;
SELECT replace((SELECT m::text FROM hand), '[[1,0.5], [0.5,1]]', '[[1,0.5], [0.4,1]]')::gcmodel;
SELECT replace((SELECT m::text FROM hand), '[[1,0.5], [0.5,1]]', '[[1,1.5], [1.5,1]]')::gcmodel;
SELECT replace((SELECT m::text FROM hand), '[[1,0.5], [0.5,1]]', '[[2,0.5], [0.5,2]]')::gcmodel;
SELECT replace((SELECT m::text FROM hand), '[[1,0.5], [0.5,1]]', '[[1,0.5]]')::gcmodel;
SELECT replace((SELECT m::text FROM hand), '"x": [1,2,3,4]', '"x": [1,3,2,4]')::gcmodel;
SELECT replace((SELECT m::text FROM hand), '"x": [1,2,3,4]', '"x": [1,2,3]')::gcmodel;
SELECT replace((SELECT m::text FROM hand), '"cum": [1,2,3,4]', '"cum": [1,2,3,5]')::gcmodel;
SELECT replace((SELECT m::text FROM hand), '"type": "binary"', '"type": "categorical"')::gcmodel;
SELECT replace((SELECT m::text FROM hand), '"type": "binary"', '"type": "ordinal", "extra": 1')::gcmodel::text IS NOT NULL AS extra_keys_ignored;
SELECT replace((SELECT m::text FROM hand), '"mult": [2,2]', '"mult": [2,-2]')::gcmodel;
SELECT replace((SELECT m::text FROM hand), '"x": [0,1], "cum": [2,4], "mult": [2,2]', '"x": [0,1,2], "cum": [1,2,4], "mult": [1,1,2]')::gcmodel;

-- a non-positive-definite 3x3 "correlation" (unit diagonal, symmetric, |c| <= 1)
SELECT ('{"version": 1, "kind": "full", "p": 3, "rows": 4, "iterations": 1, "max_iter": 50,
  "converged": true, "ridge_steps": 0, "tol": 0.01, "delta": 0, "loglik": 0,
  "columns": [{"type": "continuous", "n": 2, "exact": true, "x": [1, 2], "cum": [1, 2], "mult": [1, 1]},
              {"type": "continuous", "n": 2, "exact": true, "x": [1, 2], "cum": [1, 2], "mult": [1, 1]},
              {"type": "continuous", "n": 2, "exact": true, "x": [1, 2], "cum": [1, 2], "mult": [1, 1]}],
  "correlation": [[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]]}')::gcmodel;

-- truncated or garbage binary input: craft binary COPY files around edited payloads
\set VERBOSITY terse
CREATE TEMP TABLE crafted (m gcmodel);
CREATE FUNCTION copy_binary_payload(payload bytea) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	f text := '/tmp/gcimpute_regress_crafted_' || pg_backend_pid() || '.bin';
	lo oid;
	res text;
BEGIN
	lo := lo_from_bytea(0, '\x5047434f50590aff0d0a00'::bytea || '\x0000000000000000'::bytea
		|| '\x0001'::bytea || int4send(length(payload)) || payload || '\xffff'::bytea);
	PERFORM lo_export(lo, f);
	PERFORM lo_unlink(lo);
	TRUNCATE crafted;
	EXECUTE format('COPY crafted FROM %L WITH (FORMAT binary)', f);
	SELECT gc_model_info(m)->>'columns' INTO res FROM crafted;
	RETURN res;
END $$;
SELECT copy_binary_payload(gcmodel_send(m)) AS intact_columns FROM io;
SELECT copy_binary_payload(substring(gcmodel_send(m) FROM 1 FOR 60)) FROM io;
SELECT copy_binary_payload(gcmodel_send(m) || '\x00'::bytea) FROM io;
SELECT copy_binary_payload('\x0003'::bytea || substring(gcmodel_send(m) FROM 3)) FROM io;
SELECT copy_binary_payload(substring(gcmodel_send(m) FROM 1 FOR 4) || int4send(100000) || substring(gcmodel_send(m) FROM 9)) FROM io;
SELECT copy_binary_payload(overlay(gcmodel_send(m) PLACING '\xffffffff'::bytea FROM 73 FOR 4)) FROM io;
SELECT copy_binary_payload('\x00'::bytea) FROM io;
\set VERBOSITY default
