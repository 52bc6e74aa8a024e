-- gc_impute: conditional-mean imputation through the marginals
SET extra_float_digits = 0;

CREATE TABLE imp AS
SELECT i,
       CASE WHEN i % 7 = 0 THEN NULL ELSE i * 0.5 + 3 * sin(i * 0.7) END AS x,
       CASE WHEN i % 5 = 0 THEN NULL ELSE i * 0.25 + 2 * cos(i * 0.3) END AS y,
       CASE WHEN i % 6 = 0 THEN NULL ELSE (i / 40) + 1 END AS lvl,
       5.0::float8 AS k
FROM generate_series(1, 200) AS i;

CREATE TABLE impmodel AS SELECT gc_fit(ARRAY[x, y, lvl, k]) AS m FROM imp;
SELECT gc_model_info(m) -> 'types' FROM impmodel;

-- observed entries come back unchanged, to the bit
SELECT bool_and(r[1] IS NOT DISTINCT FROM o[1] OR o[1] IS NULL) AND bool_and(r[2] IS NOT DISTINCT FROM o[2] OR o[2] IS NULL)
       AND bool_and(r[3] IS NOT DISTINCT FROM o[3] OR o[3] IS NULL) AS observed_unchanged,
       bool_and(r[1] IS NOT NULL AND r[2] IS NOT NULL AND r[3] IS NOT NULL AND r[4] IS NOT NULL) AS complete
FROM (SELECT ARRAY[x, y, lvl, k] AS o, gc_impute(m, ARRAY[x, y, lvl, k]) AS r FROM imp, impmodel) s;

-- ordinal columns come back as observed levels; continuous ones inside the observed range
SELECT bool_and(r[3] IN (SELECT DISTINCT lvl FROM imp WHERE lvl IS NOT NULL)) AS ordinal_levels,
       bool_and(r[1] BETWEEN (SELECT min(x) FROM imp) AND (SELECT max(x) FROM imp)) AS within_range
FROM (SELECT gc_impute(m, ARRAY[x, y, lvl, k]) AS r FROM imp, impmodel) s;

-- strongly correlated columns: a missing x follows the observed y
SELECT (gc_impute(m, ARRAY[NULL, 10, NULL, NULL]))[1] < (gc_impute(m, ARRAY[NULL, 40, NULL, NULL]))[1] AS follows_y,
       (gc_impute(m, ARRAY[NULL, 40, NULL, NULL]))[4] AS constant_column
FROM impmodel;

-- NaN is missing like NULL; an all-missing row gets the marginal medians' neighbourhood
SELECT gc_impute(m, ARRAY['NaN', 20, 3, 5]::float8[]) = gc_impute(m, ARRAY[NULL, 20, 3, 5]) AS nan_is_missing,
       array_length(gc_impute(m, ARRAY[NULL, NULL, NULL, NULL]::float8[]), 1) AS all_missing_len
FROM impmodel;

-- imputing every row of a table in one query reuses the cached model
SELECT count(*) AS rows, count(*) FILTER (WHERE array_position(r, NULL) IS NULL) AS complete_rows
FROM (SELECT gc_impute(m, ARRAY[x, y, lvl, k]) AS r FROM imp, impmodel) s;

-- errors
SELECT gc_impute(m, ARRAY[1, 2, 3]) FROM impmodel;
SELECT gc_impute(m, ARRAY[1, 2, 3, 4, 5]) FROM impmodel;
SELECT gc_impute(m, ARRAY['Infinity', 2, 3, 4]::float8[]) FROM impmodel;
SELECT gc_impute(m, '{{1,2},{3,4}}') FROM impmodel;
SELECT gc_impute(m, '{}') FROM impmodel;
SELECT gc_impute(NULL, ARRAY[1, 2, 3, 4]) IS NULL AS strict_null;
