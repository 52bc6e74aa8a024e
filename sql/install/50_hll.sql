
-- ---------------------------------------------------------------------------
-- HyperLogLog distinct-count sketch: type gc_hll and its aggregates
-- (src/sketch/hll_sql.c over src/sketch/hll.c).
-- ---------------------------------------------------------------------------

CREATE TYPE gc_hll;

CREATE FUNCTION gc_hll_in(cstring) RETURNS gc_hll
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gc_hll_out(gc_hll) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gc_hll_recv(internal) RETURNS gc_hll
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gc_hll_send(gc_hll) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Dense registers are random bytes: compression would only cost time.
CREATE TYPE gc_hll (
	INPUT = gc_hll_in,
	OUTPUT = gc_hll_out,
	RECEIVE = gc_hll_recv,
	SEND = gc_hll_send,
	INTERNALLENGTH = VARIABLE,
	STORAGE = external
);
COMMENT ON TYPE gc_hll IS
	'HyperLogLog distinct-count sketch (64-bit hash, sparse then dense, Ertl''s estimator); text form is \x and hex';

-- Aggregate support functions (internal state in the aggregate context).
CREATE FUNCTION gc_hll_agg_trans(internal, anyelement) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gc_hll_agg_trans(internal, anyelement, integer) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gc_hll_union_trans(internal, gc_hll) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gc_hll_agg_final(internal) RETURNS gc_hll
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gc_hll_count_final(internal) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gc_hll_combine(internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gc_hll_serial(internal) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gc_hll_deserial(bytea, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION gc_hll_agg_trans(internal, anyelement) IS 'transition function of gc_hll_agg';
COMMENT ON FUNCTION gc_hll_agg_trans(internal, anyelement, integer) IS 'transition function of gc_hll_agg with log2m';
COMMENT ON FUNCTION gc_hll_union_trans(internal, gc_hll) IS 'transition function of gc_hll_union_agg';
COMMENT ON FUNCTION gc_hll_agg_final(internal) IS 'final function of the gc_hll aggregates';
COMMENT ON FUNCTION gc_hll_count_final(internal) IS 'final function of gc_approx_count_distinct';
COMMENT ON FUNCTION gc_hll_combine(internal, internal) IS 'combine function of the gc_hll aggregates (register-wise max)';
COMMENT ON FUNCTION gc_hll_serial(internal) IS 'serialize function of the gc_hll aggregates';
COMMENT ON FUNCTION gc_hll_deserial(bytea, internal) IS 'deserialize function of the gc_hll aggregates (validating)';

-- The state holds 2^log2m one-byte registers once dense (4 KiB at the default 12).
CREATE AGGREGATE gc_hll_agg(anyelement) (
	SFUNC = gc_hll_agg_trans,
	STYPE = internal,
	SSPACE = 5200,
	FINALFUNC = gc_hll_agg_final,
	COMBINEFUNC = gc_hll_combine,
	SERIALFUNC = gc_hll_serial,
	DESERIALFUNC = gc_hll_deserial,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gc_hll_agg(anyelement) IS
	'HyperLogLog sketch of the non-null values, log2m 12 (4096 registers, 1.6% standard error)';

CREATE AGGREGATE gc_hll_agg(anyelement, integer) (
	SFUNC = gc_hll_agg_trans,
	STYPE = internal,
	SSPACE = 5200,
	FINALFUNC = gc_hll_agg_final,
	COMBINEFUNC = gc_hll_combine,
	SERIALFUNC = gc_hll_serial,
	DESERIALFUNC = gc_hll_deserial,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gc_hll_agg(anyelement, integer) IS
	'HyperLogLog sketch of the non-null values with 2^log2m registers (log2m 4 to 18)';

CREATE AGGREGATE gc_hll_union_agg(gc_hll) (
	SFUNC = gc_hll_union_trans,
	STYPE = internal,
	SSPACE = 5200,
	FINALFUNC = gc_hll_agg_final,
	COMBINEFUNC = gc_hll_combine,
	SERIALFUNC = gc_hll_serial,
	DESERIALFUNC = gc_hll_deserial,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gc_hll_union_agg(gc_hll) IS
	'union of gc_hll sketches (all must have the same log2m); rolls per-minute sketches up to hours';

CREATE AGGREGATE gc_approx_count_distinct(anyelement) (
	SFUNC = gc_hll_agg_trans,
	STYPE = internal,
	SSPACE = 5200,
	FINALFUNC = gc_hll_count_final,
	COMBINEFUNC = gc_hll_combine,
	SERIALFUNC = gc_hll_serial,
	DESERIALFUNC = gc_hll_deserial,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gc_approx_count_distinct(anyelement) IS
	'approximate count(DISTINCT x) through a log2m 12 HyperLogLog (1.6% standard error); 0 for no rows';

CREATE FUNCTION gc_hll_count(gc_hll) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gc_hll_count(gc_hll) IS 'estimated number of distinct values in the sketch';

CREATE FUNCTION gc_hll_union(gc_hll, gc_hll) RETURNS gc_hll
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gc_hll_union(gc_hll, gc_hll) IS
	'union of two sketches with the same log2m; a null side counts as empty';

CREATE FUNCTION gc_hll_info(gc_hll) RETURNS jsonb
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gc_hll_info(gc_hll) IS
	'log2m, registers, representation (sparse or dense), size in bytes, standard error and estimate';

-- The hash both sketch types start from, exposed so that the inline fast paths can
-- be checked against the types' own hash support functions.
CREATE FUNCTION gc_sketch_hash(anyelement) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gc_sketch_hash(anyelement) IS
	'64-bit hash that gc_hll and gc_cms start from: the type''s extended hash function with seed 0 (before the sketches'' mixer)';
