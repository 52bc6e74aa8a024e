/*
 * cms.c — Count-Min sketch: updates, point queries, candidates for heavy
 * hitters, union and the portable serialized form.  See cms.h for the contract.
 */
#include "sketch/cms.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CAND_FIXED	20			/* hash, count, length */

int
gc_cms_dims(double eps, double delta, uint32_t *width, uint32_t *depth)
{
	double		w,
				d;

	if (!(eps > 0.0 && eps < 1.0) || !(delta > 0.0 && delta < 1.0))
		return GC_EINVAL;
	/* Cormode & Muthukrishnan 2005, Theorem 1: w = ceil(e/eps), d = ceil(ln 1/delta) */
	w = ceil(M_E / eps);
	d = ceil(log(1.0 / delta));
	if (d < 1.0)
		d = 1.0;
	if (w * d > (double) GC_CMS_MAX_COUNTERS)
		return GC_EINVAL;
	*width = (uint32_t) w;
	*depth = (uint32_t) d;
	return GC_OK;
}

int
gc_cms_init(gc_cms *c, double eps, double delta, uint32_t topk_cap,
			uint32_t elemtype, const GcAlloc *alloc)
{
	size_t		n;

	memset(c, 0, sizeof(*c));
	if (gc_cms_dims(eps, delta, &c->width, &c->depth) != GC_OK ||
		topk_cap > GC_CMS_MAX_TOPK)
		return GC_EINVAL;
	c->eps = eps;
	c->delta = delta;
	c->elemtype = elemtype;
	c->topk_cap = topk_cap;
	c->alloc = alloc;
	n = (size_t) c->width * c->depth;
	c->counters = alloc->alloc(alloc->ctx, n * sizeof(int64_t));
	if (c->counters == NULL)
		return GC_ENOMEM;
	memset(c->counters, 0, n * sizeof(int64_t));
	if (topk_cap > 0)
	{
		c->cand = alloc->alloc(alloc->ctx, topk_cap * sizeof(gc_cms_cand));
		if (c->cand == NULL)
		{
			gc_cms_free(c);
			return GC_ENOMEM;
		}
		memset(c->cand, 0, topk_cap * sizeof(gc_cms_cand));
	}
	return GC_OK;
}

void
gc_cms_free(gc_cms *c)
{
	if (c->cand)
	{
		for (uint32_t i = 0; i < c->ncand; i++)
			if (c->cand[i].key)
				c->alloc->dealloc(c->alloc->ctx, c->cand[i].key);
		c->alloc->dealloc(c->alloc->ctx, c->cand);
	}
	if (c->counters)
		c->alloc->dealloc(c->alloc->ctx, c->counters);
	c->cand = NULL;
	c->counters = NULL;
	c->ncand = 0;
}

/*
 * Column of a hashed item in row i: the item hash re-mixed with a per-row
 * constant, so that rows behave as independent hash functions.  (Double hashing
 * h1 + i*h2 would make two items that agree on (h1, h2) mod width collide in every
 * row at once, with probability 1/width^2 instead of 1/width^depth, which breaks
 * the delta guarantee for narrow, deep sketches.)  The column is taken from the
 * high 32 bits by multiply-shift (Lemire's fast range reduction), no division.
 */
static inline uint32_t
Column(uint64_t hash, uint32_t row, uint32_t width)
{
	uint64_t	x = gc_sketch_mix64(hash ^ ((uint64_t) (row + 1) * UINT64_C(0x9e3779b97f4a7c15)));

	return (uint32_t) (((x >> 32) * (uint64_t) width) >> 32);
}

int64_t
gc_cms_update(gc_cms *c, uint64_t hash, int64_t count)
{
	int64_t		est = INT64_MAX;

	for (uint32_t i = 0; i < c->depth; i++)
	{
		int64_t    *ctr = &c->counters[(size_t) i * c->width + Column(hash, i, c->width)];

		*ctr += count;
		if (*ctr < est)
			est = *ctr;
	}
	c->total += count;
	return est;
}

int64_t
gc_cms_estimate(const gc_cms *c, uint64_t hash)
{
	int64_t		est = INT64_MAX;

	for (uint32_t i = 0; i < c->depth; i++)
	{
		int64_t		v = c->counters[(size_t) i * c->width + Column(hash, i, c->width)];

		if (v < est)
			est = v;
	}
	return est;
}

static void
RecomputeMin(gc_cms *c)
{
	int64_t		m = INT64_MAX;

	for (uint32_t i = 0; i < c->ncand; i++)
		if (c->cand[i].count < m)
			m = c->cand[i].count;
	c->min_count = c->ncand == c->topk_cap ? m : 0;
}

int
gc_cms_candidate_offer(gc_cms *c, uint64_t hash, int64_t est)
{
	/*
	 * Fast path: stored counts never exceed current estimates (counters only
	 * grow between refreshes), so a value estimated below the smallest stored
	 * count cannot be in a full list.
	 */
	if (c->topk_cap == 0 || (c->ncand == c->topk_cap && est < c->min_count))
		return GC_CMS_CAND_SKIP;
	for (uint32_t i = 0; i < c->ncand; i++)
		if (c->cand[i].hash == hash)
		{
			int64_t		old = c->cand[i].count;

			c->cand[i].count = est;
			/* counts only grow here: the minimum moves only if this was it */
			if (old <= c->min_count)
				RecomputeMin(c);
			return GC_CMS_CAND_UPDATED;
		}
	if (c->ncand < c->topk_cap || est > c->min_count)
		return GC_CMS_CAND_NEEDKEY;
	return GC_CMS_CAND_SKIP;
}

int
gc_cms_candidate_insert(gc_cms *c, uint64_t hash, int64_t est,
						const void *key, size_t len)
{
	uint32_t	slot;
	uint8_t    *copy;

	if (c->topk_cap == 0)
		return GC_OK;
	if (len > GC_CMS_MAX_KEY)
		len = GC_CMS_MAX_KEY;
	copy = c->alloc->alloc(c->alloc->ctx, len ? len : 1);
	if (copy == NULL)
		return GC_ENOMEM;
	memcpy(copy, key, len);
	if (c->ncand < c->topk_cap)
		slot = c->ncand++;
	else
	{
		slot = 0;
		for (uint32_t i = 1; i < c->ncand; i++)
			if (c->cand[i].count < c->cand[slot].count)
				slot = i;
		c->alloc->dealloc(c->alloc->ctx, c->cand[slot].key);
	}
	c->cand[slot].hash = hash;
	c->cand[slot].count = est;
	c->cand[slot].len = (uint32_t) len;
	c->cand[slot].key = copy;
	RecomputeMin(c);
	return GC_OK;
}

void
gc_cms_candidates_refresh(gc_cms *c)
{
	uint32_t	k = 0;

	for (uint32_t i = 0; i < c->ncand; i++)
	{
		c->cand[i].count = gc_cms_estimate(c, c->cand[i].hash);
		if (c->cand[i].count > 0)
			c->cand[k++] = c->cand[i];
		else
			c->alloc->dealloc(c->alloc->ctx, c->cand[i].key);
	}
	c->ncand = k;
	RecomputeMin(c);
}

typedef struct RankItem
{
	int64_t		est;
	uint64_t	hash;
	uint32_t	idx;
} RankItem;

/* larger estimate first; ties broken by hash so the order is deterministic */
static int
CmpRank(const void *a, const void *b)
{
	const RankItem *x = a,
			   *y = b;

	if (x->est != y->est)
		return x->est > y->est ? -1 : 1;
	return (x->hash > y->hash) - (x->hash < y->hash);
}

int
gc_cms_merge(gc_cms *dst, const gc_cms *src)
{
	size_t		n = (size_t) dst->width * dst->depth;
	uint32_t	nall = 0;
	RankItem   *items;
	gc_cms_cand *pool;

	if (dst->width != src->width || dst->depth != src->depth ||
		dst->elemtype != src->elemtype || dst->topk_cap != src->topk_cap)
		return GC_EINVAL;
	for (size_t i = 0; i < n; i++)
		dst->counters[i] += src->counters[i];
	dst->total += src->total;
	if (dst->topk_cap == 0)
		return GC_OK;

	/* pool both lists (unique by hash), re-estimate, keep the largest topk_cap */
	pool = dst->alloc->alloc(dst->alloc->ctx, (dst->ncand + src->ncand) * sizeof(gc_cms_cand) + 1);
	items = dst->alloc->alloc(dst->alloc->ctx, (dst->ncand + src->ncand) * sizeof(RankItem) + 1);
	if (pool == NULL || items == NULL)
		return GC_ENOMEM;
	for (uint32_t i = 0; i < dst->ncand; i++)
		pool[nall++] = dst->cand[i];
	for (uint32_t i = 0; i < src->ncand; i++)
	{
		int			dup = 0;

		for (uint32_t j = 0; j < dst->ncand && !dup; j++)
			dup = pool[j].hash == src->cand[i].hash;
		if (dup)
			continue;
		pool[nall] = src->cand[i];
		pool[nall].key = dst->alloc->alloc(dst->alloc->ctx, src->cand[i].len ? src->cand[i].len : 1);
		if (pool[nall].key == NULL)
			return GC_ENOMEM;
		memcpy(pool[nall].key, src->cand[i].key, src->cand[i].len);
		nall++;
	}
	for (uint32_t i = 0; i < nall; i++)
	{
		items[i].est = gc_cms_estimate(dst, pool[i].hash);
		items[i].hash = pool[i].hash;
		items[i].idx = i;
	}
	qsort(items, nall, sizeof(RankItem), CmpRank);
	dst->ncand = 0;
	for (uint32_t i = 0; i < nall; i++)
	{
		gc_cms_cand *p = &pool[items[i].idx];

		if (dst->ncand < dst->topk_cap && items[i].est > 0)
		{
			dst->cand[dst->ncand] = *p;
			dst->cand[dst->ncand].count = items[i].est;
			dst->ncand++;
		}
		else
			dst->alloc->dealloc(dst->alloc->ctx, p->key);
	}
	dst->alloc->dealloc(dst->alloc->ctx, pool);
	dst->alloc->dealloc(dst->alloc->ctx, items);
	RecomputeMin(dst);
	return GC_OK;
}

void
gc_cms_rank_candidates(const gc_cms *c, uint32_t *order, int64_t *est)
{
	RankItem	stackitems[64];
	RankItem   *items = stackitems;

	if (c->ncand > 64)
		items = c->alloc->alloc(c->alloc->ctx, c->ncand * sizeof(RankItem));
	for (uint32_t i = 0; i < c->ncand; i++)
	{
		items[i].est = gc_cms_estimate(c, c->cand[i].hash);
		items[i].hash = c->cand[i].hash;
		items[i].idx = i;
	}
	qsort(items, c->ncand, sizeof(RankItem), CmpRank);
	for (uint32_t i = 0; i < c->ncand; i++)
	{
		order[i] = items[i].idx;
		est[i] = items[i].est;
	}
	if (items != stackitems)
		c->alloc->dealloc(c->alloc->ctx, items);
}

size_t
gc_cms_serialized_size(const gc_cms *c)
{
	size_t		n = GC_CMS_HEADER_SIZE + (size_t) c->width * c->depth * 8;

	for (uint32_t i = 0; i < c->ncand; i++)
		n += CAND_FIXED + c->cand[i].len;
	return n;
}

void
gc_cms_serialize(const gc_cms *c, uint8_t *out)
{
	size_t		n = (size_t) c->width * c->depth;
	uint8_t    *p;

	out[0] = GC_CMS_VERSION;
	out[1] = 0;
	out[2] = GC_CMS_HASH_ID;
	out[3] = 0;
	gc_put_be32(out + 4, c->elemtype);
	gc_put_bedouble(out + 8, c->eps);
	gc_put_bedouble(out + 16, c->delta);
	gc_put_be32(out + 24, c->width);
	gc_put_be32(out + 28, c->depth);
	gc_put_be64(out + 32, (uint64_t) c->total);
	gc_put_be32(out + 40, c->topk_cap);
	gc_put_be32(out + 44, c->ncand);
	p = out + GC_CMS_HEADER_SIZE;
	for (size_t i = 0; i < n; i++, p += 8)
		gc_put_be64(p, (uint64_t) c->counters[i]);
	for (uint32_t i = 0; i < c->ncand; i++)
	{
		gc_put_be64(p, c->cand[i].hash);
		gc_put_be64(p + 8, (uint64_t) c->cand[i].count);
		gc_put_be32(p + 16, c->cand[i].len);
		memcpy(p + CAND_FIXED, c->cand[i].key, c->cand[i].len);
		p += CAND_FIXED + c->cand[i].len;
	}
}

/* Header checks shared by deserialize and the serialized point query. */
static int
CheckHeader(const uint8_t *buf, size_t len, uint32_t *width, uint32_t *depth,
			char *errbuf, size_t errlen)
{
	double		eps,
				delta;
	uint32_t	w,
				d;

	if (len < GC_CMS_HEADER_SIZE)
		return gc_format_error(errbuf, errlen, "The value has %zu bytes, fewer than the %d-byte header.",
					len, GC_CMS_HEADER_SIZE);
	if (buf[0] != GC_CMS_VERSION)
		return gc_format_error(errbuf, errlen, "Format version %d is not supported (this build reads version %d).",
					buf[0], GC_CMS_VERSION);
	if (buf[1] != 0 || buf[3] != 0)
		return gc_format_error(errbuf, errlen, "Reserved header bytes must be zero.");
	if (buf[2] != GC_CMS_HASH_ID)
		return gc_format_error(errbuf, errlen, "Hash scheme %d is not supported (expected %d).",
					buf[2], GC_CMS_HASH_ID);
	eps = gc_get_bedouble(buf + 8);
	delta = gc_get_bedouble(buf + 16);
	if (gc_cms_dims(eps, delta, &w, &d) != GC_OK)
		return gc_format_error(errbuf, errlen, "Parameters eps %g and delta %g are out of range.", eps, delta);
	*width = gc_get_be32(buf + 24);
	*depth = gc_get_be32(buf + 28);
	if (*width != w || *depth != d)
		return gc_format_error(errbuf, errlen, "Width %u and depth %u do not match eps %g and delta %g (expected %u and %u).",
					*width, *depth, eps, delta, w, d);
	if (len < GC_CMS_HEADER_SIZE + (size_t) w * d * 8)
		return gc_format_error(errbuf, errlen, "The value has %zu bytes, too few for %u x %u counters.",
					len, d, w);
	return GC_OK;
}

int
gc_cms_estimate_serialized(const uint8_t *buf, size_t len, uint64_t hash, int64_t *est)
{
	uint32_t	w,
				d;
	int64_t		m = INT64_MAX;

	if (CheckHeader(buf, len, &w, &d, NULL, 0) != GC_OK)
		return GC_EFORMAT;
	for (uint32_t i = 0; i < d; i++)
	{
		int64_t		v = (int64_t) gc_get_be64(buf + GC_CMS_HEADER_SIZE +
											  8 * ((size_t) i * w + Column(hash, i, w)));

		if (v < m)
			m = v;
	}
	*est = m;
	return GC_OK;
}

int
gc_cms_deserialize(gc_cms *c, const uint8_t *buf, size_t len,
				   const GcAlloc *alloc, char *errbuf, size_t errlen)
{
	uint32_t	w,
				d,
				cap,
				ncand;
	int64_t		total;
	const uint8_t *p,
			   *end = buf + len;
	int			rc;

	memset(c, 0, sizeof(*c));
	if ((rc = CheckHeader(buf, len, &w, &d, errbuf, errlen)) != GC_OK)
		return rc;
	total = (int64_t) gc_get_be64(buf + 32);
	cap = gc_get_be32(buf + 40);
	ncand = gc_get_be32(buf + 44);
	if (total < 0)
		return gc_format_error(errbuf, errlen, "The total count %lld is negative.", (long long) total);
	if (cap > GC_CMS_MAX_TOPK || ncand > cap)
		return gc_format_error(errbuf, errlen, "%u candidates with capacity %u (at most %d) is invalid.",
					ncand, cap, GC_CMS_MAX_TOPK);
	/* every row of a standard Count-Min sketch sums to the total count */
	p = buf + GC_CMS_HEADER_SIZE;
	for (uint32_t i = 0; i < d; i++)
	{
		int64_t		sum = 0;

		for (uint32_t j = 0; j < w; j++, p += 8)
		{
			int64_t		v = (int64_t) gc_get_be64(p);

			if (v < 0 || v > total)
				return gc_format_error(errbuf, errlen, "Counter %u of row %u is %lld, outside 0 to the total %lld.",
							j, i, (long long) v, (long long) total);
			sum += v;
		}
		if (sum != total)
			return gc_format_error(errbuf, errlen, "Row %u sums to %lld, not to the total count %lld.",
						i, (long long) sum, (long long) total);
	}
	/* candidates */
	{
		const uint8_t *q = p;

		for (uint32_t i = 0; i < ncand; i++)
		{
			uint32_t	klen;
			int64_t		cnt;

			if ((size_t) (end - q) < CAND_FIXED)
				return gc_format_error(errbuf, errlen, "Candidate %u is truncated.", i);
			cnt = (int64_t) gc_get_be64(q + 8);
			klen = gc_get_be32(q + 16);
			if (cnt < 1 || cnt > total)
				return gc_format_error(errbuf, errlen, "Candidate %u has count %lld, outside 1 to the total %lld.",
							i, (long long) cnt, (long long) total);
			if (klen > GC_CMS_MAX_KEY || (size_t) (end - q - CAND_FIXED) < klen)
				return gc_format_error(errbuf, errlen, "Candidate %u has a key length %u that is invalid or truncated.",
							i, klen);
			for (const uint8_t *r = p; r < q; r += CAND_FIXED + gc_get_be32(r + 16))
				if (gc_get_be64(r) == gc_get_be64(q))
					return gc_format_error(errbuf, errlen, "Candidate %u repeats an earlier hash.", i);
			q += CAND_FIXED + klen;
		}
		if (q != end)
			return gc_format_error(errbuf, errlen, "%zu trailing bytes after the last candidate.", (size_t) (end - q));
	}
	if ((rc = gc_cms_init(c, gc_get_bedouble(buf + 8), gc_get_bedouble(buf + 16), cap,
						  gc_get_be32(buf + 4), alloc)) != GC_OK)
		return rc;
	c->total = total;
	{
		const uint8_t *q = buf + GC_CMS_HEADER_SIZE;
		size_t		n = (size_t) w * d;

		for (size_t i = 0; i < n; i++, q += 8)
			c->counters[i] = (int64_t) gc_get_be64(q);
		for (uint32_t i = 0; i < ncand; i++)
		{
			gc_cms_cand *k = &c->cand[i];

			k->hash = gc_get_be64(q);
			k->count = (int64_t) gc_get_be64(q + 8);
			k->len = gc_get_be32(q + 16);
			k->key = alloc->alloc(alloc->ctx, k->len ? k->len : 1);
			if (k->key == NULL)
			{
				gc_cms_free(c);
				return GC_ENOMEM;
			}
			memcpy(k->key, q + CAND_FIXED, k->len);
			c->ncand = i + 1;
			q += CAND_FIXED + k->len;
		}
	}
	RecomputeMin(c);
	return GC_OK;
}
