/*
 * hll.c — HyperLogLog sketch: sparse/dense representation, union, Ertl's improved
 * estimator and the portable serialized form.  See hll.h for the contract.
 */
#include "sketch/hll.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SP_SHIFT	(64 - GC_HLL_SPARSE_P)	/* bits left after the sparse index */
#define SP_MAXRANK	(SP_SHIFT + 1)
#define SP_MAXIDX	(UINT32_C(1) << GC_HLL_SPARSE_P)

uint32_t
gc_hll_sparse_limit(int log2m)
{
	/* 4-byte entries versus 6-bit registers: sparse while 4n <= 3m/4 */
	return (uint32_t) ((UINT64_C(3) << log2m) / 16);
}

size_t
gc_hll_dense_size(int log2m)
{
	return GC_HLL_HEADER_SIZE + ((size_t) 3 << log2m) / 4;
}

/* Sparse entry of a hash: index at precision p' and the rank of the rest. */
static inline uint32_t
SparseEntry(uint64_t hash)
{
	uint32_t	idx = (uint32_t) (hash >> SP_SHIFT);
	uint64_t	w = hash << GC_HLL_SPARSE_P;
	uint32_t	rank = w ? (uint32_t) __builtin_clzll(w) + 1 : SP_MAXRANK;

	return (idx << 6) | rank;
}

/*
 * Register index and value at precision p implied by a p' entry: the p'-p bits
 * below the p-bit index are the leading bits of the p-precision remainder
 * (the decoding of HLL++ sparse entries, Heule et al. 2013).  Gives exactly what inserting the hash would.
 */
static inline void
EntryToRegister(uint32_t e, int p, uint32_t *idx, uint8_t *rank)
{
	uint32_t	sidx = e >> 6;
	int			extra = GC_HLL_SPARSE_P - p;
	uint32_t	low = sidx & ((UINT32_C(1) << extra) - 1);

	*idx = sidx >> extra;
	if (low != 0)
		*rank = (uint8_t) (extra - (32 - __builtin_clz(low)) + 1);
	else
		*rank = (uint8_t) (extra + (e & 63));
}

static int
CmpU32(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *) a;
	uint32_t	y = *(const uint32_t *) b;

	return (x > y) - (x < y);
}

int
gc_hll_init(gc_hll *h, int log2m, const GcAlloc *alloc)
{
	memset(h, 0, sizeof(*h));
	if (log2m < GC_HLL_MIN_LOG2M || log2m > GC_HLL_MAX_LOG2M)
		return GC_EINVAL;
	h->log2m = log2m;
	h->alloc = alloc;
	return GC_OK;
}

void
gc_hll_free(gc_hll *h)
{
	if (h->regs)
		h->alloc->dealloc(h->alloc->ctx, h->regs);
	if (h->sparse)
		h->alloc->dealloc(h->alloc->ctx, h->sparse);
	h->regs = NULL;
	h->sparse = NULL;
	h->nsparse = h->sparse_cap = h->nbuf = 0;
}

static inline void
DenseFold(uint8_t *regs, int p, uint32_t e)
{
	uint32_t	idx;
	uint8_t		rank;

	EntryToRegister(e, p, &idx, &rank);
	if (rank > regs[idx])
		regs[idx] = rank;
}

/* Switch a sparse sketch to dense, folding in every sorted and buffered entry. */
static int
ToDense(gc_hll *h)
{
	size_t		m = (size_t) 1 << h->log2m;
	uint8_t    *regs = h->alloc->alloc(h->alloc->ctx, m);

	if (regs == NULL)
		return GC_ENOMEM;
	memset(regs, 0, m);
	for (uint32_t i = 0; i < h->nsparse; i++)
		DenseFold(regs, h->log2m, h->sparse[i]);
	for (uint32_t i = 0; i < h->nbuf; i++)
		DenseFold(regs, h->log2m, h->buf[i]);
	if (h->sparse)
		h->alloc->dealloc(h->alloc->ctx, h->sparse);
	h->sparse = NULL;
	h->nsparse = h->sparse_cap = h->nbuf = 0;
	h->regs = regs;
	h->dense = 1;
	return GC_OK;
}

/*
 * Sort the buffer, keep the largest rank per index, and merge it into the sorted
 * list; turn dense when the list passes the limit.
 */
static int
Flush(gc_hll *h)
{
	uint32_t	nb = 0;
	uint32_t	need;
	uint32_t   *out;
	uint32_t	i,
				j,
				k;

	if (h->nbuf == 0)
		return GC_OK;
	qsort(h->buf, h->nbuf, sizeof(uint32_t), CmpU32);
	/* sorted ascending: the last entry of a run of equal indexes has the max rank */
	for (i = 0; i < h->nbuf; i++)
	{
		if (i + 1 < h->nbuf && (h->buf[i + 1] >> 6) == (h->buf[i] >> 6))
			continue;
		h->buf[nb++] = h->buf[i];
	}
	/* merge into fresh memory: simple, and the list never exceeds 3m/16 + 256 */
	need = h->nsparse + nb;
	out = h->alloc->alloc(h->alloc->ctx, (size_t) need * sizeof(uint32_t));
	if (out == NULL)
		return GC_ENOMEM;
	i = j = k = 0;
	while (i < h->nsparse || j < nb)
	{
		uint32_t	e;

		if (j >= nb || (i < h->nsparse && (h->sparse[i] >> 6) < (h->buf[j] >> 6)))
			e = h->sparse[i++];
		else if (i >= h->nsparse || (h->buf[j] >> 6) < (h->sparse[i] >> 6))
			e = h->buf[j++];
		else
		{
			e = h->sparse[i] > h->buf[j] ? h->sparse[i] : h->buf[j];
			i++;
			j++;
		}
		out[k++] = e;
	}
	if (h->sparse)
		h->alloc->dealloc(h->alloc->ctx, h->sparse);
	h->sparse = out;
	h->sparse_cap = need;
	h->nsparse = k;
	h->nbuf = 0;
	if (h->nsparse > gc_hll_sparse_limit(h->log2m))
		return ToDense(h);
	return GC_OK;
}

/* Add a sparse entry; the sketch may have turned dense during a long merge. */
static inline int
AddEntry(gc_hll *h, uint32_t e)
{
	if (h->dense)
	{
		DenseFold(h->regs, h->log2m, e);
		return GC_OK;
	}
	h->buf[h->nbuf++] = e;
	if (h->nbuf == GC_HLL_BUF_CAP)
		return Flush(h);
	return GC_OK;
}

int
gc_hll_add_sparse(gc_hll *h, uint64_t hash)
{
	return AddEntry(h, SparseEntry(hash));
}

int
gc_hll_add_hash(gc_hll *h, uint64_t hash)
{
	return gc_hll_add(h, hash);
}

/*
 * For a dense sketch the register indexes and ranks of a chunk of hashes are
 * computed first and the registers touched after: the chunk's register loads
 * are then independent and in flight together (a table scan streaming through
 * the cache evicts the registers, and one update at a time waits for each miss).
 * Updates within a chunk stay in order, so repeated indexes are handled.
 */
#define GC_HLL_CHUNK 16

int
gc_hll_add_many(gc_hll *h, const uint64_t *hash, uint32_t n)
{
	uint32_t	i = 0;

	for (; i < n && !h->dense; i++)
	{
		int			rc = gc_hll_add_sparse(h, hash[i]);

		if (rc != GC_OK)
			return rc;
	}
	while (i < n)
	{
		int			p = h->log2m;
		uint32_t	m = n - i < GC_HLL_CHUNK ? n - i : GC_HLL_CHUNK;
		uint32_t	idx[GC_HLL_CHUNK];
		uint8_t		rank[GC_HLL_CHUNK];

		for (uint32_t j = 0; j < m; j++)
		{
			idx[j] = gc_hll_register(hash[i + j], p, &rank[j]);
			__builtin_prefetch(h->regs + idx[j], 1);
		}
		for (uint32_t j = 0; j < m; j++)
		{
			uint8_t		old = h->regs[idx[j]];

			h->regs[idx[j]] = rank[j] > old ? rank[j] : old;
		}
		i += m;
	}
	return GC_OK;
}

int
gc_hll_merge(gc_hll *dst, const gc_hll *src)
{
	int			rc;

	if (dst->log2m != src->log2m)
		return GC_EINVAL;
	if (src->dense)
	{
		size_t		m = (size_t) 1 << src->log2m;

		if (!dst->dense && (rc = ToDense(dst)) != GC_OK)
			return rc;
		for (size_t i = 0; i < m; i++)
			if (src->regs[i] > dst->regs[i])
				dst->regs[i] = src->regs[i];
		return GC_OK;
	}
	if (dst->dense)
	{
		for (uint32_t i = 0; i < src->nsparse; i++)
			DenseFold(dst->regs, dst->log2m, src->sparse[i]);
		for (uint32_t i = 0; i < src->nbuf; i++)
			DenseFold(dst->regs, dst->log2m, src->buf[i]);
		return GC_OK;
	}
	for (uint32_t i = 0; i < src->nsparse; i++)
		if ((rc = AddEntry(dst, src->sparse[i])) != GC_OK)
			return rc;
	for (uint32_t i = 0; i < src->nbuf; i++)
		if ((rc = AddEntry(dst, src->buf[i])) != GC_OK)
			return rc;
	return GC_OK;
}

/*
 * Walk the unique sparse entries (sorted list merged with a sorted copy of the
 * buffer) in index order without modifying the sketch.  Returns the count.
 */
typedef void (*EntryFn) (uint32_t e, void *arg);

static uint32_t
SparseWalk(const gc_hll *h, EntryFn fn, void *arg)
{
	uint32_t	b[GC_HLL_BUF_CAP];
	uint32_t	nb = 0,
				i = 0,
				j = 0,
				count = 0;

	memcpy(b, h->buf, h->nbuf * sizeof(uint32_t));
	qsort(b, h->nbuf, sizeof(uint32_t), CmpU32);
	for (uint32_t t = 0; t < h->nbuf; t++)
	{
		if (t + 1 < h->nbuf && (b[t + 1] >> 6) == (b[t] >> 6))
			continue;
		b[nb++] = b[t];
	}
	while (i < h->nsparse || j < nb)
	{
		uint32_t	e;

		if (j >= nb || (i < h->nsparse && (h->sparse[i] >> 6) < (b[j] >> 6)))
			e = h->sparse[i++];
		else if (i >= h->nsparse || (b[j] >> 6) < (h->sparse[i] >> 6))
			e = b[j++];
		else
		{
			e = h->sparse[i] > b[j] ? h->sparse[i] : b[j];
			i++;
			j++;
		}
		if (fn)
			fn(e, arg);
		count++;
	}
	return count;
}

/* Ertl 2017, Algorithm 6: sigma(x) = x + sum_{k>=1} x^(2^k) 2^(k-1) */
static double
ErtlSigma(double x)
{
	double		y = 1.0,
				z = x,
				zp;

	if (x == 1.0)
		return INFINITY;
	do
	{
		x *= x;
		zp = z;
		z += x * y;
		y += y;
	} while (z != zp);
	return z;
}

/* Ertl 2017, Algorithm 6: tau(x) = (1 - x - sum_{k>=1} (1 - x^(2^-k))^2 2^-k) / 3 */
static double
ErtlTau(double x)
{
	double		y = 1.0,
				z = 1.0 - x,
				zp;

	if (x == 0.0 || x == 1.0)
		return 0.0;
	do
	{
		x = sqrt(x);
		zp = z;
		y *= 0.5;
		z -= (1.0 - x) * (1.0 - x) * y;
	} while (z != zp);
	return z / 3.0;
}

/*
 * Improved estimator from the register histogram C[0..q+1] of m registers:
 * alpha_inf m^2 / (m sigma(C0/m) + sum_k C_k 2^-k + m tau(1 - C_{q+1}/m) 2^-q),
 * with alpha_inf = 1 / (2 ln 2).
 */
static double
ErtlEstimate(const double *C, int q, double m)
{
	double		z = m * ErtlTau(1.0 - C[q + 1] / m);

	for (int k = q; k >= 1; k--)
		z = 0.5 * (z + C[k]);
	z += m * ErtlSigma(C[0] / m);
	if (isinf(z))
		return 0.0;
	return m * m / (2.0 * M_LN2) / z;
}

static void
HistEntry(uint32_t e, void *arg)
{
	((double *) arg)[e & 63] += 1.0;
}

/*
 * Histogram of the dense registers a sparse sketch folds into.  The walk visits entries
 * in index order, and the entries of one p-precision register are adjacent (its index is
 * the top p bits of theirs), so each register's maximum is known when the index moves on.
 */
typedef struct FoldHist
{
	double	   *C;
	int			log2m;
	uint32_t	touched;		/* registers with at least one entry */
	int64_t		cur;			/* register being folded, -1 before the first */
	uint8_t		max;
} FoldHist;

static void
FoldHistEntry(uint32_t e, void *arg)
{
	FoldHist   *f = arg;
	uint32_t	idx;
	uint8_t		rank;

	EntryToRegister(e, f->log2m, &idx, &rank);
	if ((int64_t) idx != f->cur)
	{
		if (f->cur >= 0)
			f->C[f->max] += 1.0;
		f->cur = idx;
		f->max = rank;
		f->touched++;
	}
	else if (rank > f->max)
		f->max = rank;
}

double
gc_hll_estimate(const gc_hll *h)
{
	double		C[66];

	memset(C, 0, sizeof(C));
	if (h->dense)
	{
		size_t		m = (size_t) 1 << h->log2m;

		for (size_t i = 0; i < m; i++)
			C[h->regs[i]] += 1.0;
		return ErtlEstimate(C, 64 - h->log2m, (double) m);
	}
	else if (SparseWalk(h, NULL, NULL) > gc_hll_sparse_limit(h->log2m))
	{
		/*
		 * The sketch's value is its canonical form (gc_hll_serialize): past the sparse
		 * limit that is the dense image, so the estimate is the dense one too.  Otherwise
		 * a count taken from the aggregate state and one taken from the stored sketch
		 * would differ for the same rows.
		 */
		FoldHist	f = {C, h->log2m, 0, -1, 0};
		double		m = (double) ((size_t) 1 << h->log2m);

		SparseWalk(h, FoldHistEntry, &f);
		if (f.cur >= 0)
			C[f.max] += 1.0;
		C[0] = m - f.touched;
		return ErtlEstimate(C, 64 - h->log2m, m);
	}
	else
	{
		double		m = (double) SP_MAXIDX;
		uint32_t	n = SparseWalk(h, HistEntry, C);

		C[0] = m - n;
		return ErtlEstimate(C, SP_SHIFT, m);
	}
}

typedef struct WriteCtx
{
	uint8_t    *p;
	uint8_t    *regs;			/* when folding into a dense image */
	int			log2m;
} WriteCtx;

static void
WriteEntry(uint32_t e, void *arg)
{
	WriteCtx   *w = arg;

	gc_put_be32(w->p, e);
	w->p += 4;
}

static void
FoldEntry(uint32_t e, void *arg)
{
	WriteCtx   *w = arg;

	DenseFold(w->regs, w->log2m, e);
}

size_t
gc_hll_serialized_size(const gc_hll *h)
{
	uint32_t	n;

	if (h->dense)
		return gc_hll_dense_size(h->log2m);
	n = SparseWalk(h, NULL, NULL);
	if (n > gc_hll_sparse_limit(h->log2m))
		return gc_hll_dense_size(h->log2m);
	return GC_HLL_HEADER_SIZE + (size_t) n * 4;
}

static void
PackDense(const uint8_t *regs, int log2m, uint8_t *out)
{
	size_t		m = (size_t) 1 << log2m;

	for (size_t i = 0; i < m; i += 4)
	{
		uint32_t	v = ((uint32_t) regs[i] << 18) | ((uint32_t) regs[i + 1] << 12) |
			((uint32_t) regs[i + 2] << 6) | regs[i + 3];

		out[0] = (uint8_t) (v >> 16);
		out[1] = (uint8_t) (v >> 8);
		out[2] = (uint8_t) v;
		out += 3;
	}
}

int
gc_hll_serialize(const gc_hll *h, uint8_t *out)
{
	uint32_t	n = h->dense ? 0 : SparseWalk(h, NULL, NULL);
	int			dense = h->dense || n > gc_hll_sparse_limit(h->log2m);

	out[0] = GC_HLL_VERSION;
	out[1] = dense ? GC_HLL_FORMAT_DENSE : GC_HLL_FORMAT_SPARSE;
	out[2] = (uint8_t) h->log2m;
	out[3] = GC_HLL_HASH_ID;
	gc_put_be32(out + 4, dense ? 0 : n);
	if (h->dense)
		PackDense(h->regs, h->log2m, out + GC_HLL_HEADER_SIZE);
	else if (dense)
	{
		/*
		 * More unique entries than the limit, part of them still buffered:
		 * write the dense image the sketch is about to become (canonical form).
		 */
		size_t		m = (size_t) 1 << h->log2m;
		uint8_t    *regs = h->alloc->alloc(h->alloc->ctx, m);
		WriteCtx	w = {NULL, regs, h->log2m};

		if (regs == NULL)
			return GC_ENOMEM;
		memset(regs, 0, m);
		SparseWalk(h, FoldEntry, &w);
		PackDense(regs, h->log2m, out + GC_HLL_HEADER_SIZE);
		h->alloc->dealloc(h->alloc->ctx, regs);
	}
	else
	{
		WriteCtx	w = {out + GC_HLL_HEADER_SIZE, NULL, h->log2m};

		SparseWalk(h, WriteEntry, &w);
	}
	return GC_OK;
}

int
gc_hll_deserialize(gc_hll *h, const uint8_t *buf, size_t len,
				   const GcAlloc *alloc, char *errbuf, size_t errlen)
{
	int			log2m;
	uint32_t	n;

	memset(h, 0, sizeof(*h));
	if (len < GC_HLL_HEADER_SIZE)
		return gc_format_error(errbuf, errlen, "The value has %ld bytes, fewer than the %ld-byte header.",
					(long) len, (long) GC_HLL_HEADER_SIZE);
	if (buf[0] != GC_HLL_VERSION)
		return gc_format_error(errbuf, errlen, "Format version %ld is not supported (this build reads version %ld).",
					(long) buf[0], (long) GC_HLL_VERSION);
	log2m = buf[2];
	if (log2m < GC_HLL_MIN_LOG2M || log2m > GC_HLL_MAX_LOG2M)
		return gc_format_error(errbuf, errlen, "log2m %ld is outside the range %ld to %ld.",
					(long) log2m, (long) GC_HLL_MIN_LOG2M, (long) GC_HLL_MAX_LOG2M);
	if (buf[3] != GC_HLL_HASH_ID)
		return gc_format_error(errbuf, errlen, "Hash scheme %ld is not supported (expected %ld).",
					(long) buf[3], (long) GC_HLL_HASH_ID);
	n = gc_get_be32(buf + 4);
	if (buf[1] == GC_HLL_FORMAT_SPARSE)
	{
		uint32_t	prev = 0;

		if (n > gc_hll_sparse_limit(log2m))
			return gc_format_error(errbuf, errlen, "A sparse sketch has %ld entries, more than the limit %ld for its log2m.",
						(long) n, (long) gc_hll_sparse_limit(log2m));
		if (len != GC_HLL_HEADER_SIZE + (size_t) n * 4)
			return gc_format_error(errbuf, errlen, "A sparse sketch with %ld entries must have %ld bytes.",
						(long) n, (long) (GC_HLL_HEADER_SIZE + (size_t) n * 4));
		for (uint32_t i = 0; i < n; i++)
		{
			uint32_t	e = gc_get_be32(buf + GC_HLL_HEADER_SIZE + 4 * (size_t) i);
			uint32_t	r = e & 63;

			if ((e >> 6) >= SP_MAXIDX || r < 1 || r > SP_MAXRANK)
				return gc_format_error(errbuf, errlen, "Sparse entry %ld is out of range (value %ld).",
							(long) i, (long) e);
			if (i > 0 && (e >> 6) <= (prev >> 6))
				return gc_format_error(errbuf, errlen, "Sparse entries are not strictly increasing at entry %ld.",
							(long) i);
			prev = e;
		}
		if (gc_hll_init(h, log2m, alloc) != GC_OK)
			return GC_EINVAL;
		if (n > 0)
		{
			h->sparse = alloc->alloc(alloc->ctx, (size_t) n * sizeof(uint32_t));
			if (h->sparse == NULL)
				return GC_ENOMEM;
			for (uint32_t i = 0; i < n; i++)
				h->sparse[i] = gc_get_be32(buf + GC_HLL_HEADER_SIZE + 4 * (size_t) i);
			h->nsparse = h->sparse_cap = n;
		}
		return GC_OK;
	}
	else if (buf[1] == GC_HLL_FORMAT_DENSE)
	{
		size_t		m = (size_t) 1 << log2m;
		const uint8_t *p = buf + GC_HLL_HEADER_SIZE;
		uint8_t		maxr = (uint8_t) (65 - log2m);

		if (n != 0)
			return gc_format_error(errbuf, errlen, "A dense sketch must have a zero entry count, not %ld.", (long) n);
		if (len != gc_hll_dense_size(log2m))
			return gc_format_error(errbuf, errlen, "A dense sketch with log2m %ld must have %ld bytes.",
						(long) log2m, (long) gc_hll_dense_size(log2m));
		if (gc_hll_init(h, log2m, alloc) != GC_OK)
			return GC_EINVAL;
		h->regs = alloc->alloc(alloc->ctx, m);
		if (h->regs == NULL)
			return GC_ENOMEM;
		h->dense = 1;
		for (size_t i = 0; i < m; i += 4, p += 3)
		{
			uint32_t	v = ((uint32_t) p[0] << 16) | ((uint32_t) p[1] << 8) | p[2];

			h->regs[i] = (uint8_t) (v >> 18);
			h->regs[i + 1] = (uint8_t) ((v >> 12) & 63);
			h->regs[i + 2] = (uint8_t) ((v >> 6) & 63);
			h->regs[i + 3] = (uint8_t) (v & 63);
			for (int k = 0; k < 4; k++)
				if (h->regs[i + k] > maxr)
				{
					long		bad = h->regs[i + k];

					gc_hll_free(h);
					return gc_format_error(errbuf, errlen, "Register value %ld exceeds the maximum %ld for its log2m.",
								bad, (long) maxr);
				}
		}
		return GC_OK;
	}
	return gc_format_error(errbuf, errlen, "Representation %ld is unknown (1 sparse, 2 dense expected).", (long) buf[1]);
}
