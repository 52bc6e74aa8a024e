/*
 * online.h — online (streaming) training of a Gaussian copula in bounded memory.
 *
 * Rows are buffered in batches; each batch updates the marginals (mergeable weighted
 * ECDF sketches of at most max_knots knots, optionally forgetting old data by a decay
 * factor) and then takes one online EM step Σ ← η Σ_batch + (1−η) Σ. Memory is
 * O(p² + p·max_knots + batch·p) whatever the number of rows. The state is public so the
 * PostgreSQL glue can serialise it for parallel aggregation.
 */
#ifndef GC_ONLINE_H
#define GC_ONLINE_H

#include <stdint.h>

#include "copula/copula.h"

typedef struct GcSketch
{
	int			nk,
				cap;
	int			exact;
	double		n;				/* total weight */
	double	   *x,
			   *cum,
			   *mult;
	/* observed values not merged yet: merged in groups so a big sketch is rebuilt rarely */
	int			npend,
				pendcap;
	double	   *pend;
} GcSketch;

/* per-column search indexes and merge buffers (online.c; built lazily, never serialised) */
struct GcOnlineWork;

typedef struct GcOnline
{
	GcAlloc		alloc;
	GcFitOptions opt;			/* opt.types points into types */
	int			p;
	int			initialized;	/* types and marginals exist */
	int		   *types;			/* p: requested types, then the chosen ones */
	GcSketch   *sk;				/* p marginal sketches */
	double	   *Sig;			/* p×p correlation (identity rows for constants) */
	int64_t		nrows;			/* rows absorbed into the model */
	int64_t		steps;			/* online EM steps taken (t) */
	double		delta,
				loglik;
	int			ridge_steps;
	int			init_rows;		/* rows of the first block (type detection) */
	int			bufcap,
				nbuf;
	double	   *buf;			/* bufcap×p rows waiting for a batch */
	struct GcOnlineWork *work;	/* NULL until the first step; caches only */
} GcOnline;

/* A fresh state for rows of width p (types from opt->types, or detected on the first block). */
extern GcStatus gc_online_create(int p, const GcFitOptions *opt, const GcAlloc *alloc,
								 GcOnline **out);

/* A state continuing from a fitted model (gc_update): its marginals, Σ and types. */
extern GcStatus gc_online_from_model(const GcModel *model, const GcFitOptions *opt,
									 const GcAlloc *alloc, GcOnline **out,
									 char *errmsg, size_t errlen);

/* Add one row (NaN = missing); runs a step whenever a batch is full. */
extern GcStatus gc_online_add(GcOnline *s, const double *row, char *errmsg, size_t errlen);

/* Process what is buffered (a short last batch) now. */
extern GcStatus gc_online_flush(GcOnline *s, char *errmsg, size_t errlen);

/* Fold state b into a (parallel aggregation): sketches merged, Σ averaged by rows. */
extern GcStatus gc_online_merge(GcOnline *a, const GcOnline *b, char *errmsg, size_t errlen);

/*
 * The current model (allocated with alloc). Buffered rows are processed first on a copy, so
 * the state itself is not changed. Fails with GC_EINVAL if no row was ever seen.
 */
extern GcStatus gc_online_model(const GcOnline *s, const GcAlloc *alloc, GcModel **out,
								char *errmsg, size_t errlen);

extern void gc_online_free(GcOnline *s);

/* Deep copy (for gc_online_model and for serialisation round trips). */
extern GcStatus gc_online_copy(const GcOnline *s, const GcAlloc *alloc, GcOnline **out);

/* Make room for k knots in a sketch (used by deserialisation). */
extern GcStatus gc_sketch_reserve(GcSketch *sk, int k, const GcAlloc *alloc);

/* Make room for k pending values in a sketch (used by deserialisation). */
extern GcStatus gc_sketch_reserve_pending(GcSketch *sk, int k, const GcAlloc *alloc);

#endif
