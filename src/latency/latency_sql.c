/*
 * latency_sql.c — SQL glue for latency-distribution fitting (latency/latency.c).
 *
 * gc_latency_fit(seconds) collects the latencies (aggregate context, bounded by
 * maintenance_work_mem), fits lognormal, gamma and Weibull by maximum likelihood
 * in the final function and returns jsonb.  The evaluation functions take either
 * that whole fit (they use its "best" member) or one member such as
 * fit->'gamma', or a hand-written {"family": ..., "shape": ..., "scale": ...}.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "latency/latency.h"
#include "sketch/sketch_util.h"

PG_FUNCTION_INFO_V1(gc_latency_fit_trans);
PG_FUNCTION_INFO_V1(gc_latency_fit_final);
PG_FUNCTION_INFO_V1(gc_latency_fit_combine);
PG_FUNCTION_INFO_V1(gc_latency_fit_serial);
PG_FUNCTION_INFO_V1(gc_latency_fit_deserial);
PG_FUNCTION_INFO_V1(gc_latency_pdf_sql);
PG_FUNCTION_INFO_V1(gc_latency_cdf_sql);
PG_FUNCTION_INFO_V1(gc_latency_quantile_sql);
PG_FUNCTION_INFO_V1(gc_latency_hazard_sql);
PG_FUNCTION_INFO_V1(gc_latency_allowed_lateness_sql);

#define LAT_SERIAL_VERSION	1
#define LAT_SERIAL_HEADER	16

typedef struct LatState
{
	int64		n;
	int64		cap;
	double	   *x;
} LatState;

static MemoryContext
AggContext(FunctionCallInfo fcinfo, const char *fname)
{
	MemoryContext cxt;

	if (!AggCheckCallContext(fcinfo, &cxt))
		elog(ERROR, "%s called in non-aggregate context", fname);
	return cxt;
}

static void
CheckLatency(double v)
{
	if (!(isfinite(v) && v > 0.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("latency must be a positive finite number of seconds, not %g", v),
				 errdetail("Lognormal, gamma and Weibull distributions live on positive times."),
				 errhint("Filter out or clamp zero, negative and infinite latencies before fitting.")));
}

/* Room for need samples, doubling, within maintenance_work_mem. */
static void
Reserve(LatState *s, MemoryContext cxt, int64 need)
{
	int64		cap = s->cap ? s->cap : 1024;
	Size		limit = (Size) maintenance_work_mem * 1024;

	if (need <= s->cap)
		return;
	while (cap < need)
		cap *= 2;
	if ((Size) cap * sizeof(double) > limit)
	{
		/* grow to the limit at once, not one sample at a time */
		cap = (int64) (limit / sizeof(double));
		if (cap < need)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("gc_latency_fit of " INT64_FORMAT " samples needs more than maintenance_work_mem", need),
					 errdetail("The fit keeps every sample (8 bytes each) for the likelihood and the Kolmogorov-Smirnov distance."),
					 errhint("Raise maintenance_work_mem or fit a sample, e.g. with TABLESAMPLE.")));
	}
	if (s->x == NULL)
		s->x = MemoryContextAllocHuge(cxt, cap * sizeof(double));
	else
		s->x = repalloc_huge(s->x, cap * sizeof(double));
	s->cap = cap;
}

static LatState *
NewState(MemoryContext cxt)
{
	return MemoryContextAllocZero(cxt, sizeof(LatState));
}

Datum
gc_latency_fit_trans(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = AggContext(fcinfo, "gc_latency_fit_trans");
	LatState   *s = PG_ARGISNULL(0) ? NewState(cxt) : (LatState *) PG_GETARG_POINTER(0);
	double		v;

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(s);
	v = PG_GETARG_FLOAT8(1);
	CheckLatency(v);
	Reserve(s, cxt, s->n + 1);
	s->x[s->n++] = v;
	PG_RETURN_POINTER(s);
}

Datum
gc_latency_fit_combine(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = AggContext(fcinfo, "gc_latency_fit_combine");
	LatState   *a = PG_ARGISNULL(0) ? NULL : (LatState *) PG_GETARG_POINTER(0);
	LatState   *b = PG_ARGISNULL(1) ? NULL : (LatState *) PG_GETARG_POINTER(1);

	if (b == NULL || b->n == 0)
		PG_RETURN_POINTER(a);
	if (a == NULL)
		a = NewState(cxt);
	Reserve(a, cxt, a->n + b->n);
	memcpy(a->x + a->n, b->x, b->n * sizeof(double));
	a->n += b->n;
	PG_RETURN_POINTER(a);
}

/* Versioned, length-checked: [version][7 zero bytes][n int64][n doubles], big-endian. */
Datum
gc_latency_fit_serial(PG_FUNCTION_ARGS)
{
	LatState   *s = (LatState *) PG_GETARG_POINTER(0);
	Size		len = LAT_SERIAL_HEADER + (Size) s->n * 8;
	bytea	   *out;
	uint8	   *p;

	(void) AggContext(fcinfo, "gc_latency_fit_serial");
	if (len > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("gc_latency_fit state of " INT64_FORMAT " samples is too large to pass between parallel workers", s->n),
				 errhint("Disable parallel aggregation for this query or fit a sample.")));
	out = palloc0(VARHDRSZ + len);
	SET_VARSIZE(out, VARHDRSZ + len);
	p = (uint8 *) VARDATA(out);
	p[0] = LAT_SERIAL_VERSION;
	gc_put_be64(p + 8, (uint64) s->n);
	for (int64 i = 0; i < s->n; i++)
		gc_put_bedouble(p + LAT_SERIAL_HEADER + 8 * i, s->x[i]);
	PG_RETURN_BYTEA_P(out);
}

Datum
gc_latency_fit_deserial(PG_FUNCTION_ARGS)
{
	bytea	   *v = PG_GETARG_BYTEA_PP(0);
	const uint8 *p = (const uint8 *) VARDATA_ANY(v);
	Size		len = VARSIZE_ANY_EXHDR(v);
	LatState   *s;
	int64		n;

	(void) AggContext(fcinfo, "gc_latency_fit_deserial");
	if (len < LAT_SERIAL_HEADER || p[0] != LAT_SERIAL_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid gc_latency_fit aggregate state"),
				 errdetail("The state has %zu bytes or an unknown version.", (size_t) len)));
	for (int i = 1; i < 8; i++)
		if (p[i] != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("invalid gc_latency_fit aggregate state"),
					 errdetail("Reserved bytes are not zero.")));
	n = (int64) gc_get_be64(p + 8);
	if (n < 0 || (Size) n != (len - LAT_SERIAL_HEADER) / 8 || (len - LAT_SERIAL_HEADER) % 8 != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid gc_latency_fit aggregate state"),
				 errdetail("The state claims " INT64_FORMAT " samples but has %zu bytes.", n, (size_t) len)));
	s = NewState(CurrentMemoryContext);
	if (n > 0)
	{
		Reserve(s, CurrentMemoryContext, n);
		for (int64 i = 0; i < n; i++)
		{
			s->x[i] = gc_get_bedouble(p + LAT_SERIAL_HEADER + 8 * i);
			CheckLatency(s->x[i]);
		}
	}
	s->n = n;
	PG_RETURN_POINTER(s);
}

static void
AppendDist(StringInfo buf, const gc_latency_dist *d)
{
	appendStringInfo(buf, "{\"family\": \"%s\"", gc_latency_family_name(d->family));
	if (d->family == GC_LAT_LOGNORMAL)
		appendStringInfo(buf, ", \"mu\": %.17g, \"sigma\": %.17g", log(d->scale), d->shape);
	appendStringInfo(buf, ", \"shape\": %.17g, \"scale\": %.17g, \"loglik\": %.17g, \"aic\": %.17g, \"ks\": %.17g",
					 d->shape, d->scale, d->loglik, d->aic, d->ks);
	if (d->family != GC_LAT_LOGNORMAL)
		appendStringInfo(buf, ", \"iterations\": %d", d->iterations);
	appendStringInfoChar(buf, '}');
}

Datum
gc_latency_fit_final(PG_FUNCTION_ARGS)
{
	LatState   *s = PG_ARGISNULL(0) ? NULL : (LatState *) PG_GETARG_POINTER(0);
	int64		n = s ? s->n : 0;
	double	   *copy;
	gc_latency_fit_result r;
	StringInfoData buf;
	int			rc;

	if (n < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_latency_fit needs at least 2 latencies, got " INT64_FORMAT, n),
				 errhint("Fit over a longer period, or skip groups with count(*) < 2 in HAVING.")));
	/* the fit sorts its input; the state must stay as it is */
	copy = palloc_extended(n * sizeof(double), MCXT_ALLOC_HUGE);
	memcpy(copy, s->x, n * sizeof(double));
	rc = gc_latency_fit(copy, (size_t) n, &r, NULL);
	if (rc == GC_EDEGENERATE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_latency_fit needs latencies that are not all equal"),
				 errdetail("All " INT64_FORMAT " latencies are %g seconds.", n, s->x[0])));
	if (rc != GC_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("gc_latency_fit failed to converge (status %d)", rc)));
	pfree(copy);
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"n\": " INT64_FORMAT ", \"best\": \"%s\", \"mean\": %.17g, \"min\": %.17g, \"max\": %.17g",
					 n, gc_latency_family_name(r.fits[r.best].family), r.mean, r.min, r.max);
	for (int f = 0; f < GC_LAT_NFAMILIES; f++)
	{
		appendStringInfo(&buf, ", \"%s\": ", gc_latency_family_name(r.fits[f].family));
		AppendDist(&buf, &r.fits[f]);
	}
	appendStringInfoChar(&buf, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* ---------- reading a fit back ---------- */

static void
BadFit(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid latency fit"),
			 errdetail("%s", detail),
			 errhint("Pass the result of gc_latency_fit, one of its members such as fit->'gamma', "
					 "or an object like {\"family\": \"lognormal\", \"shape\": 1.9, \"scale\": 0.79}.")));
}

static bool
GetNumber(JsonbContainer *c, const char *key, double *out)
{
	JsonbValue	v;

	if (getKeyJsonValueFromContainer(c, key, strlen(key), &v) == NULL)
		return false;
	if (v.type != jbvNumeric)
		BadFit(psprintf("\"%s\" is not a number.", key));
	*out = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v.val.numeric)));
	return true;
}

static void
DistFromJsonb(Jsonb *jb, gc_latency_dist *d)
{
	JsonbContainer *c = &jb->root;
	JsonbValue	v;
	char	   *name;

	memset(d, 0, sizeof(*d));
	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		BadFit("The fit is not a JSON object.");
	/* a whole gc_latency_fit result: use its best member */
	if (getKeyJsonValueFromContainer(c, "best", 4, &v) != NULL)
	{
		if (v.type != jbvString)
			BadFit("\"best\" is not a string.");
		name = pnstrdup(v.val.string.val, v.val.string.len);
		if (getKeyJsonValueFromContainer(c, name, strlen(name), &v) == NULL ||
			v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			BadFit(psprintf("The fit names \"%s\" as best but has no such object.", name));
		c = v.val.binary.data;
	}
	if (getKeyJsonValueFromContainer(c, "family", 6, &v) == NULL || v.type != jbvString)
		BadFit("The object has no \"family\" string.");
	name = pnstrdup(v.val.string.val, v.val.string.len);
	if (gc_latency_family_parse(name, &d->family) != 0)
		BadFit(psprintf("Family \"%s\" is not lognormal, gamma or weibull.", name));
	if (d->family == GC_LAT_LOGNORMAL)
	{
		double		mu;

		if (GetNumber(c, "mu", &mu))
		{
			if (!GetNumber(c, "sigma", &d->shape))
				BadFit("A lognormal with \"mu\" needs \"sigma\".");
			d->scale = exp(mu);
		}
		else if (!GetNumber(c, "shape", &d->shape) || !GetNumber(c, "scale", &d->scale))
			BadFit("A lognormal needs \"mu\" and \"sigma\", or \"shape\" (sigma) and \"scale\" (exp(mu)).");
	}
	else if (!GetNumber(c, "shape", &d->shape) || !GetNumber(c, "scale", &d->scale))
		BadFit(psprintf("A %s needs \"shape\" and \"scale\".", name));
	if (!gc_latency_valid(d))
		BadFit(psprintf("Shape %g and scale %g must be positive and finite.", d->shape, d->scale));
}

static double
CheckTime(double t)
{
	if (isnan(t) || isinf(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time must be a finite number of seconds, not %g", t)));
	return t;
}

static void
CheckProbability(double p, const char *what)
{
	if (!(p > 0.0 && p < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 0 and 1 (exclusive), not %g", what, p)));
}

Datum
gc_latency_pdf_sql(PG_FUNCTION_ARGS)
{
	gc_latency_dist d;

	DistFromJsonb(PG_GETARG_JSONB_P(0), &d);
	PG_RETURN_FLOAT8(gc_latency_pdf(&d, CheckTime(PG_GETARG_FLOAT8(1))));
}

Datum
gc_latency_cdf_sql(PG_FUNCTION_ARGS)
{
	gc_latency_dist d;

	DistFromJsonb(PG_GETARG_JSONB_P(0), &d);
	PG_RETURN_FLOAT8(gc_latency_cdf(&d, CheckTime(PG_GETARG_FLOAT8(1))));
}

Datum
gc_latency_hazard_sql(PG_FUNCTION_ARGS)
{
	gc_latency_dist d;

	DistFromJsonb(PG_GETARG_JSONB_P(0), &d);
	PG_RETURN_FLOAT8(gc_latency_hazard(&d, CheckTime(PG_GETARG_FLOAT8(1))));
}

Datum
gc_latency_quantile_sql(PG_FUNCTION_ARGS)
{
	gc_latency_dist d;
	double		p = PG_GETARG_FLOAT8(1);

	DistFromJsonb(PG_GETARG_JSONB_P(0), &d);
	CheckProbability(p, "p");
	PG_RETURN_FLOAT8(gc_latency_quantile(&d, p));
}

Datum
gc_latency_allowed_lateness_sql(PG_FUNCTION_ARGS)
{
	gc_latency_dist d;
	double		c = PG_GETARG_FLOAT8(1);
	double		w = PG_GETARG_FLOAT8(2);

	DistFromJsonb(PG_GETARG_JSONB_P(0), &d);
	CheckProbability(c, "completeness");
	if (!(w >= 0.0) || isinf(w))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window must be a non-negative finite number of seconds, not %g", w)));
	PG_RETURN_FLOAT8(gc_latency_allowed_lateness(&d, c, w));
}
