/*
 * metrics_sql.c — evaluating imputation: MCAR masking and the error measures of the
 * reference package (gcimpute.helper_evaluation): SMAE per column, MAE and NRMSE pooled.
 *
 * A test entry is one that is missing in the masked row and observed in the true row.
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "gcimpute.h"
#include "platform/rng.h"
#include "platform/sort.h"

PG_FUNCTION_INFO_V1(gc_mask_mcar);
PG_FUNCTION_INFO_V1(gc_smae_transfn);
PG_FUNCTION_INFO_V1(gc_smae_finalfn);
PG_FUNCTION_INFO_V1(gc_err_transfn);
PG_FUNCTION_INFO_V1(gc_err_combinefn);
PG_FUNCTION_INFO_V1(gc_err_serialfn);
PG_FUNCTION_INFO_V1(gc_err_deserialfn);
PG_FUNCTION_INFO_V1(gc_mae_finalfn);
PG_FUNCTION_INFO_V1(gc_nrmse_finalfn);

/*
 * Mask each observed entry independently with probability fraction, but never all of a
 * row's observed entries (one is revealed again, as mask_MCAR does for empty rows). The
 * draw is a function of the seed and the row's values, so it is reproducible.
 */
Datum
gc_mask_mcar(PG_FUNCTION_ARGS)
{
	ArrayType  *row = PG_GETARG_ARRAYTYPE_P(0);
	double		fraction = PG_GETARG_FLOAT8(1);
	int64		seed = PG_GETARG_INT64(2);
	int			p = gc_row_length(row, "gc_mask_mcar");
	double	   *v = palloc(sizeof(double) * p);
	double	   *out = palloc(sizeof(double) * p);
	int			nobs = 0,
				nmasked = 0;
	GcRng		rng;
	uint64		h;

	if (!(fraction >= 0 && fraction <= 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_mask_mcar: fraction must be between 0 and 1, got %g", fraction)));
	gc_row_values(row, v, p, "gc_mask_mcar", -1);
	for (int i = 0; i < p; i++)
		if (isnan(v[i]))
			v[i] = NAN;			/* one NaN bit pattern for hashing */
	h = hash_bytes_extended((const unsigned char *) v, sizeof(double) * p, (uint64) seed);
	gc_rng_seed(&rng, gc_mix64(h ^ (uint64) seed));
	for (int i = 0; i < p; i++)
	{
		out[i] = v[i];
		if (isnan(v[i]))
			continue;
		nobs++;
		if (gc_rng_uniform(&rng) < fraction)
		{
			out[i] = NAN;
			nmasked++;
		}
	}
	if (nobs > 0 && nmasked == nobs)
	{
		/* reveal one originally observed entry again */
		int			k = (int) gc_rng_below(&rng, nobs);

		for (int i = 0; i < p; i++)
			if (!isnan(v[i]) && k-- == 0)
				out[i] = v[i];
	}
	PG_RETURN_ARRAYTYPE_P(gc_row_build(out, p, true));
}

/* Read the three arrays of a metric row; all must have the same length as earlier rows. */
static int
ReadTriple(FunctionCallInfo fcinfo, int *p, double **imp, double **tru, double **msk,
		   const char *fn)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(1),
			   *b = PG_GETARG_ARRAYTYPE_P(2),
			   *c = PG_GETARG_ARRAYTYPE_P(3);
	int			na = gc_row_length(a, fn),
				nb = gc_row_length(b, fn),
				nc = gc_row_length(c, fn);

	if (na != nb || na != nc)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s: imputed, true and masked rows must have the same length", fn),
				 errdetail("Got %d, %d and %d values.", na, nb, nc)));
	if (*p != 0 && na != *p)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s: all rows must have the same length", fn),
				 errdetail("This row has %d values, earlier rows have %d.", na, *p)));
	*p = na;
	*imp = palloc(sizeof(double) * na);
	*tru = palloc(sizeof(double) * na);
	*msk = palloc(sizeof(double) * na);
	gc_row_values(a, *imp, na, fn, -1);
	gc_row_values(b, *tru, na, fn, -1);
	gc_row_values(c, *msk, na, fn, -1);
	return na;
}

/* ---------- SMAE ---------- */

typedef struct SmaeColumn
{
	int64		nobs,
				capobs;
	double	   *obs;			/* observed entries of the masked column (for the median) */
	int64		ntest,
				captest;
	double	   *test;			/* pairs (imputed, true) of the test entries */
} SmaeColumn;

typedef struct SmaeState
{
	int			p;
	int64		rows;
	Size		bytes;
	SmaeColumn *cols;
} SmaeState;

static void
Push(MemoryContext cxt, SmaeState *st, double **arr, int64 *n, int64 *cap, int width,
	 const double *vals)
{
	if (*n == *cap)
	{
		int64		newcap = *cap ? *cap * 2 : 256;

		st->bytes += (newcap - *cap) * width * sizeof(double);
		if (st->bytes > (Size) maintenance_work_mem * 1024)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("gc_smae needs more than maintenance_work_mem (%d kB)", maintenance_work_mem),
					 errhint("Increase maintenance_work_mem or evaluate on a sample.")));
		*arr = *arr ? repalloc_huge(*arr, newcap * width * sizeof(double))
			: MemoryContextAllocHuge(cxt, newcap * width * sizeof(double));
		*cap = newcap;
	}
	memcpy(*arr + *n * width, vals, sizeof(double) * width);
	(*n)++;
}

Datum
gc_smae_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt,
				old;
	SmaeState  *st;
	double	   *imp,
			   *tru,
			   *msk;
	int			p;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "gc_smae_transfn called in non-aggregate context");
	st = PG_ARGISNULL(0) ? NULL : (SmaeState *) PG_GETARG_POINTER(0);
	if (st == NULL)
		st = MemoryContextAllocZero(aggcxt, sizeof(SmaeState));
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_POINTER(st);
	p = st->p;
	ReadTriple(fcinfo, &p, &imp, &tru, &msk, "gc_smae");
	old = MemoryContextSwitchTo(aggcxt);
	if (st->cols == NULL)
	{
		st->p = p;
		st->cols = palloc0(sizeof(SmaeColumn) * p);
	}
	MemoryContextSwitchTo(old);
	st->rows++;
	for (int j = 0; j < p; j++)
	{
		SmaeColumn *c = &st->cols[j];

		if (!isnan(msk[j]))
			Push(aggcxt, st, &c->obs, &c->nobs, &c->capobs, 1, &msk[j]);
		else if (!isnan(tru[j]))
		{
			double		pair[2] = {imp[j], tru[j]};

			if (isnan(imp[j]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("gc_smae: row " INT64_FORMAT " has no imputed value in column %d", st->rows, j + 1),
						 errdetail("Every entry missing in the masked row and known in the true row must be imputed.")));
			Push(aggcxt, st, &c->test, &c->ntest, &c->captest, 2, pair);
		}
	}
	PG_RETURN_POINTER(st);
}

/* SMAE_j = Σ|x̂ − x| / Σ|median_j − x| over the test entries of column j (NULL if none). */
Datum
gc_smae_finalfn(PG_FUNCTION_ARGS)
{
	SmaeState  *st = PG_ARGISNULL(0) ? NULL : (SmaeState *) PG_GETARG_POINTER(0);
	double	   *res;

	if (st == NULL || st->p == 0)
		PG_RETURN_NULL();
	res = palloc(sizeof(double) * st->p);
	for (int j = 0; j < st->p; j++)
	{
		SmaeColumn *c = &st->cols[j];
		double	   *sorted,
					med,
					num = 0,
					den = 0;

		if (c->ntest == 0 || c->nobs == 0)
		{
			res[j] = NAN;
			continue;
		}
		sorted = palloc(sizeof(double) * c->nobs);
		memcpy(sorted, c->obs, sizeof(double) * c->nobs);
		gc_sort_doubles(sorted, c->nobs);
		med = c->nobs % 2 ? sorted[c->nobs / 2]
			: (sorted[c->nobs / 2 - 1] + sorted[c->nobs / 2]) / 2;
		pfree(sorted);
		for (int64 k = 0; k < c->ntest; k++)
		{
			num += fabs(c->test[2 * k] - c->test[2 * k + 1]);
			den += fabs(med - c->test[2 * k + 1]);
		}
		res[j] = den > 0 ? num / den : (num > 0 ? INFINITY : NAN);
	}
	PG_RETURN_ARRAYTYPE_P(gc_row_build(res, st->p, true));
}

/* ---------- MAE and NRMSE (pooled over all test entries) ---------- */

typedef struct ErrState
{
	int			p;
	int64		n;				/* test entries */
	double		sae;			/* Σ|x̂ − x| */
	double		sse;			/* Σ(x̂ − x)² */
	double		sst;			/* Σx² */
} ErrState;

Datum
gc_err_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	ErrState   *st;
	double	   *imp,
			   *tru,
			   *msk;
	int			p;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "gc_err_transfn called in non-aggregate context");
	st = PG_ARGISNULL(0) ? NULL : (ErrState *) PG_GETARG_POINTER(0);
	if (st == NULL)
		st = MemoryContextAllocZero(aggcxt, sizeof(ErrState));
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_POINTER(st);
	p = st->p;
	ReadTriple(fcinfo, &p, &imp, &tru, &msk, "gc_mae/gc_nrmse");
	st->p = p;
	for (int j = 0; j < p; j++)
	{
		double		d;

		if (!isnan(msk[j]) || isnan(tru[j]))
			continue;
		if (isnan(imp[j]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("gc_mae/gc_nrmse: a test entry in column %d has no imputed value", j + 1)));
		d = imp[j] - tru[j];
		st->n++;
		st->sae += fabs(d);
		st->sse += d * d;
		st->sst += tru[j] * tru[j];
	}
	PG_RETURN_POINTER(st);
}

Datum
gc_err_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	ErrState   *a = PG_ARGISNULL(0) ? NULL : (ErrState *) PG_GETARG_POINTER(0);
	ErrState   *b = PG_ARGISNULL(1) ? NULL : (ErrState *) PG_GETARG_POINTER(1);

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "gc_err_combinefn called in non-aggregate context");
	if (b == NULL)
		PG_RETURN_POINTER(a);
	if (a == NULL)
	{
		a = MemoryContextAllocZero(aggcxt, sizeof(ErrState));
		*a = *b;
		PG_RETURN_POINTER(a);
	}
	if (a->p != 0 && b->p != 0 && a->p != b->p)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("gc_mae/gc_nrmse: all rows must have the same length"),
				 errdetail("One partial state has rows of %d values, the other of %d.", a->p, b->p)));
	if (a->p == 0)
		a->p = b->p;
	a->n += b->n;
	a->sae += b->sae;
	a->sse += b->sse;
	a->sst += b->sst;
	PG_RETURN_POINTER(a);
}

Datum
gc_err_serialfn(PG_FUNCTION_ARGS)
{
	ErrState   *st = (ErrState *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, st->p);
	pq_sendint64(&buf, st->n);
	pq_sendfloat8(&buf, st->sae);
	pq_sendfloat8(&buf, st->sse);
	pq_sendfloat8(&buf, st->sst);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

Datum
gc_err_deserialfn(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	MemoryContext aggcxt;
	StringInfoData buf;
	ErrState   *st;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "gc_err_deserialfn called in non-aggregate context");
	buf.data = VARDATA_ANY(b);
	buf.len = VARSIZE_ANY_EXHDR(b);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	st = MemoryContextAllocZero(aggcxt, sizeof(ErrState));
	st->p = pq_getmsgint(&buf, 4);
	st->n = pq_getmsgint64(&buf);
	st->sae = pq_getmsgfloat8(&buf);
	st->sse = pq_getmsgfloat8(&buf);
	st->sst = pq_getmsgfloat8(&buf);
	pq_getmsgend(&buf);
	PG_RETURN_POINTER(st);
}

Datum
gc_mae_finalfn(PG_FUNCTION_ARGS)
{
	ErrState   *st = PG_ARGISNULL(0) ? NULL : (ErrState *) PG_GETARG_POINTER(0);

	if (st == NULL || st->n == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(st->sae / st->n);
}

/* RMSE / √mean(x²) over the test entries (get_rmse(..., relative=True)) */
Datum
gc_nrmse_finalfn(PG_FUNCTION_ARGS)
{
	ErrState   *st = PG_ARGISNULL(0) ? NULL : (ErrState *) PG_GETARG_POINTER(0);

	if (st == NULL || st->n == 0 || st->sst == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(sqrt(st->sse / st->n) / sqrt(st->sst / st->n));
}
