-- multiple imputation and confidence intervals
SET extra_float_digits = 0;
CREATE TABLE u AS
SELECT i, ARRAY[i * 0.1 + sin(i), (i % 5)::float8, cos(i) * 3 + i * 0.05, 7] AS r
FROM generate_series(1, 500) i;
CREATE TABLE um AS SELECT gc_fit(r) AS m FROM u;

-- m draws; observed entries fixed; reproducible per seed; different seeds differ
SELECT count(*) AS draws, bool_and(v[3] = 10 AND v[2] = 2) AS observed_fixed,
       count(DISTINCT v[1]) > 1 AS draws_vary, bool_and(v[4] = 7) AS constant_column
FROM um, gc_impute_multiple(m, ARRAY[NULL, 2, 10, NULL]::float8[], 20, 1) v;
SELECT array_agg(v) = (SELECT array_agg(w) FROM um, gc_impute_multiple(m, ARRAY[NULL, 2, 10, NULL]::float8[], 5, 1) w) AS reproducible,
       array_agg(v) <> (SELECT array_agg(w) FROM um, gc_impute_multiple(m, ARRAY[NULL, 2, 10, NULL]::float8[], 5, 2) w) AS seed_matters
FROM um, gc_impute_multiple(m, ARRAY[NULL, 2, 10, NULL]::float8[], 5, 1) v;

-- ordinal columns are drawn as observed levels
SELECT bool_and(v[2] IN (0, 1, 2, 3, 4)) AS levels
FROM um, gc_impute_multiple(m, ARRAY[5, NULL, NULL, 7]::float8[], 50, 9) v;

-- the median of many draws approaches the single imputation (monotone marginals keep medians)
SELECT abs(percentile_cont(0.5) WITHIN GROUP (ORDER BY v[1]) - (SELECT (gc_impute(m, ARRAY[NULL, 2, 10, 7]::float8[]))[1] FROM um)) < 1.5 AS median_close
FROM um, gc_impute_multiple(m, ARRAY[NULL, 2, 10, 7]::float8[], 4000, 5) v;

-- intervals: observed entries have no bounds; imputed ones bracket the estimate; wider at higher level
SELECT col, imputed, lower IS NULL AS no_bounds, lower <= estimate AND estimate <= upper AS brackets
FROM um, gc_impute_interval(m, ARRAY[NULL, 2, NULL, 7]::float8[]);
SELECT (SELECT upper - lower FROM um, gc_impute_interval(m, ARRAY[NULL, 2, 10, 7]::float8[], 0.99) WHERE col = 1) >
       (SELECT upper - lower FROM um, gc_impute_interval(m, ARRAY[NULL, 2, 10, 7]::float8[], 0.5) WHERE col = 1) AS wider;

-- errors
SELECT * FROM um, gc_impute_multiple(m, ARRAY[NULL, 2, 10, 7]::float8[], 0, 1);
SELECT * FROM um, gc_impute_multiple(m, ARRAY[NULL, 2, 10, 7]::float8[], 1000000000, 1);
SELECT * FROM um, gc_impute_multiple(m, ARRAY[NULL, 2, 10]::float8[], 3, 1);
SELECT * FROM um, gc_impute_interval(m, ARRAY[NULL, 2, 10, 7]::float8[], 1.5);
SELECT * FROM um, gc_impute_interval(m, ARRAY[NULL, 2, 10, 7]::float8[], 0);
