-- Temporal copula: gc_fit_series, gc_impute_series, the temporal gcmodel, bad input.
SET extra_float_digits = 0;

-- Two sensors, 400 rows each, 1 s apart with a gap: three channels of an AR(1) latent
-- (coefficient 0.9; channel 2 follows channel 1), the third channel ordinal.
SELECT setseed(0.42);
CREATE TABLE ts_raw AS
SELECT e, i, random() AS u1, random() AS u2, random() AS u3, random() AS m
FROM generate_series(1, 2) e, generate_series(1, 400) i
ORDER BY e, i;
CREATE TABLE ts AS
WITH RECURSIVE ar(e, i, z1, z2, m, u) AS (
	SELECT e, i, 0.0::float8, 0.0::float8, m, u1 FROM ts_raw WHERE i = 1
	UNION ALL
	SELECT r.e, r.i,
		0.9 * ar.z1 + 0.44 * sqrt(-2 * ln(r.u1)) * cos(2 * pi() * r.u2),
		0.9 * ar.z2 + 0.3 * ar.z1 + 0.44 * sqrt(-2 * ln(r.u2)) * cos(2 * pi() * r.u3),
		r.m, r.u1
	FROM ar JOIN ts_raw r ON r.e = ar.e AND r.i = ar.i + 1
)
SELECT 's' || e AS sensor, i::float8 AS t,
	'2026-01-01 00:00:00+00'::timestamptz + i * interval '1 second' AS ts,
	ARRAY[z1, exp(z2), round(z2 + u - 0.5)] AS truth,
	ARRAY[CASE WHEN m < 0.15 THEN NULL ELSE z1 END,
		CASE WHEN m > 0.85 THEN NULL ELSE exp(z2) END,
		CASE WHEN m BETWEEN 0.4 AND 0.5 THEN NULL ELSE round(z2 + u - 0.5) END] AS r
FROM ar WHERE i NOT BETWEEN 200 AND 209;

CREATE TABLE tm AS
SELECT gc_fit_series(sensor, t, r, '{"lags": 2}' ORDER BY t) AS m,
	(SELECT gc_fit_series(sensor, ts, r, '{"lags": 2}' ORDER BY ts) FROM ts) AS m_ts,
	(SELECT gc_fit_series(sensor, t, r, '{}' ORDER BY t) FROM ts) AS m_auto,
	(SELECT gc_fit(r) FROM ts) AS plain
FROM ts;

-- the model: temporal, its lags and step; the timestamptz form gives the same model
SELECT i->>'kind' AS kind, i->'temporal' AS temporal, i->'lags' AS lags, i->'step' AS step,
	i->'types' AS types, i->'rows' AS rows
FROM tm, gc_model_info(m) i;
SELECT m::text = m_ts::text AS same_model FROM tm;
SELECT (gc_model_info(m_auto)->>'lags')::int BETWEEN 1 AND 6 AS auto_lags,
	gc_model_info(plain) ? 'lags' AS plain_has_lags FROM tm;
-- Γ(0) is gc_correlation; Γ(1) is oriented: channel 2 at t follows channel 1 at t − 1
SELECT gc_lag_correlation(m, 0) = gc_correlation(m) AS lag0_is_corr FROM tm;
SELECT round(g[1][1]::numeric, 1) AS g11, g[2][1] > g[1][2] + 0.05 AS oriented
FROM tm, gc_lag_correlation(m, 1) g;
-- text and binary round trips
SELECT m::text::gcmodel::text = m::text AS text_round_trip FROM tm;
CREATE TABLE tm_copy (m gcmodel);
DO $$
BEGIN
	EXECUTE format('COPY (SELECT m FROM tm) TO %L WITH (FORMAT binary)',
		'/tmp/gcimpute_regress_temporal_' || pg_backend_pid() || '.bin');
	EXECUTE format('COPY tm_copy FROM %L WITH (FORMAT binary)',
		'/tmp/gcimpute_regress_temporal_' || pg_backend_pid() || '.bin');
END $$;
SELECT c.m::text = tm.m::text AS binary_round_trip FROM tm_copy c, tm;

-- single-row functions treat the lags as missing
SELECT array_length(gc_impute(m, ARRAY[NULL, 1.5, 0]), 1) AS imputed_width,
	(gc_impute(m, ARRAY[NULL, 1.5, 0]))[2] = 1.5 AS observed_kept
FROM tm;
SELECT count(*) AS interval_rows FROM tm, gc_impute_interval(m, ARRAY[NULL, 1.5, 0]);
SELECT count(*) AS draws FROM tm, gc_impute_multiple(m, ARRAY[NULL, 1.5, 0], 3, 7);

-- gc_impute_series: observed cells kept; smooth beats causal beats the plain copula
CREATE TABLE ti AS
SELECT sensor, t, truth, r,
	gc_impute_series(m, t, r) OVER w AS smooth,
	gc_impute_series(m, t, r, '{"mode": "causal"}') OVER w AS causal,
	gc_impute_series(m_ts, ts, r, '{"mode": "causal"}') OVER (PARTITION BY sensor ORDER BY ts) AS causal_ts,
	gc_impute(plain, r) AS flat
FROM ts, tm
WINDOW w AS (PARTITION BY sensor ORDER BY t);
SELECT bool_and(smooth[k] = r[k] AND causal[k] = r[k]) AS observed_kept
FROM ti, generate_series(1, 3) k WHERE r[k] IS NOT NULL;
SELECT bool_and(causal = causal_ts) AS timestamptz_same FROM ti;
SELECT avg(abs(smooth[1] - truth[1])) < avg(abs(causal[1] - truth[1])) AS smooth_better,
	avg(abs(causal[1] - truth[1])) < 0.8 * avg(abs(flat[1] - truth[1])) AS causal_better
FROM ti WHERE r[1] IS NULL;
-- causal: a row's imputation does not change when later rows are removed (cut after a
-- row with a missing cell, which smooth imputes from the rows after it)
CREATE TABLE tcut AS
SELECT min(t) AS t FROM ts WHERE sensor = 's1' AND t >= 150 AND r[1] IS NULL;
SELECT bool_and(a.causal = b.c) AS causal_ignores_future
FROM ti a JOIN (
	SELECT sensor, t, gc_impute_series(m, t, r, '{"mode": "causal"}')
		OVER (PARTITION BY sensor ORDER BY t) AS c
	FROM ts, tm WHERE t <= (SELECT t FROM tcut)) b USING (sensor, t);
SELECT bool_and(a.smooth = b.s) AS smooth_uses_future
FROM ti a JOIN (
	SELECT sensor, t, gc_impute_series(m, t, r) OVER (PARTITION BY sensor ORDER BY t) AS s
	FROM ts, tm WHERE sensor = 's1' AND t <= (SELECT t FROM tcut)) b USING (sensor, t);
-- gc_impute on a temporal model is gc_impute_series with a span of no rows
SELECT bool_and(x = gc_impute(m, r)) AS single_row_is_span_0
FROM (SELECT r, gc_impute_series(m, t, r, '{"span": 0}') OVER (PARTITION BY sensor ORDER BY t) AS x
	FROM ts, tm) s, tm;
-- a wider span and a NULL row
SELECT count(*) AS rows, count(x) AS non_null
FROM (SELECT gc_impute_series(m, t, CASE WHEN t = 5 THEN NULL ELSE r END, '{"span": 4}')
	OVER (PARTITION BY sensor ORDER BY t) AS x FROM ts, tm) s;

-- ---------------------------------------------------------------- bad input
SELECT gc_fit_series(sensor, t, r, '{}' ORDER BY t DESC) FROM ts;
SELECT gc_fit_series(sensor, 1.0, r, '{}' ORDER BY t) FROM ts;
SELECT gc_fit_series(NULL, t, r, '{}' ORDER BY t) FROM ts;
SELECT gc_fit_series(sensor, CASE WHEN t = 7 THEN NULL ELSE t END, r, '{}' ORDER BY t) FROM ts;
SELECT gc_fit_series(sensor, t, r, '{}' ORDER BY t) FROM ts WHERE false;
SELECT gc_fit_series(sensor, t, r, '{"lags": -1}' ORDER BY t) FROM ts;
SELECT gc_fit_series(sensor, t, r, '{"lags": 99}' ORDER BY t) FROM ts;
SELECT gc_fit_series(sensor, t, r, '{"lags": "many"}' ORDER BY t) FROM ts;
SELECT gc_fit_series(sensor, t, r, '{"step": 0}' ORDER BY t) FROM ts;
SELECT gc_fit_series(sensor, t, r, '{"step": "hourly"}' ORDER BY t) FROM ts;
SELECT gc_fit_series(sensor, t, r, '{"step": 5}' ORDER BY t) FROM ts;
SELECT gc_fit_series(sensor, t, r, '{"rank": 2}' ORDER BY t) FROM ts;
SELECT gc_fit_series(sensor || t, t, r, '{}' ORDER BY t) FROM ts;
SELECT gc_fit_series(sensor, t, CASE WHEN t = 3 THEN r[1:2] ELSE r END, '{}' ORDER BY t) FROM ts;
SELECT gc_fit_series(sensor, ts, r, '{}' ORDER BY ts) FROM (SELECT sensor, 'infinity'::timestamptz AS ts, r FROM ts LIMIT 1) x;
SELECT gc_impute_series(m, t, r) OVER (PARTITION BY sensor) FROM ts, tm;
SELECT gc_impute_series(m, t, r) OVER (PARTITION BY sensor ORDER BY t DESC) FROM ts, tm;
SELECT gc_impute_series(m, t, r) OVER (ORDER BY t) FROM ts, tm;
SELECT gc_impute_series(m, CASE WHEN t = 9 THEN NULL ELSE t END, r) OVER (PARTITION BY sensor ORDER BY t) FROM ts, tm;
SELECT gc_impute_series(plain, t, r) OVER (PARTITION BY sensor ORDER BY t) FROM ts, tm;
SELECT gc_impute_series(m, t, r, '{"mode": "offline"}') OVER (PARTITION BY sensor ORDER BY t) FROM ts, tm;
SELECT gc_impute_series(m, t, r, '{"span": -1}') OVER (PARTITION BY sensor ORDER BY t) FROM ts, tm;
SELECT gc_impute_series(m, t, r, '{"window": 3}') OVER (PARTITION BY sensor ORDER BY t) FROM ts, tm;
SELECT gc_impute_series(m, t, r[1:2]) OVER (PARTITION BY sensor ORDER BY t) FROM ts, tm;
SELECT gc_lag_correlation(plain, 1) FROM tm;
SELECT gc_lag_correlation(m, -1) FROM tm;
SELECT gc_update(m, r) FROM ts, tm;
-- a hand-edited model whose lag correlations are no stationary series
SELECT regexp_replace(m::text, '"lag_correlation": \[\[\[[-0-9.e]+', '"lag_correlation": [[[1.5')::gcmodel FROM tm;
SELECT regexp_replace(m::text, '"version": 2', '"version": 1')::gcmodel IS NOT NULL AS v1_without_lags_reads FROM tm;

DROP TABLE ts_raw, ts, tm, tm_copy, ti, tcut;
