#!/usr/bin/env bash
# The main job, end to end on a fresh machine: install what is needed, build and install
# gcimpute, start a throwaway PostgreSQL, load the 2014 General Social Survey extract
# (2538 respondents x 18 questions, 25% of answers missing), hide 10% more answers, fit a
# Gaussian copula with gc_fit, impute with gc_impute, and show accuracy and imputed rows.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash test/setup.sh
export PG_CONFIG=${PG_CONFIG:-pg_config}
. test/pg.sh
gc_build "$top"

dir=${GC_DEMO_DIR:-/tmp/gcimpute-demo} port=${GC_DEMO_PORT:-54399}
pg_start "$dir" "$port"
trap 'pg_stop "$dir"' EXIT
cp test/data/GSS_2014_18var.csv "$dir/gss.csv" && chmod 644 "$dir/gss.csv"

psql_() { as_pg psql -X -q -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
psql_ <<SQL
CREATE EXTENSION gcimpute;
CREATE TABLE gss_raw (id text, degree float8, peocntct float8, stress float8, slpprblm float8,
  wksmooth float8, unemp float8, satfin float8, class float8, satjob float8, weekswrk float8,
  life float8, health float8, happy float8, rincome float8, incom16 float8, sexfreq float8,
  socbar float8, age float8);
\copy gss_raw FROM '$dir/gss.csv' WITH (FORMAT csv, HEADER, NULL 'NA')

-- one row per respondent as an array; the survey's own gaps are NULL
CREATE TABLE gss AS
SELECT id::int AS id, ARRAY[age, degree, rincome, class, satjob, weekswrk, happy, health] AS answers
FROM gss_raw;

\echo
\echo '== the data: 2538 respondents, 8 questions, answers missing per question'
SELECT (SELECT count(*) FROM gss) AS respondents,
       string_agg(format('%s %s%%', q, pct), ', ' ORDER BY j) AS missing_per_question
FROM (SELECT j, (ARRAY['age','degree','rincome','class','satjob','weekswrk','happy','health'])[j] AS q,
             round(100.0 * count(*) FILTER (WHERE answers[j] IS NULL) / count(*)) AS pct
      FROM gss, generate_series(1, 8) j GROUP BY j) s;

\echo
\echo '== hide 10% of the known answers (seeded), fit on what is left, impute everything'
CREATE TABLE masked AS SELECT id, answers, gc_mask_mcar(answers, 0.1, 101) AS seen FROM gss;
\timing on
CREATE TABLE model AS SELECT gc_fit(seen) AS m FROM masked;
\timing off
SELECT gc_model_info(m) -> 'types' AS detected_types, gc_model_info(m) -> 'iterations' AS em_iterations FROM model;

\echo
\echo '== accuracy on the hidden answers: scaled MAE per question (< 1 beats guessing the median)'
SELECT array(SELECT round(v::numeric, 3) FROM unnest(gc_smae(gc_impute(m, seen), answers, seen)) v) AS smae_per_question,
       round((SELECT avg(v) FROM unnest(gc_smae(gc_impute(m, seen), answers, seen)) v)::numeric, 4) AS smae_mean
FROM masked, model;

\echo
\echo '== a few respondents: what they answered (NULL = missing) and the completed rows'
SELECT id, seen AS answered, gc_impute(m, seen) AS completed
FROM masked, model WHERE array_position(seen, NULL) IS NOT NULL ORDER BY id LIMIT 6;

\echo
\echo '== the strongest dependencies the copula found (latent correlations)'
SELECT a.name || ' ~ ' || b.name AS pair, round((gc_correlation(m))[a.i][b.i]::numeric, 3) AS correlation
FROM model,
     unnest('{age,degree,rincome,class,satjob,weekswrk,happy,health}'::text[]) WITH ORDINALITY a(name, i),
     unnest('{age,degree,rincome,class,satjob,weekswrk,happy,health}'::text[]) WITH ORDINALITY b(name, i)
WHERE a.i < b.i ORDER BY abs((gc_correlation(m))[a.i][b.i]) DESC LIMIT 4;
SQL
