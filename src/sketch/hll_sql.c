/*
 * hll_sql.c — the gc_hll type and its aggregates (PostgreSQL glue over sketch/hll.c).
 *
 * The type's bytes are sketch/hll.h's versioned serialized form behind a varlena
 * header; the text form is "\x" and those bytes in hex.  Input, receive and the
 * aggregate deserialize function all validate through gc_hll_deserialize, so
 * garbage never reaches the core.  Aggregate states are core sketches allocated
 * in the aggregate context and sized to their log2m (sparse until 3m/16 entries).
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "sketch/hll.h"
#include "sketch/sketch_hash_sql.h"

PG_FUNCTION_INFO_V1(gc_hll_in);
PG_FUNCTION_INFO_V1(gc_hll_out);
PG_FUNCTION_INFO_V1(gc_hll_recv);
PG_FUNCTION_INFO_V1(gc_hll_send);
PG_FUNCTION_INFO_V1(gc_hll_agg_trans);
PG_FUNCTION_INFO_V1(gc_hll_union_trans);
PG_FUNCTION_INFO_V1(gc_hll_agg_final);
PG_FUNCTION_INFO_V1(gc_hll_count_final);
PG_FUNCTION_INFO_V1(gc_hll_combine);
PG_FUNCTION_INFO_V1(gc_hll_serial);
PG_FUNCTION_INFO_V1(gc_hll_deserial);
PG_FUNCTION_INFO_V1(gc_hll_count);
PG_FUNCTION_INFO_V1(gc_hll_union);
PG_FUNCTION_INFO_V1(gc_hll_info);

/*
 * Aggregate state: the core sketch and the allocator it uses (same lifetime).
 * Short strings wait in a lookup3 batch (sketch/l3batch.h) and are hashed 8 at a
 * time with AVX2 (on CPUs without it, one at a time); every
 * function that reads the sketch first calls FlushBatch.  A state takes a batch
 * (about 3.3 KB) only after BATCH_AFTER strings, so that the many small groups
 * of a GROUP BY do not pay for it.
 */
#define BATCH_AFTER 64

typedef struct HllState
{
	GcAlloc alloc;
	gc_hll		h;
	uint32		nunbatched;		/* strings hashed one by one so far */
	gc_l3batch *batch;			/* NULL until BATCH_AFTER strings */
} HllState;

static void *
CtxAlloc(void *ctx, size_t size)
{
	return MemoryContextAlloc((MemoryContext) ctx, size);
}

static void
CtxFree(void *ctx, void *ptr)
{
	pfree(ptr);
}

static void
CheckLog2m(int log2m)
{
	if (log2m < GC_HLL_MIN_LOG2M || log2m > GC_HLL_MAX_LOG2M)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("log2m must be between %d and %d, not %d",
						GC_HLL_MIN_LOG2M, GC_HLL_MAX_LOG2M, log2m),
				 errdetail("A gc_hll has 2^log2m registers; its relative standard error is 1.04/sqrt(2^log2m)."),
				 errhint("The default %d gives 4096 registers and 1.6%% error.", GC_HLL_DEFAULT_LOG2M)));
}

/* Report a core status; EPARAM is only returned for parameter mismatches here. */
static void
CheckStatus(int rc)
{
	if (rc == GC_ENOMEM)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory in gc_hll")));
	if (rc != GC_OK)
		elog(ERROR, "unexpected gc_hll status %d", rc);
}

static inline void
AddHash(HllState *s, uint64 hash)
{
	if (unlikely(gc_hll_add(&s->h, gc_sketch_mix64(hash)) != GC_OK))
		CheckStatus(GC_ENOMEM);
}

/*
 * Hash the queued strings of one length class into the sketch.  Out of line, as
 * is the one-at-a-time path below: the per-row path of the transition function
 * then needs no stack array (no stack protector) and few saved registers.
 */
static pg_noinline void
DrainBatch(HllState *s, int cls)
{
	uint64		out[GC_L3B_CAP];
	uint32		n = gc_l3batch_hash_mixed(s->batch, cls, out);

	if (unlikely(gc_hll_add_many(&s->h, out, n) != GC_OK))
		CheckStatus(GC_ENOMEM);
}

/* Make the sketch complete: hash whatever the batch still holds. */
static void
FlushBatch(HllState *s)
{
	if (s == NULL || s->batch == NULL)
		return;
	for (int cls = 0; cls < GC_L3B_CLASSES; cls++)
		if (s->batch->n[cls] > 0)
			DrainBatch(s, cls);
}

#if GC_L3B_AVAILABLE && !defined(WORDS_BIGENDIAN)
/*
 * A string hashed at once: longer than a batch slot, or one of the first
 * BATCH_AFTER of the state (which then takes a batch if the CPU has the vector
 * kernels).
 */
static pg_noinline void
AddBytesNow(HllState *s, const unsigned char *p, uint32 len)
{
	AddHash(s, GcHashBytes(p, len));
	if (s->batch == NULL && ++s->nunbatched == BATCH_AFTER && gc_l3batch_usable())
	{
		s->batch = MemoryContextAlloc(s->alloc.ctx, sizeof(gc_l3batch));
		gc_l3batch_init(s->batch);
	}
}
#endif

/*
 * A text, varchar, bytea or bpchar value (deterministic collation): the bytes
 * its extended hash function hashes go into the batch if short, else are hashed
 * now.  Either way the sketch gets hash_bytes_extended(bytes, len, 0), mixed.
 */
static inline void
AddBytes(HllState *s, GcValueHasher *hasher, Datum value)
{
	const unsigned char *p;
	uint32		len;
	struct varlena *v = GcValueBytes(hasher, value, &p, &len);

#if GC_L3B_AVAILABLE && !defined(WORDS_BIGENDIAN)
	if (likely(s->batch != NULL) && likely(len <= GC_L3B_MAX_LEN))
	{
		int			full = gc_l3batch_push(s->batch, p, len);

		if (unlikely(full >= 0))
			DrainBatch(s, full);
	}
	else
		AddBytesNow(s, p, len);
#else
	AddHash(s, GcHashBytes(p, len));
#endif
	if ((Pointer) v != DatumGetPointer(value))
		pfree(v);
}

static HllState *
NewState(MemoryContext cxt, int log2m)
{
	HllState   *s = MemoryContextAlloc(cxt, sizeof(HllState));

	s->alloc.alloc = CtxAlloc;
	s->alloc.dealloc = CtxFree;
	s->alloc.ctx = cxt;
	s->nunbatched = 0;
	s->batch = NULL;
	CheckLog2m(log2m);
	gc_hll_init(&s->h, log2m, &s->alloc);
	return s;
}

/*
 * Validate bytes and rebuild a state in cxt; sqlstate says how bad bytes are
 * reported (text input, binary input, or stored data).
 */
static HllState *
StateFromBytes(MemoryContext cxt, const uint8 *buf, size_t len, int sqlstate)
{
	HllState   *s = MemoryContextAlloc(cxt, sizeof(HllState));
	char		err[256];
	int			rc;

	s->alloc.alloc = CtxAlloc;
	s->alloc.dealloc = CtxFree;
	s->alloc.ctx = cxt;
	s->nunbatched = 0;
	s->batch = NULL;
	rc = gc_hll_deserialize(&s->h, buf, len, &s->alloc, err, sizeof(err));
	if (rc == GC_EFORMAT)
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("invalid gc_hll value"),
				 errdetail("%s", err)));
	CheckStatus(rc);
	return s;
}

static bytea *
StateToVarlena(const HllState *s)
{
	size_t		n = gc_hll_serialized_size(&s->h);
	bytea	   *out = palloc(VARHDRSZ + n);

	SET_VARSIZE(out, VARHDRSZ + n);
	CheckStatus(gc_hll_serialize(&s->h, (uint8 *) VARDATA(out)));
	return out;
}

static HllState *
StateFromDatum(Datum d)
{
	bytea	   *v = (bytea *) PG_DETOAST_DATUM(d);

	return StateFromBytes(CurrentMemoryContext, (uint8 *) VARDATA(v),
						  VARSIZE(v) - VARHDRSZ, ERRCODE_DATA_CORRUPTED);
}

static void
CheckSameLog2m(const HllState *a, const HllState *b)
{
	if (a->h.log2m != b->h.log2m)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine gc_hll sketches with different log2m: %d and %d",
						a->h.log2m, b->h.log2m),
				 errdetail("Registers of sketches with %d and %d registers do not correspond.",
						   1 << a->h.log2m, 1 << b->h.log2m),
				 errhint("Build every sketch that will be combined with the same log2m.")));
}

Datum
gc_hll_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	size_t		len;
	uint8	   *bytes = GcHexToBytes(str, &len, "gc_hll");

	/* validate exactly as receive does */
	(void) StateFromBytes(CurrentMemoryContext, bytes, len, ERRCODE_INVALID_TEXT_REPRESENTATION);
	PG_RETURN_BYTEA_P(GcSketchVarlena(bytes, len));
}

Datum
gc_hll_out(PG_FUNCTION_ARGS)
{
	bytea	   *v = PG_GETARG_BYTEA_PP(0);

	PG_RETURN_CSTRING(GcBytesToHex((uint8 *) VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v)));
}

Datum
gc_hll_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	int			len = buf->len - buf->cursor;
	const char *bytes = pq_getmsgbytes(buf, len);

	(void) StateFromBytes(CurrentMemoryContext, (const uint8 *) bytes, len,
						  ERRCODE_INVALID_BINARY_REPRESENTATION);
	PG_RETURN_BYTEA_P(GcSketchVarlena(bytes, len));
}

Datum
gc_hll_send(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(GcSketchSend(PG_GETARG_BYTEA_PP(0)));
}

/* gc_hll_agg(anyelement [, log2m]): hash each non-null value into the sketch. */
Datum
gc_hll_agg_trans(PG_FUNCTION_ARGS)
{
	HllState   *s = PG_ARGISNULL(0) ? NULL : (HllState *) PG_GETARG_POINTER(0);
	int			log2m = GC_HLL_DEFAULT_LOG2M;
	GcValueHasher *hasher;

	if (PG_NARGS() > 2)
	{
		if (PG_ARGISNULL(2))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("log2m must not be null")));
		log2m = PG_GETARG_INT32(2);
	}
	/*
	 * Only the executor can hand us a non-null internal state, so the
	 * aggregate-context check is needed (and paid) once, when the state is made.
	 */
	if (s == NULL)
		s = NewState(GcAggContext(fcinfo, "gc_hll_agg_trans"), log2m);
	else if (unlikely(s->h.log2m != log2m))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("log2m must be the same for every row of an aggregate: %d and %d",
						s->h.log2m, log2m)));
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(s);
	hasher = GcGetHasher(fcinfo, 1);
	if (hasher->kind == GC_HASH_BYTES || hasher->kind == GC_HASH_BPCHAR)
		AddBytes(s, hasher, PG_GETARG_DATUM(1));
	else
		AddHash(s, GcValueHash(hasher, PG_GETARG_DATUM(1)));
	PG_RETURN_POINTER(s);
}

/* gc_hll_union_agg(gc_hll): register-wise max of the non-null sketches. */
Datum
gc_hll_union_trans(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = GcAggContext(fcinfo, "gc_hll_union_trans");
	HllState   *s = PG_ARGISNULL(0) ? NULL : (HllState *) PG_GETARG_POINTER(0);
	HllState   *in;

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(s);
	in = StateFromDatum(PG_GETARG_DATUM(1));
	if (s == NULL)
		s = NewState(cxt, in->h.log2m);
	CheckSameLog2m(s, in);
	CheckStatus(gc_hll_merge(&s->h, &in->h));
	gc_hll_free(&in->h);
	PG_RETURN_POINTER(s);
}

Datum
gc_hll_agg_final(PG_FUNCTION_ARGS)
{
	HllState   *s;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = (HllState *) PG_GETARG_POINTER(0);
	FlushBatch(s);
	PG_RETURN_BYTEA_P(StateToVarlena(s));
}

/* gc_approx_count_distinct: the estimate straight from the state (0 for no rows). */
Datum
gc_hll_count_final(PG_FUNCTION_ARGS)
{
	HllState   *s;

	if (PG_ARGISNULL(0))
		PG_RETURN_INT64(0);
	s = (HllState *) PG_GETARG_POINTER(0);
	FlushBatch(s);
	PG_RETURN_INT64((int64) llround(gc_hll_estimate(&s->h)));
}

Datum
gc_hll_combine(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = GcAggContext(fcinfo, "gc_hll_combine");
	HllState   *a = PG_ARGISNULL(0) ? NULL : (HllState *) PG_GETARG_POINTER(0);
	HllState   *b = PG_ARGISNULL(1) ? NULL : (HllState *) PG_GETARG_POINTER(1);

	FlushBatch(a);
	FlushBatch(b);
	if (b == NULL)
		PG_RETURN_POINTER(a);
	if (a == NULL)
		a = NewState(cxt, b->h.log2m);	/* copy: b may live in a shorter context */
	CheckSameLog2m(a, b);
	CheckStatus(gc_hll_merge(&a->h, &b->h));
	PG_RETURN_POINTER(a);
}

Datum
gc_hll_serial(PG_FUNCTION_ARGS)
{
	HllState   *s = (HllState *) PG_GETARG_POINTER(0);

	(void) GcAggContext(fcinfo, "gc_hll_serial");
	FlushBatch(s);
	PG_RETURN_BYTEA_P(StateToVarlena(s));
}

Datum
gc_hll_deserial(PG_FUNCTION_ARGS)
{
	bytea	   *v = PG_GETARG_BYTEA_PP(0);

	(void) GcAggContext(fcinfo, "gc_hll_deserial");
	PG_RETURN_POINTER(StateFromBytes(CurrentMemoryContext, (uint8 *) VARDATA_ANY(v),
									 VARSIZE_ANY_EXHDR(v), ERRCODE_DATA_CORRUPTED));
}

Datum
gc_hll_count(PG_FUNCTION_ARGS)
{
	HllState   *s = StateFromDatum(PG_GETARG_DATUM(0));

	PG_RETURN_INT64((int64) llround(gc_hll_estimate(&s->h)));
}

/* gc_hll_union(a, b): a null side counts as an empty sketch. */
Datum
gc_hll_union(PG_FUNCTION_ARGS)
{
	HllState   *a,
			   *b;

	if (PG_ARGISNULL(0) && PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(0))
		PG_RETURN_DATUM(PG_GETARG_DATUM(1));
	if (PG_ARGISNULL(1))
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	a = StateFromDatum(PG_GETARG_DATUM(0));
	b = StateFromDatum(PG_GETARG_DATUM(1));
	CheckSameLog2m(a, b);
	CheckStatus(gc_hll_merge(&a->h, &b->h));
	PG_RETURN_BYTEA_P(StateToVarlena(a));
}

/* gc_hll_info(gc_hll) -> jsonb: parameters, representation, size, error. */
Datum
gc_hll_info(PG_FUNCTION_ARGS)
{
	bytea	   *v = PG_GETARG_BYTEA_PP(0);
	HllState   *s = StateFromDatum(PG_GETARG_DATUM(0));
	int			m = 1 << s->h.log2m;
	char		buf[512];

	snprintf(buf, sizeof(buf),
			 "{\"log2m\": %d, \"registers\": %d, \"representation\": \"%s\", "
			 "\"sparse_entries\": %u, \"bytes\": %zu, \"standard_error\": %.6f, \"estimate\": %.3f}",
			 s->h.log2m, m, s->h.dense ? "dense" : "sparse", s->h.nsparse,
			 (size_t) VARSIZE_ANY(v), 1.04 / sqrt((double) m), gc_hll_estimate(&s->h));
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf)));
}
