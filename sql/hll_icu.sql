-- gc_hll and gc_sketch_hash under an ICU collation; skipped on a server built without ICU
-- (expected/hll_icu_1.out)
SELECT NOT EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu') AS skip_test \gset
\if :skip_test
\quit
\endif
SET extra_float_digits = 0;

-- a nondeterministic collation hashes equal strings equally
CREATE COLLATION hll_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
SELECT gc_hll_count(gc_hll_agg(x COLLATE hll_ci)) AS case_insensitive, gc_hll_count(gc_hll_agg(x)) AS case_sensitive
FROM (VALUES ('abc'), ('ABC'), ('Abc'), ('abd')) v(x);
SELECT bool_and(gc_sketch_hash(x COLLATE hll_ci) = hashtextextended(x COLLATE hll_ci, 0)) AS ci_same,
       count(DISTINCT gc_sketch_hash(x COLLATE hll_ci)) AS ci_hashes,
       count(DISTINCT gc_sketch_hash(x::bpchar COLLATE hll_ci)) AS ci_bpchar_hashes
FROM (VALUES ('abc'), ('ABC'), ('Abc'), ('abd')) v(x);
DROP COLLATION hll_ci;
