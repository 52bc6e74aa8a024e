/*
 * sketch_hash.h — hashing SQL values for the sketches (PostgreSQL glue).
 *
 * Every value is hashed through its type's extended (64-bit, seeded) hash support
 * function, found with lookup_type_cache(TYPECACHE_HASH_EXTENDED_PROC_FINFO), and
 * then re-mixed with gc_mix64.  Equal values hash equally whatever their storage:
 * the hash functions detoast and, for int2/int4/int8, agree across the integer
 * types, as hash joins require.  Also hex text I/O shared by gc_hll and gc_cms.
 */
#ifndef GC_SKETCH_HASH_H
#define GC_SKETCH_HASH_H

#include "postgres.h"

#include "fmgr.h"

/* Per-call-site cache kept in flinfo->fn_extra. */
typedef struct GcValueHasher
{
	Oid			typid;
	Oid			collation;
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

/* Hasher for argument argno of the current call, built on first use. */
extern GcValueHasher *GcGetHasher(FunctionCallInfo fcinfo, int argno);

/* 64-bit hash of a non-null value of the hasher's type. */
extern uint64 GcHashDatum(GcValueHasher *h, Datum value);

/* Text form of a value (type output function), palloc'd in the current context. */
extern char *GcValueText(FunctionCallInfo fcinfo, GcValueHasher *h, Datum value);

/* "\x" followed by lower-case hex of the bytes. */
extern char *GcBytesToHex(const uint8 *buf, size_t len);

/*
 * Decode "\x..." text into bytes; ereports ERRCODE_INVALID_TEXT_REPRESENTATION
 * naming typname on anything else.
 */
extern uint8 *GcHexToBytes(const char *str, size_t *len, const char *typname);

#endif							/* GC_SKETCH_HASH_H */
