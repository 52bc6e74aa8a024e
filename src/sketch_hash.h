/*
 * sketch_hash.h — hashing SQL values for the sketches (PostgreSQL glue).
 *
 * Every value is hashed through its type's extended (64-bit, seeded) hash support
 * function, found with lookup_type_cache(TYPECACHE_HASH_EXTENDED_PROC_FINFO), and
 * then re-mixed with gc_sketch_mix64.  Equal values hash equally whatever their storage:
 * the hash functions detoast and, for int2/int4/int8, agree across the integer
 * types, as hash joins require.  Also hex text I/O shared by gc_hll and gc_cms.
 */
#ifndef GC_SKETCH_HASH_H
#define GC_SKETCH_HASH_H

#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"

#include "sketch_util.h"

/*
 * How a hasher computes the hash.  The integer types, and text under a
 * deterministic collation (and bytea), are hashed here exactly as their extended
 * hash functions (hashint2/4/8extended, hashtextextended, hashvarlenaextended)
 * hash them, without the fmgr call and the per-row collation lookup: same values,
 * fewer nanoseconds per row.  Everything else calls the type's function.
 */
typedef enum GcHashKind
{
	GC_HASH_FMGR = 0,
	GC_HASH_INT2,
	GC_HASH_INT4,
	GC_HASH_INT8,
	GC_HASH_BYTES				/* hash_any_extended over the detoasted bytes */
} GcHashKind;

/* Per-call-site cache kept in flinfo->fn_extra. */
typedef struct GcValueHasher
{
	Oid			typid;
	Oid			collation;
	GcHashKind	kind;
	FmgrInfo	hashproc;
	bool		have_out;		/* outproc initialised (Count-Min candidates) */
	FmgrInfo	outproc;
	/* call frame for hashproc, initialised once: the per-row call only sets args */
	union
	{
		FunctionCallInfoBaseData fcinfo;
		char		space[SizeForFunctionCallInfo(2)];
	}			call;
} GcValueHasher;

extern GcValueHasher *GcBuildHasher(FunctionCallInfo fcinfo, int argno);
extern uint64 GcHashDatumFmgr(GcValueHasher *h, Datum value);

/*
 * Hasher for argument argno of the current call, built on first use and kept in
 * fn_extra (the argument type of a call site never changes).
 */
static inline GcValueHasher *
GcGetHasher(FunctionCallInfo fcinfo, int argno)
{
	GcValueHasher *h = (GcValueHasher *) fcinfo->flinfo->fn_extra;

	return likely(h != NULL) ? h : GcBuildHasher(fcinfo, argno);
}

/* 64-bit hash of a non-null value of the hasher's type. */
static inline uint64
GcHashDatum(GcValueHasher *h, Datum value)
{
	switch (h->kind)
	{
		case GC_HASH_INT8:
			{
				/* as hashint8extended: int8 values that fit in int4 hash like int4 */
				int64		val = DatumGetInt64(value);
				uint32		lohalf = (uint32) val;
				uint32		hihalf = (uint32) (val >> 32);

				lohalf ^= (val >= 0) ? hihalf : ~hihalf;
				return gc_sketch_mix64(hash_bytes_uint32_extended(lohalf, 0));
			}
		case GC_HASH_INT4:
			return gc_sketch_mix64(hash_bytes_uint32_extended((uint32) DatumGetInt32(value), 0));
		case GC_HASH_INT2:
			return gc_sketch_mix64(hash_bytes_uint32_extended((uint32) (int32) DatumGetInt16(value), 0));
		case GC_HASH_BYTES:
			{
				struct varlena *v = PG_DETOAST_DATUM_PACKED(value);
				uint64		hash = hash_bytes_extended((const unsigned char *) VARDATA_ANY(v),
													   VARSIZE_ANY_EXHDR(v), 0);

				if ((Pointer) v != DatumGetPointer(value))
					pfree(v);
				return gc_sketch_mix64(hash);
			}
		default:
			return GcHashDatumFmgr(h, value);
	}
}

/* Text form of a value (type output function), palloc'd in the current context. */
extern char *GcValueText(FunctionCallInfo fcinfo, GcValueHasher *h, Datum value);

/* "\x" followed by lower-case hex of the bytes. */
extern char *GcBytesToHex(const uint8 *buf, size_t len);

/*
 * Decode "\x..." text into bytes; ereports ERRCODE_INVALID_TEXT_REPRESENTATION
 * naming typname on anything else.
 */
extern uint8 *GcHexToBytes(const char *str, size_t *len, const char *typname);

/* A bytea holding a copy of len (already validated) bytes: the sketch types' varlena. */
extern bytea *GcSketchVarlena(const void *bytes, size_t len);

/* The binary send form of a sketch: its bytes as they are. */
extern bytea *GcSketchSend(bytea *v);

/* The aggregate memory context, or an error naming the function. */
extern MemoryContext GcAggContext(FunctionCallInfo fcinfo, const char *fname);

#endif							/* GC_SKETCH_HASH_H */
