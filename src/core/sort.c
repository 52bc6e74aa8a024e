/*
 * sort.c — radix sort for the marginals: the fit sorts every column of the training data,
 * and a comparison sort with a function-pointer comparator dominated the set-up time.
 */
#include <string.h>

#include "sort.h"

/* order-preserving map of an IEEE double onto an unsigned integer */
static inline uint64_t
Key(double v)
{
	uint64_t	u;

	memcpy(&u, &v, sizeof(u));
	return (u & 0x8000000000000000ULL) ? ~u : (u | 0x8000000000000000ULL);
}

void
gc_radix_sort(double *vals, uint32_t *idx, size_t n, double *tmpv, uint32_t *tmpi)
{
	double	   *sv = vals,
			   *dv = tmpv;
	uint32_t   *si = idx,
			   *di = tmpi;

	for (int shift = 0; shift < 64; shift += 8)
	{
		size_t		count[257];
		int			trivial = 0;

		memset(count, 0, sizeof(count));
		for (size_t i = 0; i < n; i++)
			count[((Key(sv[i]) >> shift) & 0xff) + 1]++;
		for (int b = 0; b < 256; b++)
			if (count[b + 1] == n)
				trivial = 1;
		if (trivial)
			continue;			/* every key has the same byte here: nothing moves */
		for (int b = 0; b < 256; b++)
			count[b + 1] += count[b];
		for (size_t i = 0; i < n; i++)
		{
			size_t		pos = count[(Key(sv[i]) >> shift) & 0xff]++;

			dv[pos] = sv[i];
			di[pos] = si[i];
		}
		{
			double	   *t = sv;
			uint32_t   *ti = si;

			sv = dv;
			dv = t;
			si = di;
			di = ti;
		}
	}
	if (sv != vals)
	{
		memcpy(vals, sv, sizeof(double) * n);
		memcpy(idx, si, sizeof(uint32_t) * n);
	}
}
