-- ===========================================================================
-- Imputation
-- ===========================================================================

-- COST: a row's conditional distribution costs about a thousand simple operators (a
-- factorization of the observed block for a few columns, more for wide rows); at the
-- default COST 1 the planner never spreads the calls over parallel workers.

CREATE FUNCTION gc_impute(model gcmodel, "row" float8[]) RETURNS float8[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000;

COMMENT ON FUNCTION gc_impute(gcmodel, float8[]) IS
	'impute the missing (NULL or NaN) entries of a row by the conditional mean of the copula; observed entries are returned unchanged';

CREATE FUNCTION gc_impute_multiple(model gcmodel, "row" float8[], m int, seed bigint DEFAULT 0)
	RETURNS SETOF float8[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000 ROWS 5;

COMMENT ON FUNCTION gc_impute_multiple(gcmodel, float8[], int, bigint) IS
	'multiple imputation: m draws of the row from the conditional distribution of its missing entries (reproducible in seed and row)';

CREATE FUNCTION gc_impute_interval(model gcmodel, "row" float8[], level float8 DEFAULT 0.95,
	OUT col int, OUT estimate float8, OUT lower float8, OUT upper float8, OUT imputed bool)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000 ROWS 10;

COMMENT ON FUNCTION gc_impute_interval(gcmodel, float8[], float8) IS
	'per column: the imputed estimate and an analytical interval with the given coverage (NULL bounds for observed entries)';

