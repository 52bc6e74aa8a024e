/*
 * impute_sql.c — SQL functions that impute rows with a fitted gcmodel.
 *
 * The unpacked model and its imputer (precision matrix factored once) are cached in
 * fn_extra, keyed by the model's fingerprint, so imputing a table row by row costs one
 * factorisation per query, not per row.
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/tuplestore.h"
#include "access/detoast.h"
#include "utils/array.h"
#include "utils/memutils.h"

#include "gcimpute.h"
#include "pg_compat.h"
#include "copula/gcmodel_sql.h"
#include "platform/rng.h"

PG_FUNCTION_INFO_V1(gc_impute);
PG_FUNCTION_INFO_V1(gc_impute_multiple);
PG_FUNCTION_INFO_V1(gc_impute_interval);

typedef struct ImputeCache
{
	GcModelKey	key;			/* the model argument the cache was built from */
	MemoryContext cxt;
	GcModelData *packed;		/* private copy: the imputer points into it */
	GcModel    *model;
	GcImputer  *imp;
	double	   *in,
			   *out;
} ImputeCache;

/* The cached imputer for the model argument, building it on first use or when it changes. */
static ImputeCache *
GetImputer(FunctionCallInfo fcinfo, int argno)
{
	ImputeCache *c = (ImputeCache *) fcinfo->flinfo->fn_extra;
	struct varlena *raw = (struct varlena *) DatumGetPointer(PG_GETARG_DATUM(argno));
	GcModelData *d;
	MemoryContext old;
	GcAlloc		alloc;
	GcStatus	st;
	char		msg[256];

	if (c != NULL && gc_model_key_matches(&c->key, raw))
		return c;
	d = DatumGetGcModelP(PointerGetDatum(raw));
	if (c != NULL && gc_model_key_same_model(&c->key, d))
	{
		gc_model_key_remember(&c->key, raw, d, c->cxt);
		return c;
	}
	if (c == NULL)
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ImputeCache));
		c->cxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "gc_impute model cache",
									   ALLOCSET_DEFAULT_SIZES);
		fcinfo->flinfo->fn_extra = c;
	}
	else
		MemoryContextReset(c->cxt);
	c->imp = NULL;
	memset(&c->key, 0, sizeof(c->key));
	old = MemoryContextSwitchTo(c->cxt);
	c->packed = palloc(VARSIZE(d));
	memcpy(c->packed, d, VARSIZE(d));
	c->model = gcmodel_unpack(c->packed);
	alloc = gc_pg_alloc(c->cxt);
	st = gc_imputer_create(c->model, &alloc, &c->imp, msg, sizeof(msg));
	c->in = palloc(sizeof(double) * c->model->p);
	c->out = palloc(sizeof(double) * c->model->p);
	MemoryContextSwitchTo(old);
	if (st != GC_OK)
		gc_report_status(st, "gc_impute", msg);
	gc_model_key_remember(&c->key, raw, d, c->cxt);
	return c;
}

/* Read a row for the model, checking its width. */
static void
ReadRow(ImputeCache *c, ArrayType *row, const char *fn)
{
	int			p = gc_row_length(row, fn);

	if (p != c->model->p)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s: the row has %d values but the model has %d columns", fn, p, c->model->p)));
	gc_row_values(row, c->in, p, fn, -1);
}

Datum
gc_impute(PG_FUNCTION_ARGS)
{
	ArrayType  *row = PG_GETARG_ARRAYTYPE_P(1);
	ImputeCache *c = GetImputer(fcinfo, 0);
	GcStatus	st;

	ReadRow(c, row, "gc_impute");
	st = gc_impute_row(c->imp, c->in, c->out, GC_IMPUTE_ORD_UPDATES);
	if (st != GC_OK)
		gc_report_status(st, "gc_impute", "conditional distribution is degenerate");
	PG_RETURN_ARRAYTYPE_P(gc_row_build(c->out, c->model->p, false));
}

#define GC_MAX_DRAWS 100000

/*
 * m draws from the conditional distribution of the row's missing entries. The random
 * stream is seeded from (seed, row values), so distinct rows get independent draws and the
 * result is reproducible.
 */
Datum
gc_impute_multiple(PG_FUNCTION_ARGS)
{
	ArrayType  *row = PG_GETARG_ARRAYTYPE_P(1);
	int32		m = PG_GETARG_INT32(2);
	int64		seed = PG_GETARG_INT64(3);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ImputeCache *c;
	GcRng		rng;
	uint64		h;

	if (m < 1 || m > GC_MAX_DRAWS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_impute_multiple: the number of draws must be between 1 and %d, got %d", GC_MAX_DRAWS, m)));
	c = GetImputer(fcinfo, 0);
	ReadRow(c, row, "gc_impute_multiple");
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	h = hash_bytes_extended((const unsigned char *) ARR_DATA_PTR(row),
							ARR_SIZE(row) - ARR_DATA_OFFSET(row), (uint64) seed);
	gc_rng_seed(&rng, gc_mix64(h) ^ (uint64) seed);
	for (int k = 0; k < m; k++)
	{
		Datum		value;
		bool		isnull = false;
		GcStatus	st = gc_impute_row_draw(c->imp, c->in, c->out, &rng);

		if (st != GC_OK)
			gc_report_status(st, "gc_impute_multiple", "conditional distribution is degenerate");
		value = PointerGetDatum(gc_row_build(c->out, c->model->p, false));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	return (Datum) 0;
}

/* Per column: the estimate and, for imputed entries, an analytical interval of the given coverage. */
Datum
gc_impute_interval(PG_FUNCTION_ARGS)
{
	ArrayType  *row = PG_GETARG_ARRAYTYPE_P(1);
	double		level = PG_GETARG_FLOAT8(2);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ImputeCache *c;
	double	   *lower,
			   *upper;
	GcStatus	st;

	if (!(level > 0 && level < 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_impute_interval: level must be in (0, 1), got %g", level),
				 errhint("The level is the coverage, e.g. 0.95 for a 95%% interval.")));
	c = GetImputer(fcinfo, 0);
	ReadRow(c, row, "gc_impute_interval");
	InitMaterializedSRF(fcinfo, 0);
	lower = palloc(sizeof(double) * c->model->p);
	upper = palloc(sizeof(double) * c->model->p);
	st = gc_impute_row_interval(c->imp, c->in, level, c->out, lower, upper);
	if (st != GC_OK)
		gc_report_status(st, "gc_impute_interval", "conditional distribution is degenerate");
	for (int j = 0; j < c->model->p; j++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};
		bool		imputed = isnan(c->in[j]);

		values[0] = Int32GetDatum(j + 1);
		values[1] = Float8GetDatum(c->out[j]);
		values[2] = Float8GetDatum(lower[j]);
		values[3] = Float8GetDatum(upper[j]);
		values[4] = BoolGetDatum(imputed);
		nulls[2] = nulls[3] = !imputed;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
