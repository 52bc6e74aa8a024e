/*
 * rowarray.c — converting SQL float8[] rows to C arrays and back.
 *
 * A row is a one-dimensional float8 array; NULL elements and NaN both mean "missing".
 * Infinite values are rejected: no marginal can place them.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"

#include "gcimpute.h"

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

		/*
		 * Branch-free: with missing entries scattered at random, a branch on each null
		 * bit mispredicts often. Every position reads a present value (the last one when
		 * none is left), and a null bit selects NaN instead.
		 */
		for (int i = 0; i < n && nv > 0; i++)
		{
			int			present = (nulls[i / 8] >> (i % 8)) & 1;
			double		v = src[k < nv ? k : nv - 1];

			out[i] = present ? v : NAN;
			k += present;
		}
		if (nv == 0)
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
