
-- ---------------------------------------------------------------------------
-- Count-Min sketch: type gc_cms, its aggregates (also as a sliding-window
-- moving aggregate) and point / heavy-hitter queries (src/sketch/cms_sql.c over
-- src/sketch/cms.c).
-- ---------------------------------------------------------------------------

CREATE TYPE gc_cms;

CREATE FUNCTION gc_cms_in(cstring) RETURNS gc_cms
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gc_cms_out(gc_cms) RETURNS cstring
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gc_cms_recv(internal) RETURNS gc_cms
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gc_cms_send(gc_cms) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Most counters are small integers in eight bytes: compression pays.
CREATE TYPE gc_cms (
	INPUT = gc_cms_in,
	OUTPUT = gc_cms_out,
	RECEIVE = gc_cms_recv,
	SEND = gc_cms_send,
	INTERNALLENGTH = VARIABLE,
	STORAGE = extended
);
COMMENT ON TYPE gc_cms IS
	'Count-Min sketch (width ceil(e/eps), depth ceil(ln 1/delta)) with heavy-hitter candidates; text form is \x and hex';

CREATE FUNCTION gc_cms_agg_trans(internal, anyelement) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gc_cms_agg_trans(internal, anyelement, double precision, double precision) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gc_cms_agg_trans(internal, anyelement, double precision, double precision, integer) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gc_cms_agg_inv(internal, anyelement) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gc_cms_agg_inv(internal, anyelement, double precision, double precision) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gc_cms_agg_inv(internal, anyelement, double precision, double precision, integer) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gc_cms_union_trans(internal, gc_cms) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gc_cms_agg_final(internal) RETURNS gc_cms
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gc_cms_combine(internal, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION gc_cms_serial(internal) RETURNS bytea
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION gc_cms_deserial(bytea, internal) RETURNS internal
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION gc_cms_agg_trans(internal, anyelement) IS 'transition function of gc_cms_agg';
COMMENT ON FUNCTION gc_cms_agg_trans(internal, anyelement, double precision, double precision) IS 'transition function of gc_cms_agg with eps and delta';
COMMENT ON FUNCTION gc_cms_agg_trans(internal, anyelement, double precision, double precision, integer) IS 'transition function of gc_cms_agg with eps, delta and topk';
COMMENT ON FUNCTION gc_cms_agg_inv(internal, anyelement) IS 'inverse transition of gc_cms_agg (sliding windows)';
COMMENT ON FUNCTION gc_cms_agg_inv(internal, anyelement, double precision, double precision) IS 'inverse transition of gc_cms_agg with eps and delta';
COMMENT ON FUNCTION gc_cms_agg_inv(internal, anyelement, double precision, double precision, integer) IS 'inverse transition of gc_cms_agg with eps, delta and topk';
COMMENT ON FUNCTION gc_cms_union_trans(internal, gc_cms) IS 'transition function of gc_cms_union_agg';
COMMENT ON FUNCTION gc_cms_agg_final(internal) IS 'final function of the gc_cms aggregates';
COMMENT ON FUNCTION gc_cms_combine(internal, internal) IS 'combine function of the gc_cms aggregates (element-wise sum)';
COMMENT ON FUNCTION gc_cms_serial(internal) IS 'serialize function of the gc_cms aggregates';
COMMENT ON FUNCTION gc_cms_deserial(bytea, internal) IS 'deserialize function of the gc_cms aggregates (validating)';

-- Defaults: eps 0.001, delta 0.01 -> 2719 x 5 counters (106 KiB), 32 candidates.
CREATE AGGREGATE gc_cms_agg(anyelement) (
	SFUNC = gc_cms_agg_trans,
	STYPE = internal,
	SSPACE = 110000,
	FINALFUNC = gc_cms_agg_final,
	COMBINEFUNC = gc_cms_combine,
	SERIALFUNC = gc_cms_serial,
	DESERIALFUNC = gc_cms_deserial,
	MSFUNC = gc_cms_agg_trans,
	MINVFUNC = gc_cms_agg_inv,
	MSTYPE = internal,
	MSSPACE = 110000,
	MFINALFUNC = gc_cms_agg_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gc_cms_agg(anyelement) IS
	'Count-Min sketch of the non-null values, eps 0.001, delta 0.01, 32 heavy-hitter candidates; also a sliding-window aggregate';

CREATE AGGREGATE gc_cms_agg(anyelement, double precision, double precision) (
	SFUNC = gc_cms_agg_trans,
	STYPE = internal,
	FINALFUNC = gc_cms_agg_final,
	COMBINEFUNC = gc_cms_combine,
	SERIALFUNC = gc_cms_serial,
	DESERIALFUNC = gc_cms_deserial,
	MSFUNC = gc_cms_agg_trans,
	MINVFUNC = gc_cms_agg_inv,
	MSTYPE = internal,
	MFINALFUNC = gc_cms_agg_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gc_cms_agg(anyelement, double precision, double precision) IS
	'Count-Min sketch with error eps*N at probability 1 - delta (width ceil(e/eps), depth ceil(ln 1/delta))';

CREATE AGGREGATE gc_cms_agg(anyelement, double precision, double precision, integer) (
	SFUNC = gc_cms_agg_trans,
	STYPE = internal,
	FINALFUNC = gc_cms_agg_final,
	COMBINEFUNC = gc_cms_combine,
	SERIALFUNC = gc_cms_serial,
	DESERIALFUNC = gc_cms_deserial,
	MSFUNC = gc_cms_agg_trans,
	MINVFUNC = gc_cms_agg_inv,
	MSTYPE = internal,
	MFINALFUNC = gc_cms_agg_final,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gc_cms_agg(anyelement, double precision, double precision, integer) IS
	'Count-Min sketch with eps, delta and the number of heavy-hitter candidates to keep (0 to 1024)';

CREATE AGGREGATE gc_cms_union_agg(gc_cms) (
	SFUNC = gc_cms_union_trans,
	STYPE = internal,
	FINALFUNC = gc_cms_agg_final,
	COMBINEFUNC = gc_cms_combine,
	SERIALFUNC = gc_cms_serial,
	DESERIALFUNC = gc_cms_deserial,
	PARALLEL = SAFE
);
COMMENT ON AGGREGATE gc_cms_union_agg(gc_cms) IS
	'sum of gc_cms sketches with the same type, eps, delta and topk; rolls per-minute sketches up to hours';

CREATE FUNCTION gc_cms_count(gc_cms, anyelement) RETURNS bigint
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gc_cms_count(gc_cms, anyelement) IS
	'estimated count of a value (never below the truth; above it by at most eps*N with probability 1 - delta)';

CREATE FUNCTION gc_cms_union(gc_cms, gc_cms) RETURNS gc_cms
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION gc_cms_union(gc_cms, gc_cms) IS
	'sum of two compatible sketches; a null side counts as empty';

CREATE FUNCTION gc_cms_topk(gc_cms, k integer, OUT value text, OUT frequency bigint)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 32;
COMMENT ON FUNCTION gc_cms_topk(gc_cms, integer) IS
	'the k most frequent candidate values (text form) with their estimated counts, most frequent first';

CREATE FUNCTION gc_cms_info(gc_cms) RETURNS jsonb
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION gc_cms_info(gc_cms) IS
	'value type, eps, delta, width, depth, total count N, error bound eps*N, candidates and size in bytes';
