-- What pg_dump keeps: every table and sequence of the extension holds the user's data and
-- is marked with pg_extension_config_dump (sql/install/80_lifecycle.sql), whole.  A new
-- table that is not marked shows up here.
SELECT c.relname AS not_dumped, c.relkind
FROM pg_depend d
JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
JOIN pg_class c ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
WHERE e.extname = 'gcimpute' AND d.deptype = 'e' AND c.relkind IN ('r', 'p', 'S')
  AND c.oid <> ALL (e.extconfig)
ORDER BY 1;
SELECT u.cfg::regclass AS dumped, u.cond AS filter
FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(cfg, cond)
WHERE e.extname = 'gcimpute'
ORDER BY u.cfg::regclass::text COLLATE "C";

-- The text form of a model is exact (pg_dump writes models as text): the model read back
-- imputes bit for bit the same
SET extra_float_digits = 3;
CREATE TABLE lc_rows AS
SELECT i, ARRAY[CASE WHEN i % 5 = 0 THEN NULL ELSE sin(i * 0.37) * 3 + i * 0.01 END,
				CASE WHEN i % 7 = 0 THEN NULL ELSE (i % 4)::float8 END,
				CASE WHEN i % 3 = 0 THEN NULL ELSE exp(cos(i * 0.11)) END] AS r
FROM generate_series(1, 400) i;
CREATE TABLE lc_models AS
SELECT gc_fit(r) AS full, gc_fit(r, '{"rank": 1}') AS lowrank FROM lc_rows;
SELECT bool_and(gc_impute(m.full, r)::text = gc_impute(m.full::text::gcmodel, r)::text) AS full_exact,
	   bool_and(gc_impute(m.lowrank, r)::text = gc_impute(m.lowrank::text::gcmodel, r)::text) AS lowrank_exact,
	   bool_and(m.full::text::gcmodel::text = m.full::text) AS text_fixed_point
FROM lc_rows, lc_models m;
DROP TABLE lc_rows, lc_models;
