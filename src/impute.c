/*
 * impute.c — SQL functions that impute rows with a fitted gcmodel.
 *
 * The unpacked model and its imputer (precision matrix factored once) are cached in
 * fn_extra, keyed by the model's fingerprint, so imputing a table row by row costs one
 * factorisation per query, not per row.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/array.h"
#include "utils/memutils.h"

#include "gcimpute.h"
#include "gcmodel.h"

PG_FUNCTION_INFO_V1(gc_impute);

typedef struct ImputeCache
{
	uint64		fingerprint;
	int32		size;
	MemoryContext cxt;
	GcModelData *packed;		/* private copy: the imputer points into it */
	GcModel    *model;
	GcImputer  *imp;
	double	   *in,
			   *out;
} ImputeCache;

/* The cached imputer for this model, building it on first use or when the model changes. */
static ImputeCache *
GetImputer(FunctionCallInfo fcinfo, GcModelData *d)
{
	ImputeCache *c = (ImputeCache *) fcinfo->flinfo->fn_extra;
	MemoryContext old;
	GcAlloc		alloc;
	GcStatus	st;
	char		msg[256];

	if (c != NULL && c->fingerprint == d->fingerprint && c->size == (int32) VARSIZE(d))
		return c;
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
	{
		c->fingerprint = 0;
		c->size = 0;
		gc_report_status(st, "gc_impute", msg);
	}
	c->fingerprint = d->fingerprint;
	c->size = VARSIZE(d);
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
	GcModelData *d = PG_GETARG_GCMODEL_P(0);
	ArrayType  *row = PG_GETARG_ARRAYTYPE_P(1);
	ImputeCache *c = GetImputer(fcinfo, d);
	GcStatus	st;

	ReadRow(c, row, "gc_impute");
	st = gc_impute_row(c->imp, c->in, c->out, 2);
	if (st != GC_OK)
		gc_report_status(st, "gc_impute", "conditional distribution is degenerate");
	PG_RETURN_ARRAYTYPE_P(gc_row_build(c->out, c->model->p, false));
}
