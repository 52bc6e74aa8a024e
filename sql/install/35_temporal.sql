-- ===========================================================================
-- Temporal copula: rows of an entity in time (docs/temporal.md)
-- ===========================================================================

CREATE FUNCTION gc_fit_series_transfn(internal, text, float8, float8[], jsonb) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION gc_fit_series_transfn_ts(internal, text, timestamptz, float8[], jsonb) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION gc_fit_series_finalfn(internal) RETURNS gcmodel
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Called with ORDER BY t; an ordered-set call is never split across parallel workers.
CREATE AGGREGATE gc_fit_series(entity text, t float8, "row" float8[], options jsonb) (
	SFUNC = gc_fit_series_transfn,
	STYPE = internal,
	FINALFUNC = gc_fit_series_finalfn,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE gc_fit_series(text, float8, float8[], jsonb) IS
	'fit a temporal Gaussian copula to the rows of each entity in time order (t in seconds; call with ORDER BY t); options: lags (number or "auto"), max_lags, step (seconds or "auto"), types, max_iter, tol, min_ord_ratio, max_knots, num_ord_updates, verbose';

CREATE AGGREGATE gc_fit_series(entity text, t timestamptz, "row" float8[], options jsonb) (
	SFUNC = gc_fit_series_transfn_ts,
	STYPE = internal,
	FINALFUNC = gc_fit_series_finalfn,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE gc_fit_series(text, timestamptz, float8[], jsonb) IS
	'fit a temporal Gaussian copula to the rows of each entity in time order (call with ORDER BY t); options: lags (number or "auto"), max_lags, step (seconds or "auto"), types, max_iter, tol, min_ord_ratio, max_knots, num_ord_updates, verbose';

-- Window functions: the result depends on the other rows of the partition, not only on
-- the arguments, but is fixed by them (the same rows give the same result).
CREATE FUNCTION gc_impute_series(model gcmodel, t float8, "row" float8[], options jsonb DEFAULT NULL)
	RETURNS float8[]
	AS 'MODULE_PATHNAME', 'gc_impute_series' LANGUAGE C WINDOW IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION gc_impute_series(gcmodel, float8, float8[], jsonb) IS
	'window function (OVER (PARTITION BY entity ORDER BY t), t in seconds): the row with its missing entries imputed from the observed cells of the rows within the model''s span; options: mode ("smooth", the default, also uses later rows; "causal" only earlier ones), span (rows either side, default the model''s lags)';

CREATE FUNCTION gc_impute_series(model gcmodel, t timestamptz, "row" float8[], options jsonb DEFAULT NULL)
	RETURNS float8[]
	AS 'MODULE_PATHNAME', 'gc_impute_series_ts' LANGUAGE C WINDOW IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION gc_impute_series(gcmodel, timestamptz, float8[], jsonb) IS
	'window function (OVER (PARTITION BY entity ORDER BY t)): the row with its missing entries imputed from the observed cells of the rows within the model''s span; options: mode ("smooth", the default, also uses later rows; "causal" only earlier ones), span (rows either side, default the model''s lags)';

CREATE FUNCTION gc_lag_correlation(model gcmodel, lag int) RETURNS float8[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION gc_lag_correlation(gcmodel, int) IS
	'of a temporal model: the p x p latent correlation of the columns at time t (rows) with those at t - lag (columns); lag 0 is gc_correlation';

