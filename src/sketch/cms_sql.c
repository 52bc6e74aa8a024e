/*
 * cms_sql.c — the gc_cms type and its aggregates (PostgreSQL glue over sketch/cms.c).
 *
 * A gc_cms remembers the type of the values it counted (its oid): counting or
 * combining with another type is refused rather than silently hashing apples
 * into an orange sketch.  Heavy-hitter candidates keep the value's text form
 * (type output function, at most 1024 bytes), produced only when a value enters
 * the candidate list.  gc_cms_agg also has a moving-aggregate form: the sketch is
 * linear, so removing a row from a window frame is an exact subtraction.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "sketch/cms.h"
#include "sketch/sketch_hash_sql.h"

PG_FUNCTION_INFO_V1(gc_cms_in);
PG_FUNCTION_INFO_V1(gc_cms_out);
PG_FUNCTION_INFO_V1(gc_cms_recv);
PG_FUNCTION_INFO_V1(gc_cms_send);
PG_FUNCTION_INFO_V1(gc_cms_agg_trans);
PG_FUNCTION_INFO_V1(gc_cms_agg_inv);
PG_FUNCTION_INFO_V1(gc_cms_union_trans);
PG_FUNCTION_INFO_V1(gc_cms_agg_final);
PG_FUNCTION_INFO_V1(gc_cms_combine);
PG_FUNCTION_INFO_V1(gc_cms_serial);
PG_FUNCTION_INFO_V1(gc_cms_deserial);
PG_FUNCTION_INFO_V1(gc_cms_count);
PG_FUNCTION_INFO_V1(gc_cms_union);
PG_FUNCTION_INFO_V1(gc_cms_topk);
PG_FUNCTION_INFO_V1(gc_cms_info);

typedef struct CmsState
{
	GcAlloc alloc;
	gc_cms		c;
} CmsState;

static void *
CtxAlloc(void *ctx, size_t size)
{
	return MemoryContextAllocHuge((MemoryContext) ctx, size);
}

static void
CtxFree(void *ctx, void *ptr)
{
	pfree(ptr);
}

static void
CheckStatus(int rc)
{
	if (rc == GC_ENOMEM)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory in gc_cms")));
	if (rc != GC_OK)
		elog(ERROR, "unexpected gc_cms status %d", rc);
}

static void
CheckParams(double eps, double delta, int topk)
{
	uint32		w,
				d;

	if (!(eps > 0.0 && eps < 1.0) || !(delta > 0.0 && delta < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("eps and delta must be between 0 and 1 (exclusive), not %g and %g", eps, delta),
				 errdetail("Estimates exceed true counts by at most eps times the total count, with probability 1 - delta."),
				 errhint("The defaults are eps %g and delta %g.", GC_CMS_DEFAULT_EPS, GC_CMS_DEFAULT_DELTA)));
	if (gc_cms_dims(eps, delta, &w, &d) != GC_OK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a gc_cms with eps %g and delta %g would have more than %u counters", eps, delta,
						(unsigned) GC_CMS_MAX_COUNTERS),
				 errdetail("Width is ceil(e/eps) and depth ceil(ln(1/delta))."),
				 errhint("Use a larger eps.")));
	if (topk < 0 || topk > GC_CMS_MAX_TOPK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("topk must be between 0 and %d, not %d", GC_CMS_MAX_TOPK, topk)));
}

static CmsState *
NewState(MemoryContext cxt, double eps, double delta, int topk, Oid elemtype)
{
	CmsState   *s = MemoryContextAlloc(cxt, sizeof(CmsState));

	CheckParams(eps, delta, topk);
	s->alloc.alloc = CtxAlloc;
	s->alloc.dealloc = CtxFree;
	s->alloc.ctx = cxt;
	CheckStatus(gc_cms_init(&s->c, eps, delta, (uint32) topk, elemtype, &s->alloc));
	return s;
}

/*
 * The element type a sketch records is a type oid the sketch's queries hash with; a value
 * naming no type, or one without extended hashing, would fail only later and obscurely
 * (a cache lookup of a missing type), so it is refused where the value enters.
 */
static void
CheckElementType(Oid elemtype, int sqlstate)
{
	TypeCacheEntry *tc;

	if (!OidIsValid(elemtype) || !SearchSysCacheExists1(TYPEOID, ObjectIdGetDatum(elemtype)))
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("invalid gc_cms value"),
				 errdetail("The element type oid %u names no type in this database.", elemtype)));
	tc = lookup_type_cache(elemtype, TYPECACHE_HASH_EXTENDED_PROC);
	if (!OidIsValid(tc->hash_extended_proc))
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("invalid gc_cms value"),
				 errdetail("The element type %s has no extended hash function.", format_type_be(elemtype))));
}

/* Validate bytes (core checks, element type, candidate text encoding) into a state. */
static CmsState *
StateFromBytes(MemoryContext cxt, const uint8 *buf, size_t len, int sqlstate)
{
	CmsState   *s = MemoryContextAlloc(cxt, sizeof(CmsState));
	char		err[256];
	int			rc;

	s->alloc.alloc = CtxAlloc;
	s->alloc.dealloc = CtxFree;
	s->alloc.ctx = cxt;
	rc = gc_cms_deserialize(&s->c, buf, len, &s->alloc, err, sizeof(err));
	if (rc == GC_EFORMAT)
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("invalid gc_cms value"),
				 errdetail("%s", err)));
	CheckStatus(rc);
	CheckElementType(s->c.elemtype, sqlstate);
	for (uint32 i = 0; i < s->c.ncand; i++)
		if (memchr(s->c.cand[i].key, 0, s->c.cand[i].len) != NULL ||
			!pg_verifymbstr((const char *) s->c.cand[i].key, s->c.cand[i].len, true))
			ereport(ERROR,
					(errcode(sqlstate),
					 errmsg("invalid gc_cms value"),
					 errdetail("Candidate %u is not valid text in the database encoding.", i)));
	return s;
}

static bytea *
StateToVarlena(const CmsState *s)
{
	size_t		n = gc_cms_serialized_size(&s->c);
	bytea	   *out;

	if (n > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("gc_cms value of %zu bytes is too large", n)));
	out = palloc(VARHDRSZ + n);
	SET_VARSIZE(out, VARHDRSZ + n);
	gc_cms_serialize(&s->c, (uint8 *) VARDATA(out));
	return out;
}

static CmsState *
StateFromDatum(Datum d)
{
	bytea	   *v = (bytea *) PG_DETOAST_DATUM(d);

	return StateFromBytes(CurrentMemoryContext, (uint8 *) VARDATA(v),
						  VARSIZE(v) - VARHDRSZ, ERRCODE_DATA_CORRUPTED);
}

static void
CheckCompatible(const gc_cms *a, const gc_cms *b)
{
	if (a->elemtype != b->elemtype)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("cannot combine gc_cms sketches of different types: %s and %s",
						format_type_be(a->elemtype), format_type_be(b->elemtype))));
	if (a->width != b->width || a->depth != b->depth)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine gc_cms sketches with different dimensions: width %u depth %u (eps %g, delta %g) and width %u depth %u (eps %g, delta %g)",
						a->width, a->depth, a->eps, a->delta, b->width, b->depth, b->eps, b->delta),
				 errhint("Build every sketch that will be combined with the same eps and delta.")));
	if (a->topk_cap != b->topk_cap)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine gc_cms sketches with different topk capacities: %u and %u",
						a->topk_cap, b->topk_cap)));
}

Datum
gc_cms_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	size_t		len;
	uint8	   *bytes = GcHexToBytes(str, &len, "gc_cms");

	(void) StateFromBytes(CurrentMemoryContext, bytes, len, ERRCODE_INVALID_TEXT_REPRESENTATION);
	PG_RETURN_BYTEA_P(GcSketchVarlena(bytes, len));
}

Datum
gc_cms_out(PG_FUNCTION_ARGS)
{
	bytea	   *v = PG_GETARG_BYTEA_PP(0);

	PG_RETURN_CSTRING(GcBytesToHex((uint8 *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v)));
}

Datum
gc_cms_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			len = buf->len - buf->cursor;
	const char *bytes = pq_getmsgbytes(buf, len);

	(void) StateFromBytes(CurrentMemoryContext, (const uint8 *) bytes, len,
						  ERRCODE_INVALID_BINARY_REPRESENTATION);
	PG_RETURN_BYTEA_P(GcSketchVarlena(bytes, len));
}

Datum
gc_cms_send(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(GcSketchSend(PG_GETARG_BYTEA_PP(0)));
}

static double
GetFloatArg(FunctionCallInfo fcinfo, int n, const char *what)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return PG_GETARG_FLOAT8(n);
}

/*
 * Shared by the forward and inverse transitions: state created on first call
 * with the optional (eps, delta [, topk]) arguments, which must not change.
 */
static CmsState *
GetState(FunctionCallInfo fcinfo, MemoryContext cxt)
{
	CmsState   *s = PG_ARGISNULL(0) ? NULL : (CmsState *) PG_GETARG_POINTER(0);
	double		eps = GC_CMS_DEFAULT_EPS,
				delta = GC_CMS_DEFAULT_DELTA;
	int			topk = GC_CMS_DEFAULT_TOPK;

	if (PG_NARGS() > 3)
	{
		eps = GetFloatArg(fcinfo, 2, "eps");
		delta = GetFloatArg(fcinfo, 3, "delta");
	}
	if (PG_NARGS() > 4)
	{
		if (PG_ARGISNULL(4))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("topk must not be null")));
		topk = PG_GETARG_INT32(4);
	}
	if (s == NULL)
		return NewState(cxt, eps, delta, topk, getBaseType(get_fn_expr_argtype(fcinfo->flinfo, 1)));
	if (s->c.eps != eps || s->c.delta != delta || s->c.topk_cap != (uint32) topk)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("eps, delta and topk must be the same for every row of an aggregate")));
	return s;
}

/* gc_cms_agg(anyelement [, eps, delta [, topk]]): count each non-null value. */
Datum
gc_cms_agg_trans(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = GcAggContext(fcinfo, "gc_cms_agg_trans");
	CmsState   *s = GetState(fcinfo, cxt);
	GcValueHasher *hasher;
	uint64		h;
	int64		est;

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(s);
	hasher = GcGetHasher(fcinfo, 1);
	h = GcHashDatum(hasher, PG_GETARG_DATUM(1));
	est = gc_cms_update(&s->c, h, 1);
	if (gc_cms_candidate_offer(&s->c, h, est) == GC_CMS_CAND_NEEDKEY)
	{
		char	   *txt = GcValueText(fcinfo, hasher, PG_GETARG_DATUM(1));
		size_t		len = strlen(txt);

		/* cut at a character boundary, never inside a multibyte character */
		if (len > GC_CMS_MAX_KEY)
			len = pg_mbcliplen(txt, len, GC_CMS_MAX_KEY);
		CheckStatus(gc_cms_candidate_insert(&s->c, h, est, txt, len));
		pfree(txt);
	}
	PG_RETURN_POINTER(s);
}

/* Inverse transition for window frames: subtract the row that left the frame. */
Datum
gc_cms_agg_inv(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = GcAggContext(fcinfo, "gc_cms_agg_inv");
	CmsState   *s = GetState(fcinfo, cxt);

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(s);
	gc_cms_update(&s->c, GcHashDatum(GcGetHasher(fcinfo, 1), PG_GETARG_DATUM(1)), -1);
	gc_cms_candidates_refresh(&s->c);
	PG_RETURN_POINTER(s);
}

Datum
gc_cms_union_trans(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = GcAggContext(fcinfo, "gc_cms_union_trans");
	CmsState   *s = PG_ARGISNULL(0) ? NULL : (CmsState *) PG_GETARG_POINTER(0);
	CmsState   *in;

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(s);
	in = StateFromDatum(PG_GETARG_DATUM(1));
	if (s == NULL)
		s = NewState(cxt, in->c.eps, in->c.delta, (int) in->c.topk_cap, in->c.elemtype);
	CheckCompatible(&s->c, &in->c);
	CheckStatus(gc_cms_merge(&s->c, &in->c));
	gc_cms_free(&in->c);
	PG_RETURN_POINTER(s);
}

Datum
gc_cms_agg_final(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_BYTEA_P(StateToVarlena((CmsState *) PG_GETARG_POINTER(0)));
}

Datum
gc_cms_combine(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = GcAggContext(fcinfo, "gc_cms_combine");
	CmsState   *a = PG_ARGISNULL(0) ? NULL : (CmsState *) PG_GETARG_POINTER(0);
	CmsState   *b = PG_ARGISNULL(1) ? NULL : (CmsState *) PG_GETARG_POINTER(1);

	if (b == NULL)
		PG_RETURN_POINTER(a);
	if (a == NULL)
		a = NewState(cxt, b->c.eps, b->c.delta, (int) b->c.topk_cap, b->c.elemtype);
	CheckCompatible(&a->c, &b->c);
	CheckStatus(gc_cms_merge(&a->c, &b->c));
	PG_RETURN_POINTER(a);
}

Datum
gc_cms_serial(PG_FUNCTION_ARGS)
{
	(void) GcAggContext(fcinfo, "gc_cms_serial");
	PG_RETURN_BYTEA_P(StateToVarlena((CmsState *) PG_GETARG_POINTER(0)));
}

Datum
gc_cms_deserial(PG_FUNCTION_ARGS)
{
	bytea	   *v = PG_GETARG_BYTEA_PP(0);

	(void) GcAggContext(fcinfo, "gc_cms_deserial");
	PG_RETURN_POINTER(StateFromBytes(CurrentMemoryContext, (uint8 *) VARDATA_ANY(v),
									 VARSIZE_ANY_EXHDR(v), ERRCODE_DATA_CORRUPTED));
}

/* gc_cms_count(gc_cms, anyelement): point estimate, refused for another type. */
Datum
gc_cms_count(PG_FUNCTION_ARGS)
{
	bytea	   *v = PG_GETARG_BYTEA_PP(0);
	const uint8 *buf = (const uint8 *) VARDATA_ANY(v);
	size_t		len = VARSIZE_ANY_EXHDR(v);
	Oid			argtype = getBaseType(get_fn_expr_argtype(fcinfo->flinfo, 1));
	Oid			elemtype;
	int64		est;

	if (len < GC_CMS_HEADER_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid gc_cms value"),
				 errdetail("The value has %zu bytes, fewer than the header.", len)));
	elemtype = gc_get_be32(buf + 4);
	if (argtype != elemtype)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("gc_cms counts values of type %s, not %s",
						format_type_be(elemtype), format_type_be(argtype)),
				 errhint("Cast the value to %s.", format_type_be(elemtype))));
	if (gc_cms_estimate_serialized(buf, len, GcHashDatum(GcGetHasher(fcinfo, 1), PG_GETARG_DATUM(1)),
								   &est) != GC_OK)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid gc_cms value")));
	PG_RETURN_INT64(est);
}

/* gc_cms_union(a, b): element-wise sum; a null side counts as empty. */
Datum
gc_cms_union(PG_FUNCTION_ARGS)
{
	CmsState   *a,
			   *b;

	if (PG_ARGISNULL(0) && PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(0))
		PG_RETURN_DATUM(PG_GETARG_DATUM(1));
	if (PG_ARGISNULL(1))
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	a = StateFromDatum(PG_GETARG_DATUM(0));
	b = StateFromDatum(PG_GETARG_DATUM(1));
	CheckCompatible(&a->c, &b->c);
	CheckStatus(gc_cms_merge(&a->c, &b->c));
	PG_RETURN_BYTEA_P(StateToVarlena(a));
}

/* gc_cms_topk(gc_cms, k) -> TABLE(value text, frequency bigint), most frequent first. */
Datum
gc_cms_topk(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CmsState   *s;
	int			k = PG_GETARG_INT32(1);
	uint32	   *order;
	int64	   *est;

	if (k < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must not be negative, not %d", k)));
	s = StateFromDatum(PG_GETARG_DATUM(0));
	if ((uint32) k > s->c.topk_cap)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k %d exceeds the %u heavy-hitter candidates this gc_cms keeps", k, s->c.topk_cap),
				 errhint("Build the sketch with gc_cms_agg(value, eps, delta, topk) and a larger topk.")));
	InitMaterializedSRF(fcinfo, 0);
	order = palloc(sizeof(uint32) * (s->c.ncand + 1));
	est = palloc(sizeof(int64) * (s->c.ncand + 1));
	gc_cms_rank_candidates(&s->c, order, est);
	for (uint32 i = 0; i < s->c.ncand && i < (uint32) k; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};
		gc_cms_cand *cand = &s->c.cand[order[i]];

		values[0] = PointerGetDatum(cstring_to_text_with_len((char *) cand->key, cand->len));
		values[1] = Int64GetDatum(est[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* gc_cms_info(gc_cms) -> jsonb: parameters, dimensions, total, error bound, size. */
Datum
gc_cms_info(PG_FUNCTION_ARGS)
{
	bytea	   *v = PG_GETARG_BYTEA_PP(0);
	CmsState   *s = StateFromDatum(PG_GETARG_DATUM(0));
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "{\"type\": \"%s\", \"eps\": %.17g, \"delta\": %.17g, \"width\": %u, \"depth\": %u, "
					 "\"total\": " INT64_FORMAT ", \"error_bound\": %.10g, \"topk_capacity\": %u, "
					 "\"candidates\": %u, \"bytes\": %zu}",
					 format_type_be(s->c.elemtype), s->c.eps, s->c.delta, s->c.width, s->c.depth,
					 s->c.total, M_E / s->c.width * (double) s->c.total, s->c.topk_cap,
					 s->c.ncand, (size_t) VARSIZE_ANY(v));
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
