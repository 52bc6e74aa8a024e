/*
 * sketch_hash_sql.h — hashing SQL values for the sketches (PostgreSQL glue).
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

#include <math.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "utils/float.h"

#include "pg_compat.h"
#include "sketch/l3batch.h"
#include "sketch/sketch_util.h"

/*
 * How a hasher computes the hash.  For the common types, and text under a
 * deterministic collation, the value is hashed here exactly as the type's
 * extended hash function hashes it (hashint2/4/8extended, hashoidextended,
 * hashcharextended, hashfloat4/8extended, uuid_hash_extended, hashtextextended,
 * hashbpcharextended, hashvarlenaextended, all with seed 0), without the fmgr
 * call: same 64 bits, fewer nanoseconds per row.  gc_sketch_hash() exposes the
 * result so that the regression tests can compare it with the type's function.
 * Everything else calls the type's function.
 */
typedef enum GcHashKind
{
	GC_HASH_FMGR = 0,
	GC_HASH_INT2,
	GC_HASH_INT4,				/* also oid, date: the 32-bit value itself */
	GC_HASH_INT8,				/* also timestamp, timestamptz, time */
	GC_HASH_CHAR,				/* "char", bool */
	GC_HASH_FLOAT4,
	GC_HASH_FLOAT8,
	GC_HASH_UUID,
	GC_HASH_BYTES,				/* the varlena's bytes (text, varchar, bytea) */
	GC_HASH_BPCHAR				/* the bytes without trailing blanks */
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

/*
 * lookup3 with seed 0: the same 64 bits as PostgreSQL's hash_bytes_extended(k,
 * len, 0), which every extended hash function above ends in, but with one
 * unaligned load per word (sketch/l3batch.h).  Big-endian builds call PostgreSQL.
 */
static inline uint64
GcHashBytes(const unsigned char *k, uint32 len)
{
#if GC_L3B_AVAILABLE && !defined(WORDS_BIGENDIAN)
	return gc_lookup3(k, len);
#else
	return DatumGetUInt64(hash_any_extended(k, (int) len, 0));
#endif
}

/* hash_bytes_uint32_extended(k, 0): lookup3 of one 32-bit word */
static inline uint64
GcHashUint32(uint32 k)
{
	uint32		a,
				b,
				c;

	a = b = c = GC_L3_INIT(sizeof(uint32));
	a += k;
	GC_L3_FINAL(a, b, c);
	return ((uint64) b << 32) | c;
}

/* A float8 key as hashfloat8extended hashes it: zeros to the seed, one NaN. */
static inline uint64
GcHashFloat8(float8 key)
{
	if (key == (float8) 0)
		return 0;
	if (isnan(key))
		key = get_float8_nan();
	return GcHashBytes((const unsigned char *) &key, sizeof(key));
}

/*
 * The bytes a GC_HASH_BYTES or GC_HASH_BPCHAR hasher hashes: the packed form, as
 * PG_DETOAST_DATUM_PACKED but without its call for the usual in-line value (a
 * copy only if compressed or external), and for bpchar without trailing blanks
 * (as bcTruelen).  Returns the varlena *p points into; the caller pfrees it if
 * it is not the value itself.
 */
static inline struct varlena *
GcValueBytes(GcValueHasher *h, Datum value, const unsigned char **p, uint32 *len)
{
	struct varlena *v = (struct varlena *) DatumGetPointer(value);
	const unsigned char *d;
	uint32		n;

	if (unlikely(VARATT_IS_COMPRESSED(v) || VARATT_IS_EXTERNAL(v)))
		v = pg_detoast_datum_packed(v);
	d = (const unsigned char *) VARDATA_ANY(v);
	n = VARSIZE_ANY_EXHDR(v);
	if (h->kind == GC_HASH_BPCHAR)
	{
		while (n > 0 && d[n - 1] == ' ')
			n--;
	}
	*p = d;
	*len = n;
	return v;
}

/*
 * The type's extended hash of a non-null value with seed 0: what the sketches
 * start from (gc_sketch_hash() returns it).
 */
static inline uint64
GcValueHash(GcValueHasher *h, Datum value)
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
				return GcHashUint32(lohalf);
			}
		case GC_HASH_INT4:
			return GcHashUint32((uint32) DatumGetInt32(value));
		case GC_HASH_INT2:
			return GcHashUint32((uint32) (int32) DatumGetInt16(value));
		case GC_HASH_CHAR:
			return GcHashUint32((uint32) (int32) DatumGetChar(value));
		case GC_HASH_FLOAT4:
			/* hashfloat4extended widens to float8 first (0 and -0, NaNs agree) */
			return GcHashFloat8((float8) DatumGetFloat4(value));
		case GC_HASH_FLOAT8:
			return GcHashFloat8(DatumGetFloat8(value));
		case GC_HASH_UUID:
			return GcHashBytes((const unsigned char *) DatumGetPointer(value), 16);
		case GC_HASH_BYTES:
		case GC_HASH_BPCHAR:
			{
				const unsigned char *p;
				uint32		len;
				struct varlena *v = GcValueBytes(h, value, &p, &len);
				uint64		hash = GcHashBytes(p, len);

				if ((Pointer) v != DatumGetPointer(value))
					pfree(v);
				return hash;
			}
		default:
			return GcHashDatumFmgr(h, value);
	}
}

/* 64-bit sketch hash of a non-null value of the hasher's type. */
static inline uint64
GcHashDatum(GcValueHasher *h, Datum value)
{
	return gc_sketch_mix64(GcValueHash(h, value));
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
