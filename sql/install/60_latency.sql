
-- ---------------------------------------------------------------------------
-- Latency distributions: maximum-likelihood fits of lognormal, gamma and
-- Weibull, and the functions the stream worker uses to size allowed lateness
-- (src/latency/latency_sql.c over src/latency/latency.c).
-- ---------------------------------------------------------------------------

CREATE FUNCTION gc_latency_fit_trans(internal, double precision) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gc_latency_fit_final(internal) RETURNS jsonb
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gc_latency_fit_combine(internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gc_latency_fit_serial(internal) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gc_latency_fit_deserial(bytea, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gc_latency_fit_trans(internal, double precision) IS 'transition function of gc_latency_fit';
COMMENT ON FUNCTION gc_latency_fit_final(internal) IS 'final function of gc_latency_fit (fits the three families)';
COMMENT ON FUNCTION gc_latency_fit_combine(internal, internal) IS 'combine function of gc_latency_fit';
COMMENT ON FUNCTION gc_latency_fit_serial(internal) IS 'serialize function of gc_latency_fit';
COMMENT ON FUNCTION gc_latency_fit_deserial(bytea, internal) IS 'deserialize function of gc_latency_fit (validating)';

CREATE AGGREGATE gc_latency_fit(double precision) (
	SFUNC = gc_latency_fit_trans,
	STYPE = internal,
	FINALFUNC = gc_latency_fit_final,
	COMBINEFUNC = gc_latency_fit_combine,
	SERIALFUNC = gc_latency_fit_serial,
	DESERIALFUNC = gc_latency_fit_deserial,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gc_latency_fit(double precision) IS
	'maximum-likelihood lognormal, gamma and Weibull fits of latencies in seconds (> 0): parameters, log-likelihood, AIC, KS distance and the best';

CREATE FUNCTION gc_latency_pdf(fit jsonb, t double precision) RETURNS double precision
	AS 'MODULE_PATHNAME', 'gc_latency_pdf_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gc_latency_pdf(jsonb, double precision) IS
	'density of the latency distribution (best member of a gc_latency_fit result, or one member) at t seconds';

CREATE FUNCTION gc_latency_cdf(fit jsonb, t double precision) RETURNS double precision
	AS 'MODULE_PATHNAME', 'gc_latency_cdf_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gc_latency_cdf(jsonb, double precision) IS
	'probability that a reading arrives within t seconds';

CREATE FUNCTION gc_latency_quantile(fit jsonb, p double precision) RETURNS double precision
	AS 'MODULE_PATHNAME', 'gc_latency_quantile_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gc_latency_quantile(jsonb, double precision) IS
	'latency in seconds below which a share p in (0, 1) of readings arrive';

CREATE FUNCTION gc_latency_hazard(fit jsonb, t double precision) RETURNS double precision
	AS 'MODULE_PATHNAME', 'gc_latency_hazard_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gc_latency_hazard(jsonb, double precision) IS
	'hazard rate f(t) / (1 - F(t)) per second: the arrival rate of readings still missing after t seconds';

CREATE FUNCTION gc_latency_allowed_lateness(fit jsonb, completeness double precision,
											window_seconds double precision DEFAULT 0)
	RETURNS double precision
	AS 'MODULE_PATHNAME', 'gc_latency_allowed_lateness_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gc_latency_allowed_lateness(jsonb, double precision, double precision) IS
	'seconds to wait after a window closes until the given share of its readings has arrived (readings spread over window_seconds)';
