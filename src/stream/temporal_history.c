/*
 * temporal_history.c — the stream worker's per-entity history for a temporal model.
 *
 * For each entity the rows last written (their observed cells, NaN elsewhere) are kept in
 * time order, a few more than the model's lags. A new row is placed at the end of a window
 * of lags + 1 rows, each recorded row at round((t − s)/step) rows before it, and imputed
 * with the window's copula (copula/temporal.h) — the computation of gc_impute_series in
 * causal mode, so a stream and the window function over the stored rows agree.
 */
#include "postgres.h"

#include <math.h>

#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "copula/gcmodel_sql.h"
#include "copula/temporal.h"
#include "stream/temporal_history.h"

/* rows kept per entity beyond the lags: rows closer together than a step take slots */
#define HISTORY_EXTRA_ROWS 4
#define HISTORY_KEY_LEN 128

typedef struct HistoryEntry
{
	char		key[HISTORY_KEY_LEN];	/* the entity */
	int			n;				/* rows held, oldest first */
	int64	   *t;				/* cap times, microseconds */
	double	   *vals;			/* cap × p observed cells */
} HistoryEntry;

struct TemporalHistory
{
	MemoryContext cxt;
	const GcModel *model;
	GcModel    *window;
	GcImputer  *imp;
	int			p,
				lags,
				cap;
	HTAB	   *entities;
	double	   *in,
			   *out;
	uint8	   *filled;			/* per window row */
};

TemporalHistory *
gc_stream_history_create(const GcModel *model, MemoryContext parent)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "gcimpute stream history",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	TemporalHistory *h = palloc0(sizeof(TemporalHistory));
	GcAlloc		alloc = gc_pg_alloc(cxt);
	HASHCTL		ctl;
	GcStatus	st;
	char		msg[256] = "the lag correlations cannot be continued";

	h->cxt = cxt;
	h->model = model;
	h->p = model->p;
	h->lags = model->lags;
	h->cap = model->lags + HISTORY_EXTRA_ROWS;
	st = gc_temporal_window_model(model, h->lags, 0, &alloc, &h->window);
	if (st == GC_OK)
		st = gc_imputer_create(h->window, &alloc, &h->imp, msg, sizeof(msg));
	h->in = palloc(sizeof(double) * (h->lags + 1) * h->p);
	h->out = palloc(sizeof(double) * (h->lags + 1) * h->p);
	h->filled = palloc(h->lags + 1);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = HISTORY_KEY_LEN;
	ctl.entrysize = sizeof(HistoryEntry);
	ctl.hcxt = cxt;
	h->entities = hash_create("gcimpute stream history", 1024, &ctl,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	MemoryContextSwitchTo(old);
	if (st != GC_OK)
	{
		MemoryContextDelete(cxt);
		gc_report_status(st, "gc_impute_series", msg);
	}
	return h;
}

void
gc_stream_history_free(TemporalHistory *h)
{
	if (h)
		MemoryContextDelete(h->cxt);
}

/* The entity's rows, created empty on first sight. */
static HistoryEntry *
Entry(TemporalHistory *h, const char *entity)
{
	char		key[HISTORY_KEY_LEN];
	bool		found;
	HistoryEntry *e;

	strlcpy(key, entity ? entity : "", sizeof(key));
	e = hash_search(h->entities, key, HASH_ENTER, &found);
	if (!found)
	{
		e->n = 0;
		e->t = MemoryContextAlloc(h->cxt, sizeof(int64) * h->cap);
		e->vals = MemoryContextAlloc(h->cxt, sizeof(double) * h->cap * h->p);
	}
	return e;
}

/* Record a row in time order, dropping the oldest beyond the capacity; a repeat of a time is ignored. */
static void
Record(TemporalHistory *h, HistoryEntry *e, int64 t, const double *row)
{
	int			pos = e->n;

	while (pos > 0 && e->t[pos - 1] > t)
		pos--;
	if (pos > 0 && e->t[pos - 1] == t)
		return;
	if (e->n == h->cap)
	{
		if (pos == 0)
			return;				/* older than everything held */
		memmove(e->t, e->t + 1, sizeof(int64) * (e->n - 1));
		memmove(e->vals, e->vals + h->p, sizeof(double) * (e->n - 1) * h->p);
		e->n--;
		pos--;
	}
	memmove(e->t + pos + 1, e->t + pos, sizeof(int64) * (e->n - pos));
	memmove(e->vals + (size_t) (pos + 1) * h->p, e->vals + (size_t) pos * h->p,
			sizeof(double) * (e->n - pos) * h->p);
	e->t[pos] = t;
	memcpy(e->vals + (size_t) pos * h->p, row, sizeof(double) * h->p);
	e->n++;
}

bool
gc_stream_history_impute(TemporalHistory *h, const char *entity, int64 t_us, const double *in,
						 double *out)
{
	HistoryEntry *e = Entry(h, entity);
	int			p = h->p,
				L = h->lags;
	bool		missing = false;
	GcStatus	st;

	for (int j = 0; j < p; j++)
		missing |= isnan(in[j]);
	if (missing)
	{
		/* window rows t−L..t in time order; the nearest recorded row wins a slot */
		for (int k = 0; k < L * p; k++)
			h->in[k] = get_float8_nan();
		memcpy(h->in + (size_t) L * p, in, sizeof(double) * p);
		memset(h->filled, 0, L + 1);
		for (int k = e->n - 1; k >= 0; k--)
		{
			double		off = rint((double) (t_us - e->t[k]) / 1e6 / h->model->step);
			int			slot;

			if (off < 1)
				continue;
			if (off > L)
				break;
			slot = L - (int) off;
			if (h->filled[slot])
				continue;
			memcpy(h->in + (size_t) slot * p, e->vals + (size_t) k * p, sizeof(double) * p);
			h->filled[slot] = 1;
		}
		st = gc_impute_row(h->imp, h->in, h->out, GC_IMPUTE_ORD_UPDATES);
		if (st != GC_OK)
			gc_report_status(st, "gc_impute_series", "conditional distribution is degenerate");
		memcpy(out, h->out + (size_t) L * p, sizeof(double) * p);
	}
	else
		memcpy(out, in, sizeof(double) * p);
	Record(h, e, t_us, in);
	return missing;
}

void
gc_stream_history_record(TemporalHistory *h, const char *entity, int64 t_us, const double *row)
{
	Record(h, Entry(h, entity), t_us, row);
}

int
gc_stream_history_depth(const TemporalHistory *h)
{
	return h->cap;
}
