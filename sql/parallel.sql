-- parallel aggregation: gc_fit, gc_mae and gc_nrmse run as Partial Aggregate and give the serial result
CREATE TABLE par AS
SELECT i, ARRAY[CASE WHEN i % 7 = 0 THEN NULL ELSE i * 0.01 + sin(i) END,
                CASE WHEN i % 5 = 0 THEN NULL ELSE (i % 6)::float8 END,
                CASE WHEN i % 3 = 0 THEN NULL ELSE cos(i * 0.3) * 4 + i * 0.001 END] AS r
FROM generate_series(1, 30000) i;
ANALYZE par;

CREATE TABLE serial_model AS SELECT gc_fit(r) AS m FROM par;

SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;

EXPLAIN (COSTS OFF) SELECT gc_fit(r) FROM par;
EXPLAIN (COSTS OFF) SELECT gc_mae(r, r, r) FROM par;

CREATE TABLE parallel_model AS SELECT gc_fit(r) AS m FROM par;
SELECT s.m::text = p.m::text AS same_model FROM serial_model s, parallel_model p;

SELECT gc_fit(r, '{"tol": 0.01}')::text = (SELECT gc_fit(r, '{"tol": 0.01}') FROM (SELECT r FROM par ORDER BY i DESC) o)::text AS same_model_with_options
FROM par;

RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- imputation is costed (COST 1000): with the default parallel_setup_cost and
-- parallel_tuple_cost the planner evaluates it in parallel workers, as an aggregate's
-- input and as a plain projection (at COST 1 both plans were serial). The plans' node
-- types over the scanned table, top down (how EXPLAIN prints the model's InitPlan
-- differs between majors).
CREATE FUNCTION plan_shape(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	line text;
	shape text[] := '{}';
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
		IF line ~ '^\s*(->\s*)?((Finalize |Partial )?Aggregate|Gather|(Parallel )?Seq Scan on par$)' THEN
			shape := shape || regexp_replace(line, '^\s*(->\s*)?', '');
		END IF;
	END LOOP;
	RETURN array_to_string(shape, ' > ');
END
$$;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SELECT plan_shape('SELECT count(gc_impute((SELECT m FROM serial_model), r)) FROM par') AS aggregate_plan;
SELECT plan_shape('SELECT gc_impute((SELECT m FROM serial_model), r) FROM par') AS projection_plan;
SELECT count(*) FILTER (WHERE x[1] IS NULL OR x[2] IS NULL OR x[3] IS NULL) AS incomplete, count(*)
FROM (SELECT gc_impute((SELECT m FROM serial_model), r) AS x FROM par) t;
BEGIN;
ALTER FUNCTION gc_impute(gcmodel, float8[]) COST 1;
SELECT plan_shape('SELECT count(gc_impute((SELECT m FROM serial_model), r)) FROM par') AS aggregate_plan_cost1;
SELECT plan_shape('SELECT gc_impute((SELECT m FROM serial_model), r) FROM par') AS projection_plan_cost1;
ROLLBACK;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
DROP FUNCTION plan_shape(text);
