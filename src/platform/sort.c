/*
 * sort.c — radix sort for the marginals: the fit sorts every column of the training data,
 * and a comparison sort with a function-pointer comparator dominated the set-up time.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "platform/rng.h"
#include "platform/sort.h"

/* order-preserving map of an IEEE double onto an unsigned integer */
static inline uint64_t
Key(double v)
{
	uint64_t	u;

	memcpy(&u, &v, sizeof(u));
	return (u & 0x8000000000000000ULL) ? ~u : (u | 0x8000000000000000ULL);
}

/* inverse of Key */
static inline double
Unkey(uint64_t k)
{
	uint64_t	u = (k & 0x8000000000000000ULL) ? (k & ~0x8000000000000000ULL) : ~k;
	double		v;

	memcpy(&v, &u, sizeof(v));
	return v;
}

void
gc_radix_sort(double *vals, uint32_t *idx, size_t n, double *tmpv, uint32_t *tmpi)
{
	/* sort the order-preserving integer images in place of the values, then map back */
	for (size_t i = 0; i < n; i++)
	{
		uint64_t	k = Key(vals[i]);

		memcpy(&vals[i], &k, sizeof(k));
	}
	gc_sort_u64((uint64_t *) vals, idx, n, (uint64_t *) tmpv, tmpi);
	for (size_t i = 0; i < n; i++)
	{
		uint64_t	k;

		memcpy(&k, &vals[i], sizeof(k));
		vals[i] = Unkey(k);
	}
}

/* stable insertion sort of a short run */
static void
InsertionSort(uint64_t *keys, uint32_t *idx, size_t n)
{
	for (size_t a = 1; a < n; a++)
	{
		uint64_t	k = keys[a];
		uint32_t	t = idx[a];
		size_t		b = a;

		while (b > 0 && keys[b - 1] > k)
		{
			keys[b] = keys[b - 1];
			idx[b] = idx[b - 1];
			b--;
		}
		keys[b] = k;
		idx[b] = t;
	}
}

/* buckets of the distribution pass (at most; 128 kB of counts) */
#define SORT_BUCKET_BITS 15
/* runs up to this long are finished by insertion sort, longer ones by radix sort */
#define SORT_RUN_MAX 48

/*
 * One counting pass on the leading bits of key − min, which spreads the keys over about
 * 2n buckets whatever their range, then insertion sort within the (mostly tiny) buckets;
 * a crowded bucket falls back to the LSD radix sort. Every step is stable, so the result
 * is the one stable ascending order, the same as gc_radix_sort_u64's, in about two passes
 * over the data instead of eight.
 */
void
gc_sort_u64(uint64_t *keys, uint32_t *idx, size_t n, uint64_t *tmpk, uint32_t *tmpi)
{
	uint32_t	count[(1 << SORT_BUCKET_BITS) + 1];
	uint64_t	lo,
				hi,
				range;
	int			lb = 0,
				shift,
				crowded = 0;
	size_t		nb;

	if (n <= SORT_RUN_MAX)
	{
		InsertionSort(keys, idx, n);
		return;
	}
	if (n >= UINT32_MAX)
	{
		gc_radix_sort_u64(keys, idx, n, tmpk, tmpi);
		return;
	}
	lo = hi = keys[0];
	for (size_t i = 1; i < n; i++)
	{
		lo = keys[i] < lo ? keys[i] : lo;
		hi = keys[i] > hi ? keys[i] : hi;
	}
	if (lo == hi)
		return;
	range = hi - lo;
	while (lb < SORT_BUCKET_BITS && ((size_t) 1 << lb) < 2 * n)
		lb++;
	/* bucket = (key − lo) >> shift < 2^lb */
	shift = 64 - __builtin_clzll(range) - lb;
	if (shift < 0)
		shift = 0;
	nb = (size_t) (range >> shift) + 1;

	memset(count, 0, sizeof(uint32_t) * (nb + 1));
	for (size_t i = 0; i < n; i++)
		count[((keys[i] - lo) >> shift) + 1]++;
	for (size_t b = 1; b <= nb; b++)
		count[b] += count[b - 1];
	/* count[b] is now where bucket b starts */
	for (size_t i = 0; i < n; i++)
	{
		size_t		pos = count[(keys[i] - lo) >> shift]++;

		tmpk[pos] = keys[i];
		tmpi[pos] = idx[i];
	}

	/*
	 * Every key is now within its bucket, so one insertion sort over the whole array
	 * moves each only within its bucket: about n steps when the buckets are small. A
	 * crowded bucket (many keys within a short range) would make that quadratic; then the
	 * buckets are finished one by one, the crowded ones by radix sort (keys and idx serve
	 * as its scratch). count[b] is where bucket b ends.
	 */
	for (size_t b = 0, start = 0; b < nb; b++)
	{
		crowded |= (count[b] - start > SORT_RUN_MAX);
		start = count[b];
	}
	if (!crowded)
		InsertionSort(tmpk, tmpi, n);
	else
		for (size_t b = 0, start = 0; b < nb; b++)
		{
			size_t		end = count[b],
						len = end - start;

			if (len > SORT_RUN_MAX)
			{
				/* a bucket of one repeated value (an ordinal level) is already in order */
				uint64_t	k0 = tmpk[start],
							diff = 0;

				for (size_t i = start + 1; i < end; i++)
					diff |= tmpk[i] ^ k0;
				if (diff != 0)
					gc_radix_sort_u64(tmpk + start, tmpi + start, len, keys + start, idx + start);
			}
			else if (len > 1)
				InsertionSort(tmpk + start, tmpi + start, len);
			start = end;
		}
	memcpy(keys, tmpk, sizeof(uint64_t) * n);
	memcpy(idx, tmpi, sizeof(uint32_t) * n);
}

void
gc_radix_sort_u64(uint64_t *keys, uint32_t *idx, size_t n, uint64_t *tmpk, uint32_t *tmpi)
{
	uint64_t   *sk = keys,
			   *dk = tmpk;
	uint32_t   *si = idx,
			   *di = tmpi;
	size_t		count[8][256];

	/* the histograms of all eight digits in one read of the keys */
	memset(count, 0, sizeof(count));
	for (size_t i = 0; i < n; i++)
	{
		uint64_t	k = sk[i];

		for (int d = 0; d < 8; d++)
			count[d][(k >> (8 * d)) & 0xff]++;
	}
	for (int d = 0; d < 8; d++)
	{
		int			shift = 8 * d;
		size_t		sum = 0;
		int			trivial = 0;

		/* a digit that all keys share leaves the order as it is */
		for (int b = 0; b < 256; b++)
			if (count[d][b] == n)
				trivial = 1;
		if (trivial)
			continue;
		for (int b = 0; b < 256; b++)
		{
			size_t		c = count[d][b];

			count[d][b] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
		{
			size_t		pos = count[d][(sk[i] >> shift) & 0xff]++;

			dk[pos] = sk[i];
			di[pos] = si[i];
		}
		{
			uint64_t   *t = sk;
			uint32_t   *ti = si;

			sk = dk;
			dk = t;
			si = di;
			di = ti;
		}
	}
	if (sk != keys)
	{
		memcpy(keys, sk, sizeof(uint64_t) * n);
		memcpy(idx, si, sizeof(uint32_t) * n);
	}
}

static uint64_t
RowHash(const double *row, int p)
{
	uint64_t	h = 0x243f6a8885a308d3ULL;

	for (int j = 0; j < p; j++)
	{
		uint64_t	u;
		double		v = isnan(row[j]) ? NAN : row[j];

		if (v == 0)
			v = 0;				/* -0 and +0 are the same value */
		memcpy(&u, &v, sizeof(u));
		h = gc_mix64(h ^ u);
	}
	return h;
}

static int
CmpRowValues(const double *x, const double *y, int p)
{
	for (int j = 0; j < p; j++)
	{
		double		u = x[j],
					v = y[j];

		if (isnan(u) || isnan(v))
		{
			if (isnan(u) && isnan(v))
				continue;
			return isnan(u) ? 1 : -1;
		}
		if (u != v)
			return u < v ? -1 : 1;
	}
	return 0;
}

int
gc_canonical_order(const double *X, size_t n, int p, uint32_t *perm, const GcAlloc *alloc)
{
	size_t		n1 = n ? n : 1;
	uint64_t   *keys = alloc->alloc(alloc->ctx, sizeof(uint64_t) * n1);
	uint64_t   *tmpk = alloc->alloc(alloc->ctx, sizeof(uint64_t) * n1);
	uint32_t   *tmpi = alloc->alloc(alloc->ctx, sizeof(uint32_t) * n1);

	if (!keys || !tmpk || !tmpi)
	{
		if (keys)
			alloc->dealloc(alloc->ctx, keys);
		if (tmpk)
			alloc->dealloc(alloc->ctx, tmpk);
		if (tmpi)
			alloc->dealloc(alloc->ctx, tmpi);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
	{
		keys[i] = RowHash(X + i * p, p);
		perm[i] = (uint32_t) i;
	}
	gc_sort_u64(keys, perm, n, tmpk, tmpi);

	/* equal hashes: identical rows (order irrelevant) or a collision, ordered by value */
	for (size_t i = 0; i + 1 < n;)
	{
		size_t		e = i + 1;

		while (e < n && keys[e] == keys[i])
			e++;
		for (size_t a = i + 1; a < e; a++)	/* insertion sort: runs are tiny */
		{
			uint32_t	t = perm[a];
			size_t		b = a;

			while (b > i && CmpRowValues(X + (size_t) perm[b - 1] * p, X + (size_t) t * p, p) > 0)
			{
				perm[b] = perm[b - 1];
				b--;
			}
			perm[b] = t;
		}
		i = e;
	}
	alloc->dealloc(alloc->ctx, keys);
	alloc->dealloc(alloc->ctx, tmpk);
	alloc->dealloc(alloc->ctx, tmpi);
	return 0;
}

static int
CmpDouble(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

void
gc_sort_doubles(double *x, size_t n)
{
	qsort(x, n, sizeof(double), CmpDouble);
}
