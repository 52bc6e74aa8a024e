-- gc_fit: fitting, type detection, options, determinism
SET extra_float_digits = 0;

-- a deterministic mixed data set: a continuous column, an ordinal one, a binary one,
-- a lower-truncated one (many exact zeros) and a constant one, with gaps
CREATE TABLE fitdata AS
SELECT i,
       CASE WHEN i % 7 = 0 THEN NULL ELSE sin(i * 0.37) * 10 + i % 13 END AS c1,
       CASE WHEN i % 5 = 0 THEN NULL ELSE (i % 4) + (CASE WHEN sin(i * 0.37) > 0 THEN 1 ELSE 0 END) END AS o2,
       CASE WHEN i % 11 = 0 THEN NULL ELSE (CASE WHEN sin(i * 0.37) + cos(i * 0.11) > 0 THEN 1 ELSE 0 END) END AS b3,
       CASE WHEN i % 3 = 0 THEN 0 ELSE abs(cos(i * 0.91)) * 5 + i * 0.001 END AS t4,
       CASE WHEN i % 9 = 0 THEN NULL ELSE 42 END AS k5
FROM generate_series(1, 400) AS i;

CREATE TABLE fitted AS
SELECT gc_fit(ARRAY[c1, o2, b3, t4, k5]) AS m FROM fitdata;

SELECT gc_model_info(m) -> 'types' AS types,
       gc_model_info(m) -> 'columns' AS columns,
       gc_model_info(m) -> 'rows' AS rows,
       gc_model_info(m) -> 'observed' AS observed,
       (gc_model_info(m) ->> 'converged')::bool AS converged
FROM fitted;

-- the correlation is a symmetric p x p matrix with a unit diagonal; the constant column is uncorrelated
SELECT array_dims(c) AS dims,
       (SELECT bool_and(abs(c[i][i] - 1) < 1e-12) FROM generate_series(1, 5) i) AS unit_diagonal,
       (SELECT bool_and(c[i][j] = c[j][i]) FROM generate_series(1, 5) i, generate_series(1, 5) j) AS symmetric,
       (SELECT bool_and(c[5][j] = 0) FROM generate_series(1, 4) j) AS constant_uncorrelated,
       c[1][2] > 0.2 AS c1_o2_correlated
FROM (SELECT gc_correlation(m) AS c FROM fitted) s;

-- deterministic, and independent of the order rows arrive in
SELECT (SELECT gc_fit(ARRAY[c1, o2, b3, t4, k5] ORDER BY i) FROM fitdata)::text =
       (SELECT gc_fit(ARRAY[c1, o2, b3, t4, k5] ORDER BY i DESC) FROM fitdata)::text AS order_independent;

-- declared types override detection; "types" may also map column numbers to types
SELECT gc_model_info(gc_fit(ARRAY[c1, o2, b3, t4], '{"types": ["continuous", "continuous", "auto", "continuous"]}')) -> 'types'
FROM fitdata;
SELECT gc_model_info(gc_fit(ARRAY[c1, o2, b3, t4], '{"types": {"2": "continuous"}}')) -> 'types'
FROM fitdata;

-- options: max_iter caps the iterations, tol changes when it stops
SELECT gc_model_info(gc_fit(ARRAY[c1, o2, b3, t4], '{"max_iter": 2, "tol": 1e-9}')) -> 'iterations' AS iters,
       gc_model_info(gc_fit(ARRAY[c1, o2, b3, t4], '{"max_iter": 2, "tol": 1e-9}')) -> 'converged' AS converged
FROM fitdata;
SELECT (gc_model_info(gc_fit(ARRAY[c1, o2, b3, t4], '{"tol": 0.1}')) ->> 'iterations')::int <
       (gc_model_info(gc_fit(ARRAY[c1, o2, b3, t4], '{"tol": 0.0001}')) ->> 'iterations')::int AS tighter_tol_more_iterations
FROM fitdata;

-- max_knots bounds the size of a marginal
SELECT gc_model_info(gc_fit(ARRAY[x, x * x], '{"max_knots": 16}')) -> 'knots' AS knots
FROM (SELECT i::float8 AS x FROM generate_series(1, 1000) i) s;

-- verbose prints one NOTICE per iteration
SELECT gc_model_info(gc_fit(ARRAY[a, b], '{"verbose": true, "max_iter": 3}')) -> 'iterations'
FROM (VALUES (1.0::float8, 2.0::float8), (2, 1), (3, 5), (4, 3), (5, NULL), (NULL, 4), (6, 6), (7, 8)) v(a, b);

-- a single observed level: a NOTICE, and the column is treated as constant
SELECT gc_model_info(gc_fit(ARRAY[a, b])) -> 'types'
FROM (VALUES (1.0::float8, 7.0::float8), (2, 7), (3, NULL), (4, 7)) v(a, b);

-- NULL rows are skipped; NaN counts as missing like NULL
SELECT gc_model_info(gc_fit(r)) -> 'rows' AS rows, gc_model_info(gc_fit(r)) -> 'observed' AS observed
FROM (VALUES (ARRAY[1, 2]::float8[]), (NULL), (ARRAY['NaN', 3]::float8[]), (ARRAY[4, NULL]::float8[]), (ARRAY[5, 6]::float8[])) v(r);

-- errors
SELECT gc_fit(r) FROM (VALUES (ARRAY[1, 2]::float8[]), (ARRAY[1, 2, 3]::float8[])) v(r);
SELECT gc_fit(r) FROM (VALUES (ARRAY[1, 2]::float8[]), (ARRAY['Infinity', 2]::float8[])) v(r);
SELECT gc_fit(r) FROM (VALUES (ARRAY[1, 2]::float8[]), (ARRAY['-Infinity', 2]::float8[])) v(r);
SELECT gc_fit(r) FROM (VALUES (ARRAY[1, NULL]::float8[]), (ARRAY[2, NULL]::float8[])) v(r);
SELECT gc_fit(r) FROM (VALUES (ARRAY[1, 2]::float8[])) v(r) WHERE false;
SELECT gc_fit(r) FROM (VALUES (NULL::float8[])) v(r);
SELECT gc_fit(r) FROM (VALUES ('{}'::float8[])) v(r);
SELECT gc_fit(r) FROM (VALUES ('{{1,2},{3,4}}'::float8[])) v(r);
SELECT gc_fit(ARRAY[c1, o2], '{"maxiter": 5}') FROM fitdata;
SELECT gc_fit(ARRAY[c1, o2], '[1, 2]') FROM fitdata;
SELECT gc_fit(ARRAY[c1, o2], '{"max_iter": 0}') FROM fitdata;
SELECT gc_fit(ARRAY[c1, o2], '{"max_iter": 2.5}') FROM fitdata;
SELECT gc_fit(ARRAY[c1, o2], '{"tol": 0}') FROM fitdata;
SELECT gc_fit(ARRAY[c1, o2], '{"tol": "small"}') FROM fitdata;
SELECT gc_fit(ARRAY[c1, o2], '{"min_ord_ratio": 1.5}') FROM fitdata;
SELECT gc_fit(ARRAY[c1, o2], '{"max_knots": 3}') FROM fitdata;
SELECT gc_fit(ARRAY[c1, o2], '{"verbose": 1}') FROM fitdata;
SELECT gc_fit(ARRAY[c1, o2], '{"training": "fast"}') FROM fitdata;
SELECT gc_fit(ARRAY[c1, o2], '{"types": ["continuous"]}') FROM fitdata;
SELECT gc_fit(ARRAY[c1, o2], '{"types": ["continuous", "nominal"]}') FROM fitdata;
SELECT gc_fit(ARRAY[c1, o2], '{"types": {"3": "ordinal"}}') FROM fitdata;
SELECT gc_fit(ARRAY[c1, o2], '{"types": {"x": "ordinal"}}') FROM fitdata;
SELECT gc_fit(ARRAY[c1, o2], '{"types": ["binary", "auto"]}') FROM fitdata;
SELECT gc_model_info(gc_fit(ARRAY[c1, t4], '{"types": ["auto", "upper_truncated"]}')) -> 'types' FROM fitdata;

-- memory is checked against maintenance_work_mem, with a hint
SET maintenance_work_mem = '1MB';
SELECT gc_fit(ARRAY[i, i, i, i, i, i, i, i]::float8[]) FROM generate_series(1, 5000) i;
RESET maintenance_work_mem;
