#!/usr/bin/env bash
# Checksums of fits, imputations and sketches through SQL, to show that a restructuring
# changed no bit of any result: run it before and after and compare the output.
#
#   PG_CONFIG=... bash test/bench/fit_checksums.sh [port]
#
# Installs the worktree's build into PG_CONFIG's PostgreSQL, starts a throwaway cluster on
# port (default: GC_REGRESS_PORT + 5, else 54395) and prints one "name md5" line per result:
# the GSS extract (2538 x 18, mixed types) fitted by every training mode and at rank 5, with
# single, interval and multiple imputation; a synthetic 20000 x 50 continuous set with a
# 10% MCAR mask; an HLL and a count-min sketch of 200000 values; a latency fit.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export PG_CONFIG=${PG_CONFIG:-pg_config}
. "$top/test/pg.sh"
gc_build "$top"

port=${1:-$(( ${GC_REGRESS_PORT:-54390} + 5 ))}
dir=${GC_TEST_TMP:-/tmp}/fit-checksums
pg_start "$dir" "$port"
trap 'pg_stop "$dir"; rm -rf "$dir"' EXIT
cp "$top/test/data/GSS_2014_18var.csv" "$dir/gss.csv" && chmod 644 "$dir/gss.csv"

as_pg psql -X -q -A -t -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 <<SQL
SET extra_float_digits = 3;
SET max_parallel_workers_per_gather = 0;
CREATE EXTENSION gcimpute;
CREATE TABLE gss_raw (id int, c1 float8, c2 float8, c3 float8, c4 float8, c5 float8, c6 float8,
  c7 float8, c8 float8, c9 float8, c10 float8, c11 float8, c12 float8, c13 float8, c14 float8,
  c15 float8, c16 float8, c17 float8, c18 float8);
\copy gss_raw FROM '$dir/gss.csv' WITH (FORMAT csv, HEADER, NULL 'NA')
CREATE TABLE gss AS
SELECT id, ARRAY[c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18] AS r
FROM gss_raw;

-- 20000 x 50 continuous: five latent factors, skewed marginals, 10% missing (all seeded)
SELECT setseed(0.25);
CREATE TABLE syn AS
WITH f AS (
	SELECT i, array_agg(sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) ORDER BY k) AS z
	FROM generate_series(1, 20000) i, generate_series(1, 6) k GROUP BY i)
SELECT i AS id, gc_mask_mcar(array_agg(
		CASE j % 3 WHEN 0 THEN exp(0.5 * (z[1 + j % 5] + 0.6 * z[6]))
		WHEN 1 THEN z[1 + j % 5] - 0.8 * z[1 + (j + 2) % 5] + 0.3 * z[6]
		ELSE power(abs(z[1 + (j + 1) % 5] + z[6]), 1.5) END ORDER BY j), 0.1, 7) AS r
FROM f, generate_series(0, 49) j GROUP BY i;

CREATE TABLE models AS
SELECT 'gss-standard' AS name, (SELECT gc_fit(r ORDER BY id) FROM gss) AS m
UNION ALL SELECT 'gss-minibatch-offline',
	(SELECT gc_fit(r, '{"training": "minibatch-offline", "seed": 3}' ORDER BY id) FROM gss)
UNION ALL SELECT 'gss-minibatch-online',
	(SELECT gc_fit(r, '{"training": "minibatch-online", "seed": 3}' ORDER BY id) FROM gss)
UNION ALL SELECT 'gss-rank5', (SELECT gc_fit(r, '{"rank": 5}' ORDER BY id) FROM gss)
UNION ALL SELECT 'syn-standard', (SELECT gc_fit(r ORDER BY id) FROM syn)
UNION ALL SELECT 'syn-rank8', (SELECT gc_fit(r, '{"rank": 8}' ORDER BY id) FROM syn);

SELECT name || '-model ' || md5(m::text) FROM models ORDER BY name;
SELECT name || '-corr ' || md5(gc_correlation(m)::text) FROM models ORDER BY name;
SELECT name || '-impute ' || md5(string_agg(gc_impute(m, r)::text, ';' ORDER BY id))
FROM models, gss WHERE name LIKE 'gss-%' GROUP BY name ORDER BY name;
SELECT name || '-impute ' || md5(string_agg(gc_impute(m, r)::text, ';' ORDER BY id))
FROM models, syn WHERE name LIKE 'syn-%' GROUP BY name ORDER BY name;
SELECT 'gss-standard-interval ' || md5(string_agg(iv::text, ';' ORDER BY id, iv.col))
FROM models, gss, LATERAL gc_impute_interval(m, r, 0.9) iv WHERE name = 'gss-standard';
SELECT 'gss-standard-multiple ' || md5(string_agg(d::text, ';' ORDER BY id, k))
FROM models, gss, LATERAL gc_impute_multiple(m, r, 3, id) WITH ORDINALITY AS t(d, k)
WHERE name = 'gss-standard';
SELECT 'gss-update ' || md5(gc_update(m, r ORDER BY id)::text)
FROM models, gss WHERE name = 'gss-minibatch-online' GROUP BY m::text;

SELECT 'hll ' || md5(gc_hll_agg(i)::text) FROM generate_series(1, 200000) i;
SELECT 'hll-text ' || md5(gc_hll_agg(i::text, 12)::text) FROM generate_series(1, 200000) i;
SELECT 'cms ' || md5(gc_cms_agg(i % 5000)::text) FROM generate_series(1, 200000) i;
SELECT 'latency ' || md5(gc_latency_fit(exp(0.3 * (i % 97) / 10.0) + (i % 13))::text)
FROM generate_series(1, 50000) i;
SQL
