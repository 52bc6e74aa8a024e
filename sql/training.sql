-- training modes: minibatch-offline, minibatch-online, and gc_update (online refresh)
SET extra_float_digits = 0;
CREATE TABLE tr AS
SELECT i, ARRAY[CASE WHEN i % 7 = 0 THEN NULL ELSE 3 * sin(i * 0.05) + 0.5 * cos(i * 1.7) END,
                CASE WHEN i % 5 = 0 THEN NULL ELSE floor(2.5 + 2 * sin(i * 0.05) + cos(i * 1.3))::float8 END,
                CASE WHEN i % 3 = 0 THEN NULL ELSE 3 * sin(i * 0.05) + cos(i * 0.7) END] AS r
FROM generate_series(1, 3000) i;

-- each mode gives a usable model that knows how it was trained
SELECT m ->> 'training' AS training, m -> 'types' AS types, (m ->> 'rows')::int AS rows,
       (m ->> 'iterations')::int > 0 AS iterated
FROM (SELECT gc_model_info(gc_fit(r, '{"training": "standard"}')) AS m FROM tr
      UNION ALL SELECT gc_model_info(gc_fit(r, '{"training": "minibatch-offline"}')) FROM tr
      UNION ALL SELECT gc_model_info(gc_fit(r, '{"training": "minibatch-online"}')) FROM tr) s;

-- mini-batch offline visits every row: at least ceil(3000/100) batches even with a loose tol
SELECT (gc_model_info(gc_fit(r, '{"training": "minibatch-offline", "tol": 0.5}')) ->> 'iterations')::int >= 30 AS visits_all
FROM tr;
-- num_pass and batch_size set the number of batches
SELECT gc_model_info(gc_fit(r, '{"training": "minibatch-offline", "batch_size": 500, "num_pass": 1, "tol": 1e-12}')) -> 'iterations'
FROM tr;
-- the seed changes the permutation; the same seed repeats the fit
SELECT gc_fit(r, '{"training": "minibatch-offline", "seed": 1}')::text = gc_fit(r, '{"training": "minibatch-offline", "seed": 1}')::text AS same_seed_same_model,
       gc_fit(r, '{"training": "minibatch-offline", "seed": 1}')::text <> gc_fit(r, '{"training": "minibatch-offline", "seed": 2}')::text AS seed_matters
FROM tr;

-- all modes agree on the strong correlation between columns 1 and 3
SELECT bool_and((gc_correlation(m))[1][3] > 0.5) AS agree
FROM (SELECT gc_fit(r) AS m FROM tr
      UNION ALL SELECT gc_fit(r, '{"training": "minibatch-offline"}') FROM tr
      UNION ALL SELECT gc_fit(r, '{"training": "minibatch-online"}') FROM tr) s;

-- gc_update: a model fitted on the first rows continues with the rest
CREATE TABLE first_part AS SELECT gc_fit(r) AS m FROM tr WHERE i <= 1000;
CREATE TABLE updated AS
SELECT gc_update((SELECT m FROM first_part), r ORDER BY i) AS m FROM tr WHERE i > 1000;
SELECT gc_model_info(m) ->> 'rows' AS rows, gc_model_info(m) ->> 'training' AS training,
       gc_model_info(m) -> 'types' = (SELECT gc_model_info(m) -> 'types' FROM first_part) AS same_types
FROM updated;
SELECT abs((gc_correlation(u.m))[1][3] - (gc_correlation(f.m))[1][3]) < 0.2 AS stays_close
FROM updated u, (SELECT gc_fit(r) AS m FROM tr) f;
-- imputation works with updated and online models
SELECT array_length(gc_impute(m, ARRAY[NULL, 2, 1]::float8[]), 1) AS len FROM updated;
-- options of gc_update
SELECT gc_model_info(gc_update((SELECT m FROM first_part), r, '{"batch_size": 50, "stepsize": 0.1, "decay": 0.001}')) ->> 'rows' AS rows
FROM tr WHERE i > 1000;
-- no new rows (only NULL rows): the same correlation and marginals come back
SELECT gc_correlation(u) = (SELECT gc_correlation(m) FROM first_part) AS same_correlation,
       gc_model_info(u) -> 'knots' = (SELECT gc_model_info(m) -> 'knots' FROM first_part) AS same_marginals
FROM (SELECT gc_update((SELECT m FROM first_part), NULL::float8[]) AS u FROM generate_series(1, 3)) s;

-- parallel plans for online modes combine partial states (approximately the serial model)
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
-- the plan's nodes; how EXPLAIN shows an InitPlan's parameters differs between majors
CREATE FUNCTION plan_nodes(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		CONTINUE WHEN line ~ '^\s*Params Evaluated:';
		RETURN NEXT regexp_replace(line, '(InitPlan [0-9]+).*', '\1');
	END LOOP;
END
$$;
SELECT plan_nodes('SELECT gc_update((SELECT m FROM first_part), r) FROM tr');
SELECT gc_model_info(gc_fit(r, '{"training": "minibatch-online"}')) ->> 'rows' AS rows_parallel FROM tr;
SELECT gc_model_info(gc_update((SELECT m FROM first_part), r)) ->> 'rows' AS rows_parallel FROM tr WHERE i > 1000;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- errors
SELECT gc_fit(r, '{"training": "minibatch-offline", "batch_size": 1}') FROM tr;
SELECT gc_fit(r, '{"training": "minibatch-offline", "num_pass": 0}') FROM tr;
SELECT gc_fit(r, '{"training": "minibatch-online", "stepsize": 0}') FROM tr;
SELECT gc_fit(r, '{"training": "minibatch-online", "decay": 1}') FROM tr;
SELECT gc_fit(r, '{"training": "minibatch-offline", "seed": 1.5}') FROM tr;
SELECT gc_update((SELECT m FROM first_part), ARRAY[1, 2]::float8[]);
SELECT gc_update((SELECT m FROM first_part), ARRAY[1, 2, 3, 4]::float8[]);
SELECT gc_update(NULL::gcmodel, ARRAY[1, 2, 3]::float8[]);
SELECT gc_update((SELECT m FROM first_part), r, '{"tol": 0.1}') FROM tr;
SELECT gc_update((SELECT m FROM first_part), r, '{"types": ["ordinal", "ordinal", "ordinal"]}') FROM tr;
SELECT gc_update((SELECT m FROM first_part), r, '{"batch_size": 0}') FROM tr;

-- no new rows: gc_update returns the model it was given, so the refresh pattern of the
-- docs keeps the model; from a model column of the aggregated rows there is none (NULL)
SELECT gc_update((SELECT m FROM first_part), r)::text = (SELECT m::text FROM first_part) AS unchanged
FROM tr WHERE false;
CREATE TABLE tr_models AS SELECT 'm'::text AS name, m AS model FROM first_part;
UPDATE tr_models SET model = (SELECT gc_update(tr_models.model, r) FROM tr WHERE false)
RETURNING model::text = (SELECT m::text FROM first_part) AS kept;
SELECT gc_update(f.m, r) IS NULL AS no_model FROM tr, first_part f WHERE false;
SELECT gc_update((SELECT m FROM first_part), r, '{"batch_size": 10}') IS NOT NULL AS with_options
FROM tr WHERE false;
DROP TABLE tr_models;
-- and gc_fit over no rows names itself
SELECT gc_fit(r) FROM tr WHERE false;
