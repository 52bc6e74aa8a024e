-- gc_latency_fit and the latency-distribution functions.
SET extra_float_digits = 0;

-- The article's lognormal (m = scale = 0.7898, sigma = shape = 1.8964), sampled
-- deterministically at the quantiles (i - 0.5) / n: the fit must recover it.
CREATE TABLE lat_ln AS
SELECT gc_latency_quantile('{"family": "lognormal", "scale": 0.7898, "shape": 1.8964}', (i - 0.5) / 4000) AS s
FROM generate_series(1, 4000) i;
CREATE TABLE lat_fit AS SELECT gc_latency_fit(s) AS f FROM lat_ln;
SELECT f ->> 'best' AS best, f -> 'n' AS n,
       round((f #>> '{lognormal,scale}')::numeric, 3) AS scale,
       round((f #>> '{lognormal,shape}')::numeric, 3) AS shape,
       round((f #>> '{lognormal,mu}')::numeric, 3) AS mu,
       (f #>> '{lognormal,ks}')::float8 < 0.01 AS ks_small,
       (f #>> '{lognormal,aic}')::float8 < (f #>> '{gamma,aic}')::float8 AS beats_gamma,
       (f #>> '{lognormal,aic}')::float8 < (f #>> '{weibull,aic}')::float8 AS beats_weibull,
       round((f #>> '{lognormal,aic}')::numeric - (4 - 2 * (f #>> '{lognormal,loglik}')::numeric), 6) AS aic_check
FROM lat_fit;
SELECT jsonb_object_keys(f) AS key FROM lat_fit ORDER BY 1;
SELECT jsonb_object_keys(f -> 'gamma') AS gamma_key FROM lat_fit ORDER BY 1;

-- gamma (shape 2.5, scale 1.2) and Weibull (shape 0.8, scale 3) samples are recognised
SELECT gc_latency_fit(gc_latency_quantile('{"family": "gamma", "shape": 2.5, "scale": 1.2}', (i - 0.5) / 3000)) ->> 'best' AS gamma_best,
       gc_latency_fit(gc_latency_quantile('{"family": "weibull", "shape": 0.8, "scale": 3}', (i - 0.5) / 3000)) ->> 'best' AS weibull_best
FROM generate_series(1, 3000) i;
SELECT round((f #>> '{gamma,shape}')::numeric, 2) AS k, round((f #>> '{gamma,scale}')::numeric, 2) AS theta
FROM (SELECT gc_latency_fit(gc_latency_quantile('{"family": "gamma", "shape": 2.5, "scale": 1.2}', (i - 0.5) / 3000)) f
      FROM generate_series(1, 3000) i) x;
SELECT round((f #>> '{weibull,shape}')::numeric, 2) AS k, round((f #>> '{weibull,scale}')::numeric, 2) AS lambda
FROM (SELECT gc_latency_fit(gc_latency_quantile('{"family": "weibull", "shape": 0.8, "scale": 3}', (i - 0.5) / 3000)) f
      FROM generate_series(1, 3000) i) x;

-- functions on the fitted (best) model and on single members
SELECT round(gc_latency_quantile(f, 0.5)::numeric, 3) AS median,
       round(gc_latency_quantile(f, 0.99)::numeric, 2) AS p99,
       round(gc_latency_cdf(f, gc_latency_quantile(f, 0.9))::numeric, 6) AS cdf_of_p90,
       round(gc_latency_pdf(f, 1)::numeric, 4) AS pdf_1s,
       round(gc_latency_hazard(f, 8)::numeric, 4) AS hazard_8s,
       round((gc_latency_pdf(f, 8) / (1 - gc_latency_cdf(f, 8)))::numeric, 4) AS pdf_over_survival_8s
FROM lat_fit;
SELECT round(gc_latency_quantile(f -> 'gamma', 0.5)::numeric, 3) AS gamma_median,
       round(gc_latency_quantile(f -> 'weibull', 0.5)::numeric, 3) AS weibull_median
FROM lat_fit;
-- a hand-written model: mu/sigma or scale/shape
SELECT round(gc_latency_quantile('{"family": "lognormal", "mu": 0, "sigma": 1}', 0.975)::numeric, 4) AS e_to_1_96,
       round(gc_latency_cdf('{"family": "weibull", "shape": 1, "scale": 2}', 2)::numeric, 6) AS one_minus_e_inv,
       gc_latency_pdf('{"family": "gamma", "shape": 2, "scale": 1}', -1) AS negative_t,
       gc_latency_hazard('{"family": "weibull", "shape": 1, "scale": 4}', 100) AS constant_hazard;

-- allowed lateness: the wait after a window closes for a share of its readings
SELECT round(gc_latency_allowed_lateness(f, 0.99)::numeric, 2) AS wait_99_point,
       round(gc_latency_allowed_lateness(f, 0.99, 60)::numeric, 2) AS wait_99_60s_window,
       round(gc_latency_allowed_lateness(f, 0.95, 60)::numeric, 2) AS wait_95_60s_window,
       gc_latency_allowed_lateness(f, 0.5, 600) AS no_wait
FROM lat_fit;
-- exponential closed form: w = lambda ln(lambda (1 - e^(-W/lambda)) / (W (1 - c)))
SELECT abs(gc_latency_allowed_lateness('{"family": "weibull", "shape": 1, "scale": 2}', 0.99, 10)
           - 2 * ln(2 * (1 - exp(-5.0)) / (10 * 0.01))) < 1e-6 AS matches_closed_form;

-- bad inputs
SELECT gc_latency_fit(s) FROM (VALUES (1.0), (-2.0)) v(s);
SELECT gc_latency_fit(s) FROM (VALUES (1.0), ('NaN'::float8)) v(s);
SELECT gc_latency_fit(s) FROM (VALUES (1.0), ('Infinity'::float8)) v(s);
SELECT gc_latency_fit(s) FROM (VALUES (1.0), (0.0)) v(s);
SELECT gc_latency_fit(s) FROM (VALUES (1.0), (NULL)) v(s);
SELECT gc_latency_fit(s) FROM (VALUES (2.0), (2.0), (2.0)) v(s);
SELECT gc_latency_fit(s) FROM lat_ln WHERE false;
SELECT (gc_latency_fit(s) ->> 'n')::int AS nulls_skipped FROM (VALUES (1.0), (NULL), (3.0)) v(s);
SELECT gc_latency_quantile(f, 1) FROM lat_fit;
SELECT gc_latency_quantile(f, 0) FROM lat_fit;
SELECT gc_latency_quantile(f, 'NaN') FROM lat_fit;
SELECT gc_latency_allowed_lateness(f, 1.5) FROM lat_fit;
SELECT gc_latency_allowed_lateness(f, 0.9, -1) FROM lat_fit;
SELECT gc_latency_cdf(f, 'NaN') FROM lat_fit;
SELECT gc_latency_pdf('[1, 2]', 1);
SELECT gc_latency_pdf('{"family": "pareto", "shape": 1, "scale": 1}', 1);
SELECT gc_latency_pdf('{"family": "gamma", "shape": -1, "scale": 1}', 1);
SELECT gc_latency_pdf('{"family": "gamma", "shape": "big", "scale": 1}', 1);
SELECT gc_latency_pdf('{"family": "weibull", "scale": 1}', 1);
SELECT gc_latency_pdf('{"best": "gamma", "n": 3}', 1);
SELECT gc_latency_pdf('{"shape": 1, "scale": 1}', 1);

-- the samples are bounded by maintenance_work_mem
SET maintenance_work_mem = '1MB';
SELECT gc_latency_fit(g) FROM generate_series(1, 200000) g;
SELECT (gc_latency_fit(g) ->> 'n')::int AS fits_in_1mb FROM generate_series(1, 131072) g;
RESET maintenance_work_mem;

-- forced parallel fit gives the same model
CREATE TABLE lat_big AS SELECT s FROM lat_ln, generate_series(1, 10);
ANALYZE lat_big;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT gc_latency_fit(s) FROM lat_big;
CREATE TEMP TABLE lat_par AS SELECT gc_latency_fit(s) AS f FROM lat_big;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT p.f -> 'n' AS n, p.f ->> 'best' AS best,
       abs((p.f #>> '{gamma,shape}')::float8 - (q.f #>> '{gamma,shape}')::float8) < 1e-9 AS same_gamma,
       abs((p.f #>> '{lognormal,sigma}')::float8 - (q.f #>> '{lognormal,sigma}')::float8) < 1e-9 AS same_sigma
FROM lat_par p, (SELECT gc_latency_fit(s) AS f FROM lat_big) q;

DROP TABLE lat_ln, lat_fit, lat_big;
