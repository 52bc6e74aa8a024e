-- ===========================================================================
-- Evaluation: masking and error measures (definitions of gcimpute.helper_evaluation)
-- ===========================================================================

CREATE FUNCTION gc_mask_mcar("row" float8[], fraction float8, seed bigint) RETURNS float8[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION gc_mask_mcar(float8[], float8, bigint) IS
	'mask each observed entry with probability fraction (missing completely at random), keeping at least one; deterministic in (row, seed)';

CREATE FUNCTION gc_smae_transfn(internal, float8[], float8[], float8[]) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION gc_smae_finalfn(internal) RETURNS float8[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE gc_smae(imputed float8[], truth float8[], masked float8[]) (
	SFUNC = gc_smae_transfn,
	STYPE = internal,
	FINALFUNC = gc_smae_finalfn,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE gc_smae(float8[], float8[], float8[]) IS
	'scaled MAE per column: error of the imputation over the error of median imputation, on the entries masked but known';

CREATE FUNCTION gc_err_transfn(internal, float8[], float8[], float8[]) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION gc_err_combinefn(internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION gc_err_serialfn(internal) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION gc_err_deserialfn(bytea, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION gc_mae_finalfn(internal) RETURNS float8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION gc_nrmse_finalfn(internal) RETURNS float8
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE gc_mae(imputed float8[], truth float8[], masked float8[]) (
	SFUNC = gc_err_transfn,
	STYPE = internal,
	FINALFUNC = gc_mae_finalfn,
	COMBINEFUNC = gc_err_combinefn,
	SERIALFUNC = gc_err_serialfn,
	DESERIALFUNC = gc_err_deserialfn,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE gc_mae(float8[], float8[], float8[]) IS
	'mean absolute error over all entries masked but known, pooled over columns';

CREATE AGGREGATE gc_nrmse(imputed float8[], truth float8[], masked float8[]) (
	SFUNC = gc_err_transfn,
	STYPE = internal,
	FINALFUNC = gc_nrmse_finalfn,
	COMBINEFUNC = gc_err_combinefn,
	SERIALFUNC = gc_err_serialfn,
	DESERIALFUNC = gc_err_deserialfn,
	PARALLEL = SAFE
);

COMMENT ON AGGREGATE gc_nrmse(float8[], float8[], float8[]) IS
	'root mean squared error over the root mean square of the true values, on the entries masked but known';

