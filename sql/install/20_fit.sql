-- ===========================================================================
-- Fitting: the gc_fit aggregate
-- ===========================================================================

CREATE FUNCTION gc_fit_transfn(internal, float8[]) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION gc_fit_transfn(internal, float8[], jsonb) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION gc_fit_finalfn(internal) RETURNS gcmodel
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION gc_fit_combinefn(internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION gc_fit_serialfn(internal) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION gc_fit_deserialfn(bytea, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE gc_fit(float8[]) (
	SFUNC = gc_fit_transfn,
	STYPE = internal,
	FINALFUNC = gc_fit_finalfn,
	COMBINEFUNC = gc_fit_combinefn,
	SERIALFUNC = gc_fit_serialfn,
	DESERIALFUNC = gc_fit_deserialfn,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE gc_fit(float8[]) IS
	'fit a Gaussian copula by EM to rows given as float8 arrays (NULL or NaN = missing)';

CREATE AGGREGATE gc_fit(float8[], jsonb) (
	SFUNC = gc_fit_transfn,
	STYPE = internal,
	FINALFUNC = gc_fit_finalfn,
	COMBINEFUNC = gc_fit_combinefn,
	SERIALFUNC = gc_fit_serialfn,
	DESERIALFUNC = gc_fit_deserialfn,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE gc_fit(float8[], jsonb) IS
	'fit a Gaussian copula by EM with options: types, max_iter, tol, min_ord_ratio, max_knots, num_ord_updates, verbose, training (standard, minibatch-offline, minibatch-online), batch_size, num_pass, stepsize, decay, seed';

-- ===========================================================================
-- Online refresh: the gc_update aggregate
-- ===========================================================================

CREATE FUNCTION gc_update_transfn(internal, gcmodel, float8[]) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION gc_update_transfn(internal, gcmodel, float8[], jsonb) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE gc_update(gcmodel, float8[]) (
	SFUNC = gc_update_transfn,
	STYPE = internal,
	FINALFUNC = gc_fit_finalfn,
	COMBINEFUNC = gc_fit_combinefn,
	SERIALFUNC = gc_fit_serialfn,
	DESERIALFUNC = gc_fit_deserialfn,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE gc_update(gcmodel, float8[]) IS
	'continue a fitted model with new rows by online EM steps (marginals merged, correlation moved batch by batch)';

CREATE AGGREGATE gc_update(gcmodel, float8[], jsonb) (
	SFUNC = gc_update_transfn,
	STYPE = internal,
	FINALFUNC = gc_fit_finalfn,
	COMBINEFUNC = gc_fit_combinefn,
	SERIALFUNC = gc_fit_serialfn,
	DESERIALFUNC = gc_fit_deserialfn,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE gc_update(gcmodel, float8[], jsonb) IS
	'gc_update with options: batch_size, stepsize, decay, max_knots, num_ord_updates, verbose';

