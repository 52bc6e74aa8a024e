-- evaluation: gc_mask_mcar, gc_smae, gc_mae, gc_nrmse
SET extra_float_digits = 0;

-- masking is deterministic in (row, seed), masks about the requested fraction, keeps one entry
SELECT gc_mask_mcar(ARRAY[1, 2, 3, 4, 5, 6, 7, 8]::float8[], 0.5, 42) = gc_mask_mcar(ARRAY[1, 2, 3, 4, 5, 6, 7, 8]::float8[], 0.5, 42) AS deterministic;
SELECT gc_mask_mcar(ARRAY[1, 2, 3, 4]::float8[], 0, 1) AS none_masked,
       gc_mask_mcar(ARRAY[1, 2, 3, 4]::float8[], 1, 1) IS NOT NULL AS all_but_one,
       (SELECT count(*) FROM unnest(gc_mask_mcar(ARRAY[1, 2, 3, 4]::float8[], 1, 1)) v WHERE v IS NOT NULL) AS kept;
SELECT round(avg(masked)::numeric, 2) AS masked_share
FROM (SELECT (SELECT count(*) FILTER (WHERE v IS NULL) FROM unnest(gc_mask_mcar(ARRAY[i, i + 1, i + 2, i + 3, i + 4]::float8[], 0.2, 7)) v) / 5.0 AS masked
      FROM generate_series(1, 4000) i) s;
SELECT gc_mask_mcar(ARRAY[1, NULL, 3]::float8[], 0, 1) AS missing_stays_missing;
SELECT gc_mask_mcar(ARRAY[1, 2]::float8[], 1.5, 1);
SELECT gc_mask_mcar(ARRAY[1, 2]::float8[], 'NaN', 1);

-- SMAE by hand: column 1 masked entries (truth 4, 10), observed values {1, 2, 3} -> median 2;
-- imputation errors |5-4| + |8-10| = 3, median errors |2-4| + |2-10| = 10 -> 0.3.
-- Column 2 has no test entries -> NULL.
SELECT gc_smae(imp, truth, masked), gc_mae(imp, truth, masked), round(gc_nrmse(imp, truth, masked)::numeric, 6)
FROM (VALUES (ARRAY[1, 1]::float8[], ARRAY[1, 1]::float8[], ARRAY[1, 1]::float8[]),
             (ARRAY[2, 2]::float8[], ARRAY[2, 2]::float8[], ARRAY[2, 2]::float8[]),
             (ARRAY[3, 3]::float8[], ARRAY[3, 3]::float8[], ARRAY[3, 3]::float8[]),
             (ARRAY[5, 4]::float8[], ARRAY[4, 4]::float8[], ARRAY[NULL, 4]::float8[]),
             (ARRAY[8, 5]::float8[], ARRAY[10, 5]::float8[], ARRAY[NULL, 5]::float8[])) v(imp, truth, masked);

-- entries missing in the truth are not test entries
SELECT gc_mae(imp, truth, masked)
FROM (VALUES (ARRAY[5]::float8[], ARRAY[NULL]::float8[], ARRAY[NULL]::float8[]),
             (ARRAY[1]::float8[], ARRAY[2]::float8[], ARRAY[NULL]::float8[])) v(imp, truth, masked);

-- no rows: NULL
SELECT gc_smae(a, a, a), gc_mae(a, a, a), gc_nrmse(a, a, a) FROM (SELECT ARRAY[1]::float8[] AS a WHERE false) s;

-- errors
SELECT gc_smae(ARRAY[1, 2]::float8[], ARRAY[1]::float8[], ARRAY[1]::float8[]);
SELECT gc_mae(a, a, a) FROM (VALUES (ARRAY[1]::float8[]), (ARRAY[1, 2]::float8[])) v(a);
SELECT gc_smae(ARRAY[NULL]::float8[], ARRAY[1]::float8[], ARRAY[NULL]::float8[]);

-- rows with NULLs are read position by position (the reader expands eight positions at a time
-- where the CPU can): every width 1..70 and a 400-wide row, random NULL patterns, NaN too
SELECT count(*) AS rows_checked,
       bool_and(gc_mask_mcar(r, 0, 1) IS NOT DISTINCT FROM
                (SELECT array_agg(CASE WHEN v = 'NaN' THEN NULL ELSE v END ORDER BY o)
                 FROM unnest(r) WITH ORDINALITY u(v, o))) AS read_back_exactly
FROM (SELECT (SELECT array_agg(CASE WHEN (w * 7919 + j * 104729 + s * 31) % 5 = 0 THEN NULL
                                    WHEN (w * 13 + j * 17 + s) % 23 = 0 THEN 'NaN'::float8
                                    ELSE w * 1000 + j END ORDER BY j)
              FROM generate_series(1, w) j) AS r
      FROM generate_series(1, 70) w, generate_series(0, 3) s
      UNION ALL
      SELECT (SELECT array_agg(CASE WHEN j % 3 <> 1 THEN j::float8 END ORDER BY j)
              FROM generate_series(1, 400) j)) t;
