-- ===========================================================================
-- Type gcmodel: a fitted Gaussian copula (marginals + correlation)
-- ===========================================================================

CREATE TYPE gcmodel;

CREATE FUNCTION gcmodel_in(cstring) RETURNS gcmodel
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION gcmodel_out(gcmodel) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION gcmodel_recv(internal) RETURNS gcmodel
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION gcmodel_send(gcmodel) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE gcmodel (
	INPUT = gcmodel_in,
	OUTPUT = gcmodel_out,
	RECEIVE = gcmodel_recv,
	SEND = gcmodel_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = double,
	STORAGE = extended
);

COMMENT ON TYPE gcmodel IS
	'a fitted Gaussian copula: per-column marginals (type, ECDF knots) and the latent correlation matrix; text form is JSON';

CREATE FUNCTION gc_model_info(gcmodel) RETURNS jsonb
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION gc_model_info(gcmodel) IS
	'summary of a model: kind, columns, types, rows, iterations, convergence, size (without the marginal knots)';

CREATE FUNCTION gc_correlation(gcmodel) RETURNS float8[]
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION gc_correlation(gcmodel) IS
	'the copula (latent) correlation matrix as a p x p array';

