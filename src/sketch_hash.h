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

#include <math.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "utils/float.h"

#include "sketch_util.h"

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
 * Bob Jenkins' lookup3 hash (2006, public domain) with seed 0, giving the same
 * 64 bits ((b << 32) | c) as PostgreSQL's hash_bytes_extended(k, len, 0), which
 * every extended hash function above ends in.  PostgreSQL reads the key a byte
 * at a time unless it is 4-byte aligned, and a short varlena's data never is (one
 * header byte); here every word is one unaligned little-endian load, which is
 * where the time goes for a 32-byte text.  Big-endian builds call PostgreSQL.
 */
static inline uint32
GcRot32(uint32 x, int k)
{
	return (x << k) | (x >> (32 - k));
}

/* lookup3's reversible mix of a 12-byte block into (a, b, c) */
#define GC_L3_MIX(a, b, c) \
	do { \
		a -= c; a ^= GcRot32(c, 4); c += b; \
		b -= a; b ^= GcRot32(a, 6); a += c; \
		c -= b; c ^= GcRot32(b, 8); b += a; \
		a -= c; a ^= GcRot32(c, 16); c += b; \
		b -= a; b ^= GcRot32(a, 19); a += c; \
		c -= b; c ^= GcRot32(b, 4); b += a; \
	} while (0)

/* lookup3's final avalanche of (a, b, c) */
#define GC_L3_FINAL(a, b, c) \
	do { \
		c ^= b; c -= GcRot32(b, 14); \
		a ^= c; a -= GcRot32(c, 11); \
		b ^= a; b -= GcRot32(a, 25); \
		c ^= b; c -= GcRot32(b, 16); \
		a ^= c; a -= GcRot32(c, 4); \
		b ^= a; b -= GcRot32(a, 14); \
		c ^= b; c -= GcRot32(b, 24); \
	} while (0)

#define GC_L3_INIT(len)	((uint32) 0x9e3779b9 + (uint32) (len) + (uint32) 3923095)

static inline uint32
GcLoad32(const unsigned char *p)
{
	uint32		v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* The n (0..3) bytes at p as the low bytes of a little-endian word. */
static inline uint32
GcLoadTail(const unsigned char *p, uint32 n)
{
	switch (n)
	{
		case 3:
			return (uint32) p[0] | ((uint32) p[1] << 8) | ((uint32) p[2] << 16);
		case 2:
			return (uint32) p[0] | ((uint32) p[1] << 8);
		case 1:
			return (uint32) p[0];
		default:
			return 0;
	}
}

static inline uint64
GcHashBytes(const unsigned char *k, uint32 len)
{
#ifdef WORDS_BIGENDIAN
	return DatumGetUInt64(hash_any_extended(k, (int) len, 0));
#else
	uint32		a,
				b,
				c;

	a = b = c = GC_L3_INIT(len);
	while (len >= 12)
	{
		a += GcLoad32(k);
		b += GcLoad32(k + 4);
		c += GcLoad32(k + 8);
		GC_L3_MIX(a, b, c);
		k += 12;
		len -= 12;
	}
	/* the last 0..11 bytes, little-endian; the low byte of c stays free */
	if (len >= 8)
	{
		a += GcLoad32(k);
		b += GcLoad32(k + 4);
		c += GcLoadTail(k + 8, len - 8) << 8;
	}
	else if (len >= 4)
	{
		a += GcLoad32(k);
		b += GcLoadTail(k + 4, len - 4);
	}
	else
		a += GcLoadTail(k, len);
	GC_L3_FINAL(a, b, c);
	return ((uint64) b << 32) | c;
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
				/*
				 * Packed form, as PG_DETOAST_DATUM_PACKED but without its call for
				 * the usual in-line value: a copy only if compressed or external.
				 */
				struct varlena *v = (struct varlena *) DatumGetPointer(value);
				const unsigned char *p;
				uint32		len;
				uint64		hash;

				if (unlikely(VARATT_IS_COMPRESSED(v) || VARATT_IS_EXTERNAL(v)))
					v = pg_detoast_datum_packed(v);
				p = (const unsigned char *) VARDATA_ANY(v);
				len = VARSIZE_ANY_EXHDR(v);

				if (h->kind == GC_HASH_BPCHAR)
				{
					/* as bcTruelen: trailing blanks are not part of a bpchar */
					while (len > 0 && p[len - 1] == ' ')
						len--;
				}
				hash = GcHashBytes(p, len);
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
