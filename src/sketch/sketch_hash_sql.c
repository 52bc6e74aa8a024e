/*
 * sketch_hash_sql.c — hashing SQL values for the sketches, and the hex text form of
 * sketch values.  See sketch_hash.h.
 */
#include "postgres.h"

#include "libpq/pqformat.h"

#include "catalog/pg_collation.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "sketch/sketch_hash_sql.h"
#include "sketch/sketch_util.h"

/*
 * The inline path for a hash support function, if there is one.  Text and bpchar
 * hash their bytes only under a deterministic collation (see hashtextextended);
 * otherwise the collation's sort key is hashed and only the function knows how.
 */
static GcHashKind
GcHashKindOf(Oid hashfn, Oid collation)
{
	switch (hashfn)
	{
		case F_HASHINT8EXTENDED:
		case F_TIMESTAMP_HASH_EXTENDED:
		case F_TIME_HASH_EXTENDED:
			return GC_HASH_INT8;
		case F_HASHINT4EXTENDED:
		case F_HASHOIDEXTENDED:
			return GC_HASH_INT4;
		case F_HASHINT2EXTENDED:
			return GC_HASH_INT2;
		case F_HASHCHAREXTENDED:
			return GC_HASH_CHAR;
		case F_HASHFLOAT4EXTENDED:
			return GC_HASH_FLOAT4;
		case F_HASHFLOAT8EXTENDED:
			return GC_HASH_FLOAT8;
		case F_UUID_HASH_EXTENDED:
			return GC_HASH_UUID;
		case F_HASHVARLENAEXTENDED:
			return GC_HASH_BYTES;
		case F_HASHTEXTEXTENDED:
		case F_HASHBPCHAREXTENDED:
			if (OidIsValid(collation) && get_collation_isdeterministic(collation))
				return hashfn == F_HASHTEXTEXTENDED ? GC_HASH_BYTES : GC_HASH_BPCHAR;
			return GC_HASH_FMGR;
		default:
			return GC_HASH_FMGR;
	}
}

GcValueHasher *
GcBuildHasher(FunctionCallInfo fcinfo, int argno)
{
	GcValueHasher *h;
	Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, argno);

	/* a domain hashes as its base type */
	if (OidIsValid(typid))
		typid = getBaseType(typid);

	if (!OidIsValid(typid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("could not determine the data type of the value to hash")));
	h = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(GcValueHasher));
	{
		TypeCacheEntry *tce = lookup_type_cache(typid, TYPECACHE_HASH_EXTENDED_PROC_FINFO);

		if (!OidIsValid(tce->hash_extended_proc))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("could not identify an extended hash function for type %s",
							format_type_be(typid)),
					 errdetail("Sketches hash every value with its type's 64-bit hash support function."),
					 errhint("Cast the value to a hashable type such as text.")));
		fmgr_info_copy(&h->hashproc, &tce->hash_extended_proc_finfo, fcinfo->flinfo->fn_mcxt);
	}
	h->typid = typid;
	h->collation = PG_GET_COLLATION();
	if (!OidIsValid(h->collation) && type_is_collatable(typid))
		h->collation = DEFAULT_COLLATION_OID;
	h->kind = GcHashKindOf(h->hashproc.fn_oid, h->collation);
	InitFunctionCallInfoData(h->call.fcinfo, &h->hashproc, 2, h->collation, NULL, NULL);
	h->call.fcinfo.args[1].value = Int64GetDatum(0);	/* seed */
	h->call.fcinfo.args[1].isnull = false;
	h->call.fcinfo.args[0].isnull = false;
	fcinfo->flinfo->fn_extra = h;
	return h;
}

uint64
GcHashDatumFmgr(GcValueHasher *h, Datum value)
{
	FunctionCallInfo fc = &h->call.fcinfo;
	Datum		d;

	fc->args[0].value = value;
	fc->isnull = false;
	d = h->hashproc.fn_addr(fc);
	if (unlikely(fc->isnull))
		elog(ERROR, "hash function %u returned NULL", h->hashproc.fn_oid);
	return DatumGetUInt64(d);
}

/*
 * gc_sketch_hash(anyelement) -> bigint: the 64-bit hash gc_hll and gc_cms start
 * from (before their mixer), computed as the aggregates compute it.  It equals
 * the type's extended hash function with seed 0; the regression tests check
 * that for every type with an inline path.
 */
PG_FUNCTION_INFO_V1(gc_sketch_hash);

Datum
gc_sketch_hash(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_INT64((int64) GcValueHash(GcGetHasher(fcinfo, 0), PG_GETARG_DATUM(0)));
}

char *
GcValueText(FunctionCallInfo fcinfo, GcValueHasher *h, Datum value)
{
	if (!h->have_out)
	{
		Oid			outfn;
		bool		varlena;

		getTypeOutputInfo(h->typid, &outfn, &varlena);
		fmgr_info_cxt(outfn, &h->outproc, fcinfo->flinfo->fn_mcxt);
		h->have_out = true;
	}
	return OutputFunctionCall(&h->outproc, value);
}

char *
GcBytesToHex(const uint8 *buf, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char	   *out = palloc(2 * len + 3);
	char	   *p = out;

	*p++ = '\\';
	*p++ = 'x';
	for (size_t i = 0; i < len; i++)
	{
		*p++ = digits[buf[i] >> 4];
		*p++ = digits[buf[i] & 15];
	}
	*p = '\0';
	return out;
}

static int
HexValue(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

uint8 *
GcHexToBytes(const char *str, size_t *len, const char *typname)
{
	size_t		n = strlen(str);
	uint8	   *out;

	if (n < 2 || str[0] != '\\' || str[1] != 'x' || (n - 2) % 2 != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type %s", typname),
				 errdetail("A %s value is written as \\x followed by an even number of hexadecimal digits.",
						   typname)));
	*len = (n - 2) / 2;
	out = palloc(*len + 1);
	for (size_t i = 0; i < *len; i++)
	{
		int			hi = HexValue(str[2 + 2 * i]);
		int			lo = HexValue(str[3 + 2 * i]);

		if (hi < 0 || lo < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type %s", typname),
					 errdetail("\"%c%c\" at position %zu is not a hexadecimal byte.",
							   str[2 + 2 * i], str[3 + 2 * i], 2 + 2 * i)));
		out[i] = (uint8) (hi << 4 | lo);
	}
	return out;
}

bytea *
GcSketchVarlena(const void *bytes, size_t len)
{
	bytea	   *out = palloc(VARHDRSZ + len);

	SET_VARSIZE(out, VARHDRSZ + len);
	memcpy(VARDATA(out), bytes, len);
	return out;
}

bytea *
GcSketchSend(bytea *v)
{
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
	return pq_endtypsend(&buf);
}

MemoryContext
GcAggContext(FunctionCallInfo fcinfo, const char *fname)
{
	MemoryContext cxt;

	if (!AggCheckCallContext(fcinfo, &cxt))
		elog(ERROR, "%s called in non-aggregate context", fname);
	return cxt;
}
