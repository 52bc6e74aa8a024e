/*
 * cms.h — Count-Min sketch with heavy-hitter candidates (PostgreSQL-free core).
 *
 * Cormode and Muthukrishnan, "An improved data stream summary: the count-min
 * sketch and its applications", J. Algorithms 55(1):58-75, 2005: a depth x width
 * array of counters, one hash per row, point query = minimum over the rows.  With
 * width = ceil(e/eps) and depth = ceil(ln(1/delta)) an estimate never falls below
 * the true count and exceeds it by at most eps*N with probability >= 1 - delta,
 * N being the total count.  The standard (not conservative) update is used, so
 * the sketch is linear: a union is the element-wise sum and a removal is an exact
 * inverse, which is what a sliding-window aggregate needs.
 *
 * Row i uses the item's 64-bit hash re-mixed with a per-row constant (see
 * Column() in cms.c for why not double hashing).
 *
 * Heavy hitters: up to topk_cap candidates (hash, estimate at last update, key
 * bytes supplied by the caller) are kept as in cms_topn; a value enters when its
 * estimate exceeds the smallest candidate's.  Reported frequencies are always
 * re-estimated from the counters.
 *
 * Serialized form (big-endian), GC_CMS_HEADER_SIZE header bytes:
 *   [0] version (1) [1] flags (0) [2] hash id (1) [3] reserved (0)
 *   [4] element type (opaque uint32) [8] eps (double) [16] delta (double)
 *   [24] width [28] depth [32] total (int64) [40] topk_cap [44] ncand
 *   depth*width int64 counters, row-major
 *   ncand candidates: hash (uint64), count (int64), key length (uint32), key bytes
 */
#ifndef GC_CMS_H
#define GC_CMS_H

#include <stddef.h>
#include <stdint.h>

#include "sketch/sketch_util.h"

#define GC_CMS_VERSION			1
#define GC_CMS_HASH_ID			1
#define GC_CMS_HEADER_SIZE		48
#define GC_CMS_MAX_COUNTERS		(UINT32_C(1) << 24)
#define GC_CMS_MAX_TOPK			1024
#define GC_CMS_MAX_KEY			1024	/* key bytes kept per candidate */
#define GC_CMS_DEFAULT_EPS		0.001
#define GC_CMS_DEFAULT_DELTA	0.01
#define GC_CMS_DEFAULT_TOPK		32

/* gc_cms_candidate_offer results */
#define GC_CMS_CAND_SKIP		0	/* not a candidate */
#define GC_CMS_CAND_UPDATED		1	/* already a candidate; count refreshed */
#define GC_CMS_CAND_NEEDKEY		2	/* enters: call gc_cms_candidate_insert */

typedef struct gc_cms_cand
{
	uint64_t	hash;
	int64_t		count;
	uint32_t	len;
	uint8_t    *key;
} gc_cms_cand;

typedef struct gc_cms
{
	double		eps;
	double		delta;
	uint32_t	width;
	uint32_t	depth;
	uint32_t	elemtype;
	int64_t		total;
	int64_t    *counters;		/* depth * width */
	uint32_t	topk_cap;
	uint32_t	ncand;
	int64_t		min_count;		/* smallest candidate count when full */
	gc_cms_cand *cand;			/* topk_cap slots */
	const GcAlloc *alloc;
} gc_cms;

/*
 * width = ceil(e/eps), depth = ceil(ln(1/delta)).  GC_EINVAL if eps or
 * delta is not in (0, 1) or the sketch would exceed GC_CMS_MAX_COUNTERS.
 */
extern int	gc_cms_dims(double eps, double delta, uint32_t *width, uint32_t *depth);

extern int	gc_cms_init(gc_cms *c, double eps, double delta, uint32_t topk_cap,
						uint32_t elemtype, const GcAlloc *alloc);
extern void gc_cms_free(gc_cms *c);

/* Add count (negative to remove) for a hashed item; returns its new estimate. */
extern int64_t gc_cms_update(gc_cms *c, uint64_t hash, int64_t count);

/* Point estimate: min over rows; never below the true count. */
extern int64_t gc_cms_estimate(const gc_cms *c, uint64_t hash);

/* Heavy-hitter bookkeeping after an insert (see GC_CMS_CAND_*). */
extern int	gc_cms_candidate_offer(gc_cms *c, uint64_t hash, int64_t est);
extern int	gc_cms_candidate_insert(gc_cms *c, uint64_t hash, int64_t est,
									const void *key, size_t len);

/* Re-estimate every candidate (after removals); drop those now at zero. */
extern void gc_cms_candidates_refresh(gc_cms *c);

/*
 * dst += src.  GC_EINVAL (dst unchanged) unless width, depth, element
 * type and candidate capacity agree.  Candidates of both are re-ranked.
 */
extern int	gc_cms_merge(gc_cms *dst, const gc_cms *src);

/*
 * Indexes of the candidates ordered by current estimate, largest first; fills
 * order[0..ncand-1] and est[] (both ncand long).
 */
extern void gc_cms_rank_candidates(const gc_cms *c, uint32_t *order, int64_t *est);

extern size_t gc_cms_serialized_size(const gc_cms *c);
extern void gc_cms_serialize(const gc_cms *c, uint8_t *out);

/* Rebuild with full validation; GC_EFORMAT and a sentence in errbuf. */
extern int	gc_cms_deserialize(gc_cms *c, const uint8_t *buf, size_t len,
							   const GcAlloc *alloc, char *errbuf, size_t errlen);

/*
 * Point estimate straight from serialized bytes (checks the header and length
 * only; the bytes must come from a validated value).  GC_EFORMAT if the
 * header is inconsistent.
 */
extern int	gc_cms_estimate_serialized(const uint8_t *buf, size_t len, uint64_t hash,
									   int64_t *est);

#endif							/* GC_CMS_H */
