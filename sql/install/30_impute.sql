-- ===========================================================================
-- Imputation
-- ===========================================================================

CREATE FUNCTION gc_impute(model gcmodel, "row" float8[]) RETURNS float8[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION gc_impute(gcmodel, float8[]) IS
	'impute the missing (NULL or NaN) entries of a row by the conditional mean of the copula; observed entries are returned unchanged';

