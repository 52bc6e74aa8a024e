/*
 * temporal_sql.c — SQL for the temporal copula (copula/temporal.h):
 *
 *   SELECT gc_fit_series(sensor, ts, ARRAY[a, b, c], '{}' ORDER BY ts) FROM readings;
 *   SELECT gc_impute_series(m, ts, ARRAY[a, b, c], '{"mode": "causal"}')
 *          OVER (PARTITION BY sensor ORDER BY ts) FROM readings;
 *
 * The aggregate collects rows with their entity and time, checks that each entity's rows
 * arrive in time order, and at the end orders them by entity, puts them on the grid of the
 * step (given, or the median gap) and fits by temporal.c. The window function reads the
 * rows of the model's span around the current row through the window API, places them by
 * their time, and imputes the current row from every observed cell of the window.
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "windowapi.h"

#include "gcimpute.h"
#include "copula/fit_sql.h"
#include "copula/gcmodel_sql.h"
#include "copula/temporal.h"
#include "platform/sort.h"

PG_FUNCTION_INFO_V1(gc_fit_series_transfn);
PG_FUNCTION_INFO_V1(gc_fit_series_transfn_ts);
PG_FUNCTION_INFO_V1(gc_fit_series_finalfn);
PG_FUNCTION_INFO_V1(gc_impute_series);
PG_FUNCTION_INFO_V1(gc_impute_series_ts);


/* ---------- gc_fit_series ---------- */

typedef struct EntityEntry
{
	uint64		key;			/* hash of the name, probed linearly on a collision */
	char	   *name;
	int32		id;
	double		last_t;
} EntityEntry;

typedef struct SeriesState
{
	GcSqlFitOptions opts;
	int			p;
	int64		n,
				cap;
	double	   *data;			/* n × p */
	double	   *t;				/* n: seconds */
	int32	   *ent;			/* n: entity id (order of first appearance) */
	HTAB	   *entities;
	int32		nent;
	char	  **names;			/* id → name, for messages */
	int32		names_cap;
} SeriesState;

static SeriesState *
NewSeriesState(MemoryContext aggcxt, Jsonb *opts)
{
	SeriesState *st = MemoryContextAllocZero(aggcxt, sizeof(SeriesState));
	HASHCTL		ctl;

	gc_fit_parse_options(opts, &st->opts, GC_FIT_OPTIONS_SERIES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint64);
	ctl.entrysize = sizeof(EntityEntry);
	ctl.hcxt = aggcxt;
	st->entities = hash_create("gc_fit_series entities", 256, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	return st;
}

/* The entity's entry, created on first sight. */
static EntityEntry *
LookupEntity(SeriesState *st, text *entity)
{
	char	   *name = text_to_cstring(entity);
	uint64		key = hash_bytes_extended((const unsigned char *) name, strlen(name), 0x656e74);

	for (;;)
	{
		bool		found;
		EntityEntry *e = hash_search(st->entities, &key, HASH_ENTER, &found);

		if (!found)
		{
			e->name = pstrdup(name);
			e->id = st->nent++;
			e->last_t = -INFINITY;
			if (st->nent > st->names_cap)
			{
				st->names_cap = Max(64, st->names_cap * 2);
				st->names = st->names ? repalloc(st->names, sizeof(char *) * st->names_cap) :
					palloc(sizeof(char *) * st->names_cap);
			}
			st->names[e->id] = e->name;
			return e;
		}
		if (strcmp(e->name, name) == 0)
			return e;
		key++;
	}
}

static void
CheckSeriesMemory(SeriesState *st, int64 rows)
{
	int			K = st->opts.lags >= 0 ? st->opts.lags :
		st->opts.max_lags >= 0 ? st->opts.max_lags : GC_SERIES_DEFAULT_MAX_LAGS;
	double		need = (double) rows * st->p * (K + 1) * GC_SERIES_BYTES_PER_VALUE +
		(double) rows * (st->p + 2) * sizeof(double);

	if (need > (double) maintenance_work_mem * 1024.0)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("gc_fit_series: " INT64_FORMAT " rows of %d columns with %d lags need about %.0f MB, more than maintenance_work_mem (%d kB)",
						rows, st->p, K, need / (1024.0 * 1024.0), maintenance_work_mem),
				 errhint("Increase maintenance_work_mem, fit on fewer rows, or use fewer lags.")));
}

static void
AppendSeriesRow(SeriesState *st, MemoryContext aggcxt, ArrayType *row, double t, int32 ent)
{
	int			p = gc_row_length(row, "gc_fit_series");

	if (st->p == 0)
	{
		if (p > GCMODEL_MAX_COLUMNS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("gc_fit_series: rows have %d columns, more than the limit of %d", p, GCMODEL_MAX_COLUMNS)));
		st->p = p;
		gc_fit_check_types_width(&st->opts, p);
	}
	else if (p != st->p)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("gc_fit_series: all rows must have the same length"),
				 errdetail("Row " INT64_FORMAT " has %d values, earlier rows have %d.", st->n + 1, p, st->p)));
	if (st->n == st->cap)
	{
		int64		newcap = st->cap == 0 ? 1024 : st->cap * 2;

		CheckSeriesMemory(st, st->n + 1);
		st->data = st->data ? gc_prealloc_big(aggcxt, st->data, sizeof(double) * st->cap * p, sizeof(double) * newcap * p) :
			gc_palloc_big(aggcxt, sizeof(double) * newcap * p);
		st->t = st->t ? gc_prealloc_big(aggcxt, st->t, sizeof(double) * st->cap, sizeof(double) * newcap) :
			gc_palloc_big(aggcxt, sizeof(double) * newcap);
		st->ent = st->ent ? gc_prealloc_big(aggcxt, st->ent, sizeof(int32) * st->cap, sizeof(int32) * newcap) :
			gc_palloc_big(aggcxt, sizeof(int32) * newcap);
		st->cap = newcap;
	}
	gc_row_values(row, st->data + st->n * p, p, "gc_fit_series", st->n + 1);
	st->t[st->n] = t;
	st->ent[st->n] = ent;
	st->n++;
}

static Datum
SeriesTrans(FunctionCallInfo fcinfo, double t, bool t_null)
{
	MemoryContext aggcxt,
				old;
	SeriesState *st;
	EntityEntry *e;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		elog(ERROR, "gc_fit_series_transfn called in non-aggregate context");
	st = PG_ARGISNULL(0) ? NULL : (SeriesState *) PG_GETARG_POINTER(0);
	old = MemoryContextSwitchTo(aggcxt);
	if (st == NULL)
		st = NewSeriesState(aggcxt, PG_NARGS() > 4 && !PG_ARGISNULL(4) ? PG_GETARG_JSONB_P(4) : NULL);
	if (PG_ARGISNULL(3))
	{
		/* a NULL row is skipped, like gc_fit does */
		MemoryContextSwitchTo(old);
		PG_RETURN_POINTER(st);
	}
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("gc_fit_series: the entity is NULL"),
				 errhint("Give every row an entity, e.g. COALESCE(sensor, 'unknown'), or filter the NULLs out.")));
	if (t_null)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("gc_fit_series: the time t is NULL"),
				 errhint("Filter rows without a time out with WHERE t IS NOT NULL.")));
	if (!isfinite(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_fit_series: the time t must be finite")));
	e = LookupEntity(st, PG_GETARG_TEXT_PP(1));
	if (!(t > e->last_t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_fit_series: rows of entity \"%s\" are not in time order", e->name),
				 errdetail(t == e->last_t ? "Two rows have the same time %.17g." :
						   "A row at time %.17g follows one at %.17g.", t, e->last_t),
				 errhint("Call the aggregate with ORDER BY t, e.g. gc_fit_series(entity, t, row, '{}' ORDER BY t), and remove duplicate times.")));
	e->last_t = t;
	AppendSeriesRow(st, aggcxt, PG_GETARG_ARRAYTYPE_P(3), t, e->id);
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(st);
}

Datum
gc_fit_series_transfn(PG_FUNCTION_ARGS)
{
	return SeriesTrans(fcinfo, PG_ARGISNULL(2) ? 0 : PG_GETARG_FLOAT8(2), PG_ARGISNULL(2));
}

/* seconds since the PostgreSQL epoch: only differences matter */
Datum
gc_fit_series_transfn_ts(PG_FUNCTION_ARGS)
{
	TimestampTz ts = PG_ARGISNULL(2) ? 0 : PG_GETARG_TIMESTAMPTZ(2);

	if (!PG_ARGISNULL(2) && TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_fit_series: the time t must be finite")));
	return SeriesTrans(fcinfo, (double) ts / USECS_PER_SEC, PG_ARGISNULL(2));
}

/* The median of the gaps between consecutive rows of an entity (rows in entity order). */
static double
MedianGap(const double *t, const int32 *ent, int64 n)
{
	double	   *gaps = palloc(sizeof(double) * Max(n, 1));
	double	   *tmpv = palloc(sizeof(double) * Max(n, 1));
	uint32	   *idx = palloc(sizeof(uint32) * Max(n, 1));
	uint32	   *tmpi = palloc(sizeof(uint32) * Max(n, 1));
	int64		m = 0;
	double		med;

	for (int64 i = 1; i < n; i++)
		if (ent[i] == ent[i - 1])
			gaps[m++] = t[i] - t[i - 1];
	if (m == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_fit_series: cannot derive the step: no entity has two rows"),
				 errhint("Give the step in seconds, e.g. '{\"step\": 60}'.")));
	for (int64 k = 0; k < m; k++)
		idx[k] = (uint32) k;
	gc_radix_sort(gaps, idx, (size_t) m, tmpv, tmpi);
	med = m % 2 ? gaps[m / 2] : 0.5 * (gaps[m / 2 - 1] + gaps[m / 2]);
	pfree(gaps);
	pfree(tmpv);
	pfree(idx);
	pfree(tmpi);
	return med;
}

Datum
gc_fit_series_finalfn(PG_FUNCTION_ARGS)
{
	SeriesState *st = PG_ARGISNULL(0) ? NULL : (SeriesState *) PG_GETARG_POINTER(0);
	MemoryContext fitcxt,
				old;
	double	   *X,
			   *t;
	int64	   *seg,
			   *tstep;
	int32	   *ent;
	int64	   *start;
	int64		n;
	int			p;
	double		step;
	GcFitOptions opt;
	GcSeriesOptions sopt;
	GcAlloc		alloc;
	GcModel    *model;
	GcModelData *packed;
	GcStatus	status;
	char		errbuf[256];
	double		bic[GC_SERIES_MAX_LAGS + 1];
	int			searched = 0;

	if (st == NULL || st->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_fit_series: cannot fit a model to zero rows"),
				 errhint("gc_fit_series skips NULL rows; check the query's WHERE clause.")));
	n = st->n;
	p = st->p;
	fitcxt = AllocSetContextCreate(CurrentMemoryContext, "gc_fit_series", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(fitcxt);

	/* rows grouped by entity, in arrival (= time) order within each: a counting sort */
	start = palloc0(sizeof(int64) * (st->nent + 1));
	for (int64 i = 0; i < n; i++)
		start[st->ent[i] + 1]++;
	for (int32 e = 0; e < st->nent; e++)
		start[e + 1] += start[e];
	X = gc_palloc_big(fitcxt, sizeof(double) * n * p);
	t = palloc(sizeof(double) * n);
	ent = palloc(sizeof(int32) * n);
	seg = palloc(sizeof(int64) * n);
	tstep = palloc(sizeof(int64) * n);
	for (int64 i = 0; i < n; i++)
	{
		int64		k = start[st->ent[i]]++;

		memcpy(X + k * p, st->data + i * p, sizeof(double) * p);
		t[k] = st->t[i];
		ent[k] = st->ent[i];
	}

	step = st->opts.step > 0 ? st->opts.step : MedianGap(t, ent, n);
	/* each row on the step's grid, counted from its entity's first row */
	for (int64 i = 0, first = 0; i < n; i++)
	{
		double		s;

		if (i == 0 || ent[i] != ent[i - 1])
			first = i;
		s = rint((t[i] - t[first]) / step);
		if (s > (double) PG_INT64_MAX / 2)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("gc_fit_series: entity \"%s\" spans too many steps of %g s", st->names[ent[i]], step)));
		seg[i] = ent[i];
		tstep[i] = (int64) s;
		if (i > first && tstep[i] == tstep[i - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("gc_fit_series: rows of entity \"%s\" at times %.17g and %.17g fall on the same step of %g s",
							st->names[ent[i]], t[i - 1], t[i], step),
					 errhint("Give a smaller \"step\", or aggregate the rows to one per step first.")));
	}

	opt = gc_fit_core_options(&st->opts);
	gc_series_options_default(&sopt);
	sopt.lags = st->opts.lags;
	/* a range not given is widened while the choice sits on its end, within the memory */
	if (st->opts.max_lags >= 0)
		sopt.max_lags = st->opts.max_lags;
	else
		sopt.widen_bytes = (double) maintenance_work_mem * 1024.0 -
			(double) n * (p + 2) * sizeof(double);
	sopt.bic = bic;
	sopt.searched = &searched;
	alloc = gc_pg_alloc(fitcxt);
	status = gc_fit_temporal(X, seg, tstep, (size_t) n, p, step, &opt, &sopt, &alloc, &model,
							 errbuf, sizeof(errbuf));
	if (status != GC_OK)
		gc_report_status(status, "gc_fit_series", errbuf);
	for (int j = 0; j < model->p; j++)
		if (model->marg[j].type == GC_CONSTANT)
			ereport(NOTICE,
					(errmsg("gc_fit_series: column %d has a single observed value (%g); it is treated as constant",
							j + 1, model->marg[j].x[0])));
	if (st->opts.verbose && st->opts.lags < 0)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		for (int k = 0; k <= searched; k++)
			appendStringInfo(&buf, "%s%d: %.1f", k ? ", " : "", k, bic[k]);
		ereport(NOTICE,
				(errmsg("gc_fit_series: %d lags chosen (step %g s); BIC by lags: %s",
						model->lags, step, buf.data)));
	}
	MemoryContextSwitchTo(old);
	packed = gcmodel_pack(model);
	MemoryContextDelete(fitcxt);
	PG_RETURN_GCMODEL_P(packed);
}

/* ---------- gc_impute_series ---------- */

#define SERIES_MODE_CAUSAL 0
#define SERIES_MODE_SMOOTH 1
/* rows read past the span's edge at most: rows closer than a step apart are skipped */
#define SERIES_SCAN_FACTOR 4

typedef struct SeriesCache
{
	GcModelKey	key;
	MemoryContext cxt;
	GcModelData *packed;
	GcModel    *model;
	GcModel    *window;			/* rows t−back..t+fwd */
	GcImputer  *imp;
	int			back,
				fwd,
				P;
	char	   *opts_text;		/* the options the window was built for */
	double	   *in,
			   *out;
	uint8	   *filled;			/* per window row */
} SeriesCache;

typedef struct SeriesImputeOptions
{
	int			mode;
	int			span;			/* rows either side; -1 = the model's lags */
} SeriesImputeOptions;

static void
ParseImputeSeriesOptions(Jsonb *jb, SeriesImputeOptions *o)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	o->mode = SERIES_MODE_SMOOTH;
	o->span = -1;
	if (jb == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_impute_series options must be a JSON object"),
				 errdetail("Valid options are: mode, span.")));
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			if (strcmp(key, "mode") != 0 && strcmp(key, "span") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown gc_impute_series option \"%s\"", key),
						 errdetail("Valid options are: mode, span.")));
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		if (strcmp(key, "mode") == 0)
		{
			char	   *mode = v.type == jbvString ? pnstrdup(v.val.string.val, v.val.string.len) : NULL;

			if (mode && strcmp(mode, "causal") == 0)
				o->mode = SERIES_MODE_CAUSAL;
			else if (mode && strcmp(mode, "smooth") == 0)
				o->mode = SERIES_MODE_SMOOTH;
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("gc_impute_series option \"mode\" must be \"causal\" or \"smooth\"")));
		}
		else
		{
			double		x = v.type == jbvNumeric ?
				DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v.val.numeric))) : -1;

			if (x != rint(x) || x < 0 || x > 4 * GC_SERIES_MAX_LAGS)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("gc_impute_series option \"span\" must be an integer between 0 and %d",
								4 * GC_SERIES_MAX_LAGS)));
			o->span = (int) x;
		}
	}
}

/* The window imputer for the model argument and options, rebuilt when either changes. */
static SeriesCache *
GetSeriesCache(FunctionCallInfo fcinfo, Datum model_arg, Jsonb *opts)
{
	SeriesCache *c = (SeriesCache *) fcinfo->flinfo->fn_extra;
	struct varlena *raw = (struct varlena *) DatumGetPointer(model_arg);
	char	   *opts_text = opts ? JsonbToCString(NULL, &opts->root, VARSIZE(opts)) : pstrdup("");
	GcModelData *d;
	SeriesImputeOptions o;
	MemoryContext old;
	GcAlloc		alloc;
	GcStatus	st;
	char		msg[256];
	int			span;

	if (c != NULL && strcmp(c->opts_text, opts_text) == 0 && gc_model_key_matches(&c->key, raw))
		return c;
	d = DatumGetGcModelP(model_arg);
	if (c != NULL && strcmp(c->opts_text, opts_text) == 0 && gc_model_key_same_model(&c->key, d))
	{
		gc_model_key_remember(&c->key, raw, d, c->cxt);
		return c;
	}
	ParseImputeSeriesOptions(opts, &o);
	if (c == NULL)
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(SeriesCache));
		c->cxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "gc_impute_series model cache",
									   ALLOCSET_DEFAULT_SIZES);
		fcinfo->flinfo->fn_extra = c;
	}
	else
		MemoryContextReset(c->cxt);
	memset(&c->key, 0, sizeof(c->key));
	c->imp = NULL;
	old = MemoryContextSwitchTo(c->cxt);
	c->opts_text = pstrdup(opts_text);
	c->packed = palloc(VARSIZE(d));
	memcpy(c->packed, d, VARSIZE(d));
	c->model = gcmodel_unpack(c->packed);
	if (!c->model->temporal)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_impute_series: the model is not temporal"),
				 errhint("Fit it with gc_fit_series, or impute single rows with gc_impute.")));
	span = o.span >= 0 ? o.span : c->model->lags;
	if (c->model->lags == 0)
		span = 0;				/* independent rows: neighbours carry no information */
	c->back = span;
	c->fwd = o.mode == SERIES_MODE_SMOOTH ? span : 0;
	c->P = (c->back + c->fwd + 1) * c->model->p;
	alloc = gc_pg_alloc(c->cxt);
	st = gc_temporal_window_model(c->model, c->back, c->fwd, &alloc, &c->window);
	if (st == GC_OK)
		st = gc_imputer_create(c->window, &alloc, &c->imp, msg, sizeof(msg));
	else
		strlcpy(msg, "the lag correlations cannot be continued over the span", sizeof(msg));
	c->in = palloc(sizeof(double) * c->P);
	c->out = palloc(sizeof(double) * c->P);
	c->filled = palloc(c->back + c->fwd + 1);
	MemoryContextSwitchTo(old);
	if (st != GC_OK)
		gc_report_status(st, "gc_impute_series", msg);
	gc_model_key_remember(&c->key, raw, d, c->cxt);
	return c;
}

static double
SeriesTime(Datum d, bool is_ts)
{
	if (is_ts)
	{
		TimestampTz ts = DatumGetTimestampTz(d);

		if (TIMESTAMP_NOT_FINITE(ts))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("gc_impute_series: the time t must be finite")));
		return (double) ts / USECS_PER_SEC;
	}
	if (!isfinite(DatumGetFloat8(d)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_impute_series: the time t must be finite")));
	return DatumGetFloat8(d);
}

/*
 * The previous row must be earlier: equal times in different peer groups mean duplicates,
 * rows that are peers but differ in t mean the window is not ordered by t (or not at all).
 */
static void
CheckOrder(WindowObject winobj, int64 pos, double tcur, bool is_ts)
{
	bool		isnull,
				isout;
	Datum		d;
	double		tprev;

	if (pos == 0)
		return;
	d = WinGetFuncArgInPartition(winobj, 1, -1, WINDOW_SEEK_CURRENT, false, &isnull, &isout);
	if (isout || isnull)
		return;
	tprev = SeriesTime(d, is_ts);
	if (tprev != tcur && WinRowsArePeers(winobj, pos - 1, pos))
		ereport(ERROR,
				(errcode(ERRCODE_WINDOWING_ERROR),
				 errmsg("gc_impute_series must be ordered by time"),
				 errdetail("Rows at times %.17g and %.17g are peers in the window's order.", tprev, tcur),
				 errhint("Call it as gc_impute_series(model, t, row) OVER (PARTITION BY entity ORDER BY t).")));
	if (tprev > tcur)
		ereport(ERROR,
				(errcode(ERRCODE_WINDOWING_ERROR),
				 errmsg("gc_impute_series: rows are not in time order"),
				 errdetail("A row at time %.17g follows one at %.17g.", tcur, tprev),
				 errhint("Order the window by t ascending.")));
	if (tprev == tcur)
		ereport(ERROR,
				(errcode(ERRCODE_WINDOWING_ERROR),
				 errmsg("gc_impute_series: two rows of a partition have the same time %.17g", tcur),
				 errhint("Remove duplicate times, or partition by the entity.")));
}

/*
 * Place the rows around the current one into the window by their time: row at time s goes
 * to offset round((s − t)/step) when that is within [−back, fwd]. Rows are read in both
 * directions until their time leaves the span (or a few rows past it, if rows are denser
 * than the step).
 */
static void
GatherWindow(WindowObject winobj, SeriesCache *c, double tcur, bool is_ts)
{
	int			p = c->model->p;
	double		step = c->model->step;

	for (int s = 0; s < c->back + c->fwd + 1; s++)
		c->filled[s] = 0;
	for (int dir = -1; dir <= 1; dir += 2)
	{
		int			limit = dir < 0 ? c->back : c->fwd;
		int			maxrows = SERIES_SCAN_FACTOR * (limit + 1);

		for (int k = 1; limit > 0 && k <= maxrows; k++)
		{
			bool		isnull,
						isout;
			Datum		dt,
						drow;
			double		off;
			int			slot;

			dt = WinGetFuncArgInPartition(winobj, 1, dir * k, WINDOW_SEEK_CURRENT, false,
										  &isnull, &isout);
			if (isout)
				break;
			if (isnull)
				continue;
			off = rint((SeriesTime(dt, is_ts) - tcur) / step);
			if (fabs(off) > limit)
				break;
			if (off == 0)
				continue;
			slot = c->back + (int) off;
			if (c->filled[slot])
				continue;
			drow = WinGetFuncArgInPartition(winobj, 2, dir * k, WINDOW_SEEK_CURRENT, false,
											&isnull, &isout);
			if (isnull)
				continue;
			{
				ArrayType  *a = DatumGetArrayTypeP(drow);

				if (gc_row_length(a, "gc_impute_series") != p)
					ereport(ERROR,
							(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
							 errmsg("gc_impute_series: a row has %d values but the model has %d columns",
									gc_row_length(a, "gc_impute_series"), p)));
				gc_row_values(a, c->in + (size_t) slot * p, p, "gc_impute_series", -1);
			}
			c->filled[slot] = 1;
		}
	}
	for (int s = 0; s < c->back + c->fwd + 1; s++)
		if (!c->filled[s] && s != c->back)
			for (int j = 0; j < p; j++)
				c->in[(size_t) s * p + j] = NAN;
}

static Datum
ImputeSeries(FunctionCallInfo fcinfo, bool is_ts)
{
	WindowObject winobj = PG_WINDOW_OBJECT();
	int64		pos = WinGetCurrentPosition(winobj);
	bool		isnull;
	Datum		dmodel,
				dt,
				drow,
				dopts;
	Jsonb	   *opts = NULL;
	SeriesCache *c;
	double		tcur;
	int			p;
	ArrayType  *row;
	GcStatus	st;

	dt = WinGetFuncArgCurrent(winobj, 1, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("gc_impute_series: the time t is NULL"),
				 errhint("Filter rows without a time out with WHERE t IS NOT NULL.")));
	tcur = SeriesTime(dt, is_ts);
	CheckOrder(winobj, pos, tcur, is_ts);
	/* rows before the span are never read again */
	WinSetMarkPosition(winobj, Max(0, pos - SERIES_SCAN_FACTOR * (GC_SERIES_MAX_LAGS * 4 + 1)));

	dmodel = WinGetFuncArgCurrent(winobj, 0, &isnull);
	if (isnull)
		PG_RETURN_NULL();
	drow = WinGetFuncArgCurrent(winobj, 2, &isnull);
	if (isnull)
		PG_RETURN_NULL();
	if (PG_NARGS() > 3)
	{
		dopts = WinGetFuncArgCurrent(winobj, 3, &isnull);
		if (!isnull)
			opts = DatumGetJsonbP(dopts);
	}
	c = GetSeriesCache(fcinfo, dmodel, opts);
	p = c->model->p;
	row = DatumGetArrayTypeP(drow);
	if (gc_row_length(row, "gc_impute_series") != p)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("gc_impute_series: the row has %d values but the model has %d columns",
						gc_row_length(row, "gc_impute_series"), p)));
	gc_row_values(row, c->in + (size_t) c->back * p, p, "gc_impute_series", -1);
	GatherWindow(winobj, c, tcur, is_ts);
	st = gc_impute_row(c->imp, c->in, c->out, GC_IMPUTE_ORD_UPDATES);
	if (st != GC_OK)
		gc_report_status(st, "gc_impute_series", "conditional distribution is degenerate");
	PG_RETURN_ARRAYTYPE_P(gc_row_build(c->out + (size_t) c->back * p, p, false));
}

Datum
gc_impute_series(PG_FUNCTION_ARGS)
{
	return ImputeSeries(fcinfo, false);
}

Datum
gc_impute_series_ts(PG_FUNCTION_ARGS)
{
	return ImputeSeries(fcinfo, true);
}
