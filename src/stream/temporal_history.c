/*
 * temporal_history.c — the stream worker's per-entity history for a temporal model.
 *
 * For each entity the rows last written (their observed cells, NaN elsewhere) are kept in
 * time order, a few more than the model's lags. A new row is placed at the end of a window
 * of lags + 1 rows, each recorded row at round((t − s)/step) rows before it, and imputed
 * with the window's copula (copula/temporal.h) — the computation of gc_impute_series in
 * causal mode, so a stream and the window function over the stored rows agree.
 *
 * A row that arrives out of time order, or a late message that completes a written row,
 * changes what the entity's later rows within the span should have been imputed from; the
 * writer then asks for those rows again, from rows it reads back from the target into a
 * scratch series (the in-memory rows may have moved past a late row). With refine_previous the
 * earlier rows within the span are re-imputed too, from the rows on both sides that have
 * arrived: once the span after a row is complete that is gc_impute_series in smooth mode.
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
	int			n,				/* rows held, oldest first */
				cap;			/* rows it can hold */
	int64	   *t;				/* cap times, microseconds */
	double	   *vals;			/* cap × p observed cells */
	void	  **tag;			/* cap: the caller's tag of the row ... */
	uint64	   *gen;			/* ... valid while the generation is this */
} HistoryEntry;

/*
 * The imputer of the window t−lags..t+fwd, built when first needed: fwd = 0 is the causal
 * window, fwd = 1..lags the windows of refined rows with fwd rows after them.
 */
typedef struct WindowImputer
{
	GcModel    *model;
	GcImputer  *imp;
} WindowImputer;

struct TemporalHistory
{
	MemoryContext cxt;
	const GcModel *model;
	WindowImputer *win;			/* lags + 1: by fwd */
	int			p,
				lags,
				cap;
	bool		refine;
	uint64		gen;
	HTAB	   *entities;
	HistoryEntry scratch;		/* rows read back around a late row */
	double	   *in,
			   *out;
	uint8	   *filled;			/* per window row */
};

/* Room for cap rows in e, empty. */
static void
EntryInit(TemporalHistory *h, HistoryEntry *e, int cap)
{
	e->n = 0;
	e->cap = cap;
	e->t = MemoryContextAlloc(h->cxt, sizeof(int64) * cap);
	e->vals = MemoryContextAlloc(h->cxt, sizeof(double) * cap * h->p);
	e->tag = MemoryContextAlloc(h->cxt, sizeof(void *) * cap);
	e->gen = MemoryContextAlloc(h->cxt, sizeof(uint64) * cap);
}

/* The imputer of the window with fwd rows after the row; ereports when it cannot be built. */
static GcImputer *
WindowFor(TemporalHistory *h, int fwd)
{
	WindowImputer *wi = &h->win[fwd];
	MemoryContext old;
	GcAlloc		alloc;
	GcStatus	st;
	char		msg[256] = "the lag correlations cannot be continued";

	if (wi->imp != NULL)
		return wi->imp;
	old = MemoryContextSwitchTo(h->cxt);
	alloc = gc_pg_alloc(h->cxt);
	st = gc_temporal_window_model(h->model, h->lags, fwd, &alloc, &wi->model);
	if (st == GC_OK)
		st = gc_imputer_create(wi->model, &alloc, &wi->imp, msg, sizeof(msg));
	MemoryContextSwitchTo(old);
	if (st != GC_OK)
	{
		wi->imp = NULL;
		gc_report_status(st, "gc_impute_series", msg);
	}
	return wi->imp;
}

TemporalHistory *
gc_stream_history_create(const GcModel *model, bool refine, MemoryContext parent)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "gcimpute stream history",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	TemporalHistory *h = palloc0(sizeof(TemporalHistory));
	int			W = 2 * model->lags + 1;
	HASHCTL		ctl;

	h->cxt = cxt;
	h->model = model;
	h->p = model->p;
	h->lags = model->lags;
	h->refine = refine;
	/* refining needs the span on both sides of the rows it revises */
	h->cap = (refine ? 2 * model->lags : model->lags) + HISTORY_EXTRA_ROWS;
	h->win = palloc0(sizeof(WindowImputer) * (model->lags + 1));
	h->in = palloc(sizeof(double) * W * h->p);
	h->out = palloc(sizeof(double) * W * h->p);
	h->filled = palloc(W);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = HISTORY_KEY_LEN;
	ctl.entrysize = sizeof(HistoryEntry);
	ctl.hcxt = cxt;
	h->entities = hash_create("gcimpute stream history", 1024, &ctl,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	/* a late row's revision reaches rows lags steps away, whose windows reach lags further */
	EntryInit(h, &h->scratch, 4 * model->lags + 1 + HISTORY_EXTRA_ROWS);
	MemoryContextSwitchTo(old);
	PG_TRY();
	{
		WindowFor(h, 0);
	}
	PG_CATCH();
	{
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
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
		EntryInit(h, e, h->cap);
	return e;
}

/* Move n rows of the entity from slot `from` to slot `to` (overlapping allowed). */
static void
ShiftRows(TemporalHistory *h, HistoryEntry *e, int from, int to, int n)
{
	memmove(e->t + to, e->t + from, sizeof(int64) * n);
	memmove(e->vals + (size_t) to * h->p, e->vals + (size_t) from * h->p, sizeof(double) * n * h->p);
	memmove(e->tag + to, e->tag + from, sizeof(void *) * n);
	memmove(e->gen + to, e->gen + from, sizeof(uint64) * n);
}

/*
 * Record a row in time order, dropping the oldest beyond the capacity. A row at a time
 * already held replaces it: a late message completed it, and its cells are now all known.
 */
static void
Record(TemporalHistory *h, HistoryEntry *e, int64 t, const double *row, void *tag)
{
	int			pos = e->n;

	while (pos > 0 && e->t[pos - 1] > t)
		pos--;
	if (pos > 0 && e->t[pos - 1] == t)
		pos--;
	else
	{
		if (e->n == e->cap)
		{
			if (pos == 0)
				return;			/* older than everything held */
			ShiftRows(h, e, 1, 0, e->n - 1);
			e->n--;
			pos--;
		}
		ShiftRows(h, e, pos, pos + 1, e->n - pos);
		e->n++;
	}
	e->t[pos] = t;
	memcpy(e->vals + (size_t) pos * h->p, row, sizeof(double) * h->p);
	e->tag[pos] = tag;
	e->gen[pos] = h->gen;
}

/* Steps from time s to time t (positive when s is earlier), rounded. */
static double
Steps(const TemporalHistory *h, int64 s, int64 t)
{
	return rint((double) (t - s) / 1e6 / h->model->step);
}

/*
 * Impute the row at time t (observed cells in) from the entity's rows within lags steps
 * before it and fwd steps after it, into out (the row's p cells); the nearest recorded
 * row wins a slot.
 */
static void
ImputeWindow(TemporalHistory *h, HistoryEntry *e, int64 t, const double *in, int fwd,
			 double *out)
{
	int			p = h->p,
				L = h->lags,
				W = L + fwd + 1;
	GcImputer  *imp = WindowFor(h, fwd);
	GcStatus	st;

	for (int k = 0; k < W * p; k++)
		h->in[k] = get_float8_nan();
	memcpy(h->in + (size_t) L * p, in, sizeof(double) * p);
	memset(h->filled, 0, W);
	h->filled[L] = 1;
	for (int k = e->n - 1; k >= 0; k--)
	{
		double		off = Steps(h, e->t[k], t);
		int			slot;

		if (off < -fwd || off > L || off == 0)
			continue;
		slot = L - (int) off;
		if (h->filled[slot])
			continue;
		memcpy(h->in + (size_t) slot * p, e->vals + (size_t) k * p, sizeof(double) * p);
		h->filled[slot] = 1;
	}
	st = gc_impute_row(imp, h->in, h->out, GC_IMPUTE_ORD_UPDATES);
	if (st != GC_OK)
		gc_report_status(st, "gc_impute_series", "conditional distribution is degenerate");
	memcpy(out, h->out + (size_t) L * p, sizeof(double) * p);
}

static bool
AnyMissing(const double *row, int p)
{
	for (int j = 0; j < p; j++)
		if (isnan(row[j]))
			return true;
	return false;
}

bool
gc_stream_history_impute(TemporalHistory *h, const char *entity, int64 t_us, const double *in,
						 double *out, void *tag)
{
	HistoryEntry *e = Entry(h, entity);
	bool		missing = AnyMissing(in, h->p);

	if (missing)
		ImputeWindow(h, e, t_us, in, 0, out);
	else
		memcpy(out, in, sizeof(double) * h->p);
	Record(h, e, t_us, in, tag);
	return missing;
}

/*
 * The rows whose imputation depends on the row at t_us: with missing cells, up to lags steps
 * after it (causal), and with refine_previous also up to lags steps before it and the row
 * itself when rows after it are known. Each is imputed again from the rows now recorded.
 */
/*
 * gc_stream_history_revise on the rows of e; self: the row at t_us itself too (its first
 * imputation may have missed rows that only e holds).
 */
static int
ReviseEntry(TemporalHistory *h, HistoryEntry *e, int64 t_us, bool self, HistoryReviseFn fn,
			void *arg)
{
	int			L = h->lags,
				count = 0;
	double	   *out = palloc(sizeof(double) * h->p);
	bool		later = false;

	for (int k = 0; k < e->n; k++)
		later |= e->t[k] > t_us && Steps(h, t_us, e->t[k]) <= L;
	for (int k = 0; k < e->n; k++)
	{
		double		off = Steps(h, t_us, e->t[k]);	/* > 0: row k is after t */
		const double *row = e->vals + (size_t) k * h->p;
		int			fwd = 0;

		if (off > L || off < -L || !AnyMissing(row, h->p))
			continue;
		if (e->t[k] == t_us && !self && !(h->refine && later))
			continue;
		if (h->refine)
			fwd = L;
		else if (off < 0)
			continue;
		ImputeWindow(h, e, e->t[k], row, fwd, out);
		fn(arg, e->t[k], e->gen[k] == h->gen ? e->tag[k] : NULL, row, out);
		count++;
	}
	pfree(out);
	return count;
}

int
gc_stream_history_revise(TemporalHistory *h, const char *entity, int64 t_us,
						 HistoryReviseFn fn, void *arg)
{
	return ReviseEntry(h, Entry(h, entity), t_us, false, fn, arg);
}

void
gc_stream_history_scratch_reset(TemporalHistory *h)
{
	h->scratch.n = 0;
}

void
gc_stream_history_scratch_add(TemporalHistory *h, int64 t_us, const double *row, void *tag)
{
	Record(h, &h->scratch, t_us, row, tag);
}

int
gc_stream_history_scratch_revise(TemporalHistory *h, int64 t_us, HistoryReviseFn fn, void *arg)
{
	return ReviseEntry(h, &h->scratch, t_us, true, fn, arg);
}

int
gc_stream_history_reach(const TemporalHistory *h)
{
	return 2 * h->lags;
}

double
gc_stream_history_step(const TemporalHistory *h)
{
	return h->model->step;
}

void
gc_stream_history_new_batch(TemporalHistory *h)
{
	h->gen++;
}

void
gc_stream_history_record(TemporalHistory *h, const char *entity, int64 t_us, const double *row)
{
	Record(h, Entry(h, entity), t_us, row, NULL);
}

int
gc_stream_history_depth(const TemporalHistory *h)
{
	return h->cap;
}
