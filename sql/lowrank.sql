-- gc_fit with "rank": the low-rank Gaussian copula (Σ = WWᵀ + σI), its model, imputation, I/O, errors
SET extra_float_digits = 0;
SET jit = off;  -- tiny tables without statistics would otherwise be JIT-compiled

-- eight columns driven by two latent factors f1, f2 plus noise: continuous, ordinal and binary
-- columns, with gaps; x1 is also kept complete (x1_true) to score the imputation
CREATE TABLE lrdata AS
SELECT i, x1 AS x1_true,
       CASE WHEN i % 7 = 0 THEN NULL ELSE x1 END AS x1,
       CASE WHEN i % 9 = 0 THEN NULL ELSE f1 - f2 + 0.3 * cos(i * 2.3) END AS x2,
       CASE WHEN i % 5 = 0 THEN NULL ELSE 2 * f2 + 0.3 * sin(i * 3.1) END AS x3,
       CASE WHEN i % 11 = 0 THEN NULL ELSE round(f1 + f2 + 2) END AS x4,
       CASE WHEN i % 13 = 0 THEN NULL ELSE (f1 > 0)::int::float8 END AS x5,
       CASE WHEN i % 6 = 0 THEN NULL ELSE 3 * f2 + 0.5 * sin(i * 5.3) END AS x6,
       CASE WHEN i % 8 = 0 THEN NULL ELSE round(2 * (f1 - f2)) END AS x7,
       f1 * 0.5 + f2 * 0.5 + 0.2 * sin(i * 7.7) AS x8
FROM (SELECT i, sin(i * 0.37) AS f1, cos(i * 0.91) AS f2,
             sin(i * 0.37) + 0.3 * sin(i * 1.7) AS x1
      FROM generate_series(1, 400) AS i) s;

CREATE TABLE lrfit AS
SELECT gc_fit(ARRAY[x1, x2, x3, x4, x5, x6, x7, x8], '{"rank": 2}') AS m FROM lrdata;

-- the model says what it is
SELECT gc_model_info(m) -> 'kind' AS kind,
       gc_model_info(m) -> 'rank' AS rank,
       gc_model_info(m) -> 'columns' AS columns,
       gc_model_info(m) -> 'types' AS types,
       (gc_model_info(m) ->> 'converged')::bool AS converged,
       (gc_model_info(m) ->> 'iterations')::int > 1 AS several_iterations,
       (gc_model_info(m) ->> 'sigma')::float8 BETWEEN 0.01 AND 0.99 AS sigma_in_range
FROM lrfit;

-- the correlation is WWᵀ + σI: unit diagonal, exactly symmetric, equal to the stored factors
WITH j AS MATERIALIZED (SELECT m::text::jsonb AS j, gc_correlation(m) AS c FROM lrfit)
SELECT bool_and(c[a][a] = 1) AS unit_diagonal,
       bool_and(c[a][b] = c[b][a]) AS symmetric,
       bool_and(abs(c[a][b] - CASE WHEN a = b THEN 1 ELSE
                    (SELECT sum((j -> 'W' -> (a - 1) ->> t)::float8 * (j -> 'W' -> (b - 1) ->> t)::float8)
                     FROM generate_series(0, 1) t) END) < 1e-12) AS equals_w_wt,
       bool_and(abs((j ->> 'sigma')::float8 +
                    (SELECT sum(((j -> 'W' -> (a - 1) ->> t)::float8) ^ 2) FROM generate_series(0, 1) t) - 1) < 1e-12)
           AS rows_of_unit_variance,
       abs(c[1][2]) > 0.5 AS x1_x2_correlated
FROM j, generate_series(1, 8) a, generate_series(1, 8) b
GROUP BY c;

-- deterministic, and independent of the order rows arrive in
SELECT (SELECT gc_fit(ARRAY[x1, x2, x3, x4, x5, x6, x7, x8], '{"rank": 2}' ORDER BY i) FROM lrdata)::text =
       (SELECT gc_fit(ARRAY[x1, x2, x3, x4, x5, x6, x7, x8], '{"rank": 2}' ORDER BY i DESC) FROM lrdata)::text
       AS order_independent;

-- gc_impute: observed entries come back unchanged, every missing entry is filled
SELECT count(*) AS rows_with_gaps,
       bool_and(NOT EXISTS (SELECT 1 FROM generate_series(1, 8) j
                            WHERE x[j] IS NULL OR (r[j] IS NOT NULL AND x[j] <> r[j]))) AS observed_kept_missing_filled
FROM (SELECT r, gc_impute(m, r) AS x
      FROM (SELECT ARRAY[x1, x2, x3, x4, x5, x6, x7, x8] AS r FROM lrdata) d, lrfit
      WHERE array_position(r, NULL) IS NOT NULL) s;

-- imputed levels are observed levels, and the hidden x1 is predicted far better than by its median
SELECT bool_and(x[4] IN (SELECT DISTINCT x4 FROM lrdata WHERE x4 IS NOT NULL)) AS ordinal_levels
FROM (SELECT gc_impute(m, ARRAY[x1, x2, x3, NULL, x5, x6, x7, x8]) AS x FROM lrdata, lrfit) s;
SELECT avg(abs(x[1] - x1_true)) < 0.5 * avg(abs(med - x1_true)) AS beats_median
FROM (SELECT x1_true, gc_impute(m, ARRAY[NULL, x2, x3, x4, x5, x6, x7, x8]) AS x,
             (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x1) FROM lrdata) AS med
      FROM lrdata, lrfit WHERE x1 IS NULL) s;

-- the Woodbury imputation of a low-rank model equals imputation from its dense correlation
-- (the same model relabelled "full")
CREATE TABLE lrdense AS
SELECT replace(m::text, '"kind": "low_rank"', '"kind": "full"')::gcmodel AS m FROM lrfit;
SELECT gc_model_info(m) -> 'kind' AS kind FROM lrdense;
SELECT bool_and(abs(a - b) < 1e-9 * (1 + abs(b))) AS woodbury_equals_dense
FROM (SELECT unnest(gc_impute(lr.m, r)) AS a, unnest(gc_impute(dn.m, r)) AS b
      FROM (SELECT ARRAY[x1, x2, x3, x4, x5, x6, x7, x8] AS r FROM lrdata) d, lrfit lr, lrdense dn) s;

-- multiple imputation and intervals work on a low-rank model too (from its correlation)
SELECT count(*) AS draws,
       bool_and(v[2] = 0.2 AND v[4] = 2 AND v[1] IS NOT NULL AND v[3] IS NOT NULL) AS observed_kept
FROM lrfit, gc_impute_multiple(m, ARRAY[NULL, 0.2, NULL, 2, 1, NULL, 1, 0.1]::float8[], 5, 7) AS v;
SELECT col, imputed, lower <= estimate AND estimate <= upper AS ordered
FROM lrfit, gc_impute_interval(m, ARRAY[NULL, 0.2, NULL, 2, 1, NULL, 1, 0.1]::float8[], 0.9)
ORDER BY col;

-- online updates are for full models only
SELECT gc_update(m, ARRAY[1, 0.2, 0.3, 2, 1, 0.5, 1, 0.1]::float8[]) FROM lrfit;

-- a constant column stays outside the copula
SELECT gc_model_info(m) -> 'types' AS types,
       (SELECT bool_and(c[9][j] = (j = 9)::int) FROM generate_series(1, 9) j) AS constant_uncorrelated,
       (gc_impute(m, ARRAY[1, NULL, NULL, 2, 0, NULL, 0, NULL, NULL]::float8[]))[9] AS constant_imputed
FROM (SELECT m, gc_correlation(m) AS c
      FROM (SELECT gc_fit(ARRAY[x1, x2, x3, x4, x5, x6, x7, x8, 42], '{"rank": 2}') AS m FROM lrdata) f) s;

-- text round trip is exact, and the round-tripped model imputes the same
SELECT m::text::gcmodel::text = m::text AS text_roundtrip,
       gc_impute(m::text::gcmodel, ARRAY[NULL, 0.2, NULL, 2, 1, NULL, 1, 0.1]::float8[]) =
       gc_impute(m, ARRAY[NULL, 0.2, NULL, 2, 1, NULL, 1, 0.1]::float8[]) AS same_imputation
FROM lrfit;

-- binary round trip through COPY
DO $$
BEGIN
	EXECUTE format('COPY lrfit TO %L WITH (FORMAT binary)', '/tmp/gcimpute_regress_lowrank_' || pg_backend_pid() || '.bin');
	CREATE TEMP TABLE lrfit2 (m gcmodel);
	EXECUTE format('COPY lrfit2 FROM %L WITH (FORMAT binary)', '/tmp/gcimpute_regress_lowrank_' || pg_backend_pid() || '.bin');
END $$;
SELECT a.m::text = b.m::text AS binary_roundtrip,
       gc_model_info(b.m) -> 'kind' AS kind,
       gc_model_info(b.m) -> 'rank' AS rank
FROM lrfit a, lrfit2 b;

-- errors: rank out of range, not an integer, not a number, with another training mode,
-- not below the number of non-constant columns
SELECT gc_fit(ARRAY[x1, x2, x3], '{"rank": 0}') FROM lrdata;
SELECT gc_fit(ARRAY[x1, x2, x3], '{"rank": -1}') FROM lrdata;
SELECT gc_fit(ARRAY[x1, x2, x3], '{"rank": 3}') FROM lrdata;
SELECT gc_fit(ARRAY[x1, x2, x3], '{"rank": 7}') FROM lrdata;
SELECT gc_fit(ARRAY[x1, x2, x3], '{"rank": 1.5}') FROM lrdata;
SELECT gc_fit(ARRAY[x1, x2, x3], '{"rank": "2"}') FROM lrdata;
SELECT gc_fit(ARRAY[x1, x2, x3], '{"rank": 1, "training": "minibatch-offline"}') FROM lrdata;
SELECT gc_fit(ARRAY[x1, 5, 6], '{"rank": 1}') FROM lrdata;
SELECT gc_fit(ARRAY[x1], '{"rank": 1}') FROM lrdata;

-- rank 1 (B's two strides both 1 in the E-step's products) with dependent columns: the
-- fit gives a model its own validator accepts
SELECT gc_fit(ARRAY[x1, x2, x3, x1 + x2, x2 - x3], '{"rank": 1}')::text::gcmodel IS NOT NULL AS rank1_valid,
       (gc_model_info(gc_fit(ARRAY[x1, x2, x3, x1 + x2, x2 - x3], '{"rank": 1}')) ->> 'rank')::int AS rank
FROM lrdata;
