/*
 * rowarray_sql.c — converting SQL float8[] rows to C arrays and back.
 *
 * A row is a one-dimensional float8 array; NULL elements and NaN both mean "missing".
 * Infinite values are rejected: no marginal can place them.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"

#include "gcimpute.h"
#include "platform/simd.h"

int
gc_row_length(ArrayType *a, const char *fn)
{
	int			nelems;

	if (ARR_ELEMTYPE(a) != FLOAT8OID)
		elog(ERROR, "%s: expected a float8[] argument", fn);
	if (ARR_NDIM(a) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: a row must have at least one element", fn)));
	if (ARR_NDIM(a) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s: a row must be a one-dimensional array, not %d-dimensional", fn, ARR_NDIM(a))));
	nelems = ARR_DIMS(a)[0];
	return nelems;
}

#ifdef GC_SIMD_X86
/*
 * The row's present values into their positions, NaN elsewhere, eight positions per
 * instruction: an expand load puts the next popcount(mask) stored values into the lanes
 * whose null bit is set (it reads no more than that). Returns false, having written part
 * of out, if the bitmap claims more present values than the array stores (nv).
 */
static GC_TARGET_AVX512 bool
ExpandRowAvx512(const double *src, const bits8 *nulls, int n, int nv, double *out)
{
	const __m512d nan = _mm512_set1_pd(NAN);
	int			k = 0,
				i = 0;

	for (; i + 8 <= n; i += 8)
	{
		__mmask8	m = nulls[i / 8];

		if (k + __builtin_popcount(m) > nv)
			return false;
		_mm512_storeu_pd(out + i, _mm512_mask_expandloadu_pd(nan, m, src + k));
		k += __builtin_popcount(m);
	}
	if (i < n)
	{
		__mmask8	tail = (__mmask8) ((1u << (n - i)) - 1),
					m = nulls[i / 8] & tail;

		if (k + __builtin_popcount(m) > nv)
			return false;
		_mm512_mask_storeu_pd(out + i, tail, _mm512_mask_expandloadu_pd(nan, m, src + k));
	}
	return true;
}
#endif

void
gc_row_values(ArrayType *a, double *out, int n, const char *fn, int64 rowno)
{
	const double *src = (const double *) ARR_DATA_PTR(a);
	bits8	   *nulls = ARR_NULLBITMAP(a);
	bool		anyinf = false;

	if (nulls == NULL)
		memcpy(out, src, sizeof(double) * n);
	else
	{
		/* values present: float8 elements are stored back to back after the bitmap */
		int			nv = (int) ((ARR_SIZE(a) - ARR_DATA_OFFSET(a)) / sizeof(double));
		int			k = 0;
		bool		done = false;

#ifdef GC_SIMD_X86
		if (gc_simd_level >= GC_SIMD_AVX512)
			done = ExpandRowAvx512(src, nulls, n, nv, out);
#endif

		/*
		 * Branch-free: with missing entries scattered at random, a branch on each null
		 * bit mispredicts often. Every position reads a present value (the last one when
		 * none is left), and a null bit selects NaN instead.
		 */
		for (int i = 0; !done && nv > 0 && i < n; i++)
		{
			int			present = (nulls[i / 8] >> (i % 8)) & 1;
			double		v = src[k < nv ? k : nv - 1];

			out[i] = present ? v : NAN;
			k += present;
		}
		if (!done && nv == 0)
			for (int i = 0; i < n; i++)
				out[i] = NAN;
	}
	for (int i = 0; i < n; i++)
		anyinf |= isinf(out[i]);
	for (int i = 0; anyinf && i < n; i++)
		if (isinf(out[i]))
		{
			if (rowno >= 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s: row " INT64_FORMAT " has an infinite value at position %d", fn, rowno, i + 1),
						 errhint("Use NULL (or NaN) for a missing value.")));
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s: infinite value at position %d", fn, i + 1),
						 errhint("Use NULL (or NaN) for a missing value.")));
		}
}

ArrayType *
gc_row_build(const double *v, int n, bool nan_as_null)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};
	bool		hasnull = false;
	ArrayType  *a;

	if (nan_as_null)
		for (int i = 0; i < n; i++)
			if (isnan(v[i]))
				hasnull = true;
	if (!hasnull)
	{
		Size		size = ARR_OVERHEAD_NONULLS(1) + sizeof(double) * n;

		a = (ArrayType *) palloc0(size);
		SET_VARSIZE(a, size);
		a->ndim = 1;
		a->dataoffset = 0;
		a->elemtype = FLOAT8OID;
		ARR_DIMS(a)[0] = n;
		ARR_LBOUND(a)[0] = 1;
		memcpy(ARR_DATA_PTR(a), v, sizeof(double) * n);
	}
	else
	{
		Datum	   *d = palloc(sizeof(Datum) * n);
		bool	   *nulls = palloc(sizeof(bool) * n);

		for (int i = 0; i < n; i++)
		{
			nulls[i] = isnan(v[i]);
			d[i] = Float8GetDatum(v[i]);
		}
		a = construct_md_array(d, nulls, 1, dims, lbs, FLOAT8OID, sizeof(float8),
							   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	}
	return a;
}
