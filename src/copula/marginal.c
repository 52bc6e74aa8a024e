/*
 * marginal.c — variable types, ECDF knots and the observed ↔ latent maps
 * (docs/algorithms.md §1–§3; the truncated marginal uses the count of
 * non-truncated observations, fixing the reference's m).
 */
#include <math.h>
#include <string.h>

#include "copula/marginal.h"
#include "copula/normal.h"

static const char *const vartype_names[] = {
	"continuous", "ordinal", "binary", "lower_truncated", "upper_truncated",
	"twosided_truncated", "constant", "auto"
};

const char *
gc_vartype_name(int type)
{
	if (type < 0 || type > GC_AUTO)
		return "invalid";
	return vartype_names[type];
}

int
gc_vartype_from_name(const char *name)
{
	for (int i = 0; i <= GC_AUTO; i++)
		if (strcmp(name, vartype_names[i]) == 0)
			return i;
	return -1;
}

static inline int
Max2(int a, int b)
{
	return a > b ? a : b;
}

static inline int
IsLowerType(int t)
{
	return t == GC_LOWER_TRUNCATED || t == GC_TWOSIDED_TRUNCATED;
}

static inline int
IsUpperType(int t)
{
	return t == GC_UPPER_TRUNCATED || t == GC_TWOSIDED_TRUNCATED;
}

/* np.isclose(a, b) with its default tolerances */
static inline int
IsClose(double a, double b)
{
	return fabs(a - b) <= 1e-8 + 1e-5 * fabs(b);
}

/*
 * The two halves of the observed → latent map of a truncated column (docs/algorithms.md §3), shared by
 * the stored marginal and the online sketches. qlo/qhi are the shares of the observations
 * at the lower/upper truncation point (0 where that side is not truncated).
 *
 * gc_truncated_tail: x at a truncation point (np.isclose) is the interval below Φ⁻¹(qlo)
 * or above Φ⁻¹(1 − qhi); returns 1 and sets lo/hi then, else 0.
 */
int
gc_truncated_tail(double x, double xmin, double xmax, double qlo, double qhi,
				  int lower, int upper, double *lo, double *hi)
{
	if (lower && (x <= xmin || IsClose(x, xmin)))
	{
		*lo = -HUGE_VAL;
		*hi = gc_norm_ppf(qlo);
		return 1;
	}
	if (upper && (x >= xmax || IsClose(x, xmax)))
	{
		*lo = gc_norm_ppf(1 - qhi);
		*hi = HUGE_VAL;
		return 1;
	}
	return 0;
}

/*
 * gc_truncated_quantile: the latent quantile of an interior x from count_le = #obs ≤ x:
 * the ECDF of the untruncated part, scaled by nt/(nt + 1) and placed between the two
 * truncation masses.
 */
double
gc_truncated_quantile(double count_le, double n, double qlo, double qhi)
{
	double		nt = n - qlo * n - qhi * n;
	double		fnt;

	if (!(nt > 0))
		return qlo;				/* every observation at a truncation point */
	fnt = fmin(fmax((count_le - qlo * n) / nt, 0), 1);
	if (fnt <= 0)
		return qlo + (1 - qlo - qhi) / (2 * (nt + 1));
	return qlo + (1 - qlo - qhi) * fnt * (nt / (nt + 1));
}

size_t
gc_count_distinct(const double *sorted, size_t n)
{
	size_t		d = n > 0 ? 1 : 0;

	for (size_t i = 1; i < n; i++)
		if (sorted[i] != sorted[i - 1])
			d++;
	return d;
}

/*
 * docs/algorithms.md §1: a column is ordinal-like when its mode holds at least min_ord_ratio of the
 * observations; it is truncated when an extreme level is such a mode and the remaining
 * values look continuous (no level with that share among them).
 */
int
gc_detect_type(const double *sorted, size_t n, double min_ord_ratio)
{
	double		c_first = 0,
				c_last = 0,
				max_mid = 0,
				max_all = 0,
				run = 0;
	size_t		nlev = 0;
	double		dn = (double) n;
	int			is_lower,
				is_upper,
				is_two;

	for (size_t i = 0; i < n; i++)
	{
		run++;
		if (i + 1 == n || sorted[i + 1] != sorted[i])
		{
			if (nlev == 0)
				c_first = run;
			else if (nlev >= 2 && c_last > max_mid)
				max_mid = c_last;	/* the previous level was a middle one */
			c_last = run;
			if (run > max_all)
				max_all = run;
			nlev++;
			run = 0;
		}
	}
	if (nlev <= 1)
		return GC_CONSTANT;
	if (max_all / dn < min_ord_ratio)
		return GC_CONTINUOUS;

	/* is_cont(counts) := non-empty and max/sum < ratio */
	is_lower = c_first / dn >= min_ord_ratio &&
		(fmax(max_mid, c_last) / (dn - c_first) < min_ord_ratio);
	is_upper = c_last / dn >= min_ord_ratio &&
		(fmax(max_mid, c_first) / (dn - c_last) < min_ord_ratio);
	is_two = nlev > 2 && c_first / dn >= min_ord_ratio && c_last / dn >= min_ord_ratio &&
		(max_mid / (dn - c_first - c_last) < min_ord_ratio);
	if (is_lower)
		return GC_LOWER_TRUNCATED;
	if (is_upper)
		return GC_UPPER_TRUNCATED;
	if (is_two)
		return GC_TWOSIDED_TRUNCATED;
	return nlev == 2 ? GC_BINARY : GC_ORDINAL;
}

/*
 * Knots: every distinct value when there are at most max_knots of them. Otherwise the
 * extremes, every heavy atom (mass above n/(max_knots/4), at most max_knots/4 of them)
 * and the values where the cumulative count crosses an even grid of ranks that uses the
 * rest of the budget.
 */
int
gc_build_knots(const double *sorted, size_t n, int max_knots,
			   double *x, double *cum, double *mult, int *exact)
{
	size_t		d = gc_count_distinct(sorted, n);
	int			k = 0;
	double		heavy = (double) n / (max_knots / 4);
	double		step,
				next_grid,
				run = 0;
	int			nheavy = 0;

	*exact = (d <= (size_t) max_knots);
	if (!*exact)
	{
		/* the grid gets the budget left after the extremes and the heavy atoms */
		for (size_t i = 0; i < n; i++)
		{
			run++;
			if (i + 1 < n && sorted[i + 1] == sorted[i])
				continue;
			if (run >= heavy)
				nheavy++;
			run = 0;
		}
	}
	step = (double) n / Max2(max_knots - 2 - nheavy, 1);
	next_grid = step;
	run = 0;
	for (size_t i = 0; i < n; i++)
	{
		int			first,
					last;

		run++;
		if (i + 1 < n && sorted[i + 1] == sorted[i])
			continue;
		first = (k == 0);
		last = (i + 1 == n);
		if (*exact || first || last || run >= heavy || (double) (i + 1) >= next_grid)
		{
			if (k == max_knots - 1 && !last)
			{
				/* keep the last slot for the maximum */
				run = 0;
				continue;
			}
			x[k] = sorted[i];
			cum[k] = (double) (i + 1);
			mult[k] = run;
			k++;
			while (next_grid <= (double) (i + 1))
				next_grid += step;
		}
		run = 0;
	}
	return k;
}

void
gc_marginal_prepare(GcMarginal *m)
{
	double		g = HUGE_VAL;

	for (int k = 1; k < m->nknots; k++)
		if (m->x[k] - m->x[k - 1] < g)
			g = m->x[k] - m->x[k - 1];
	m->halfgap = isfinite(g) ? g / 2 : 0.5;
}

const char *
gc_marginal_check(const GcMarginal *m)
{
	int			K = m->nknots;

	if (m->type < 0 || m->type >= GC_NUM_VARTYPES)
		return "unknown variable type";
	if (K < 1)
		return "a marginal needs at least one knot";
	if (!(m->n > 0) || !isfinite(m->n))
		return "the observation count must be positive";
	for (int k = 0; k < K; k++)
	{
		double		prev = k > 0 ? m->cum[k - 1] : 0;

		if (!isfinite(m->x[k]) || !isfinite(m->cum[k]) || !isfinite(m->mult[k]))
			return "knots must be finite";
		if (k > 0 && !(m->x[k] > m->x[k - 1]))
			return "knot values must be strictly ascending";
		if (!(m->mult[k] > 0))
			return "knot multiplicities must be positive";
		if (m->cum[k] - prev < m->mult[k] * (1 - 1e-12))
			return "cumulative counts must grow by at least each knot's multiplicity";
		if (m->exact && fabs(m->cum[k] - prev - m->mult[k]) > 1e-9 * m->n)
			return "an exact marginal's cumulative counts must grow by exactly each multiplicity";
	}
	if (fabs(m->cum[K - 1] - m->n) > 1e-9 * m->n)
		return "the last cumulative count must equal the observation count";
	if (m->type == GC_CONSTANT && K != 1)
		return "a constant column has exactly one knot";
	if (m->type != GC_CONSTANT && K < 2)
		return "a non-constant column needs at least two knots";
	if (m->type == GC_BINARY && K != 2)
		return "a binary column has exactly two knots";
	if ((IsLowerType(m->type) || IsUpperType(m->type)) &&
		m->n - (IsLowerType(m->type) ? m->mult[0] : 0) -
		(IsUpperType(m->type) ? m->mult[K - 1] : 0) <= 0)
		return "a truncated column needs observations away from its truncation points";
	return NULL;
}

/*
 * lo + #{k in [lo, lo+len) : a[k] <= v} for ascending a; branch-free halving, since this
 * is the innermost step of every observed → latent transform
 */
static inline int
CountUpTo(const double *a, int lo, int len, double v)
{
	const double *b = a + lo;

	if (len == 0)
		return lo;
	while (len > 1)
	{
		int			half = len / 2;

		b += (b[half] <= v) ? half : 0;
		len -= half;
	}
	return (int) (b - a) + (*b <= v);
}

/* the same over the values and over the cumulative counts of packed knots */
static inline int
KnotsUpToX(const GcKnot *kn, int lo, int len, double v)
{
	const GcKnot *b = kn + lo;

	if (len == 0)
		return lo;
	while (len > 1)
	{
		int			half = len / 2;

		b += (b[half].x <= v) ? half : 0;
		len -= half;
	}
	return (int) (b - kn) + (b->x <= v);
}

static inline int
KnotsUpToCum(const GcKnot *kn, int lo, int len, double v)
{
	const GcKnot *b = kn + lo;

	if (len == 0)
		return lo;
	while (len > 1)
	{
		int			half = len / 2;

		b += (b[half].cum <= v) ? half : 0;
		len -= half;
	}
	return (int) (b - kn) + (b->cum <= v);
}

void
gc_marginal_index_build(GcMarginalIndex *ix, const GcMarginal *m, int32_t *start, GcKnot *kn)
{
	int			K = m->nknots;

	gc_search_index_build(&ix->xs, m->x, K, K, start);
	gc_search_index_build(&ix->cs, m->cum, K, K, start + K + 1);
	ix->kn = kn;
	if (kn != NULL)
		for (int k = 0; k < K; k++)
		{
			kn[k].x = m->x[k];
			kn[k].cum = m->cum[k];
			kn[k].below = m->cum[k] - m->mult[k];
		}
}

void
gc_search_index_build(GcSearchIndex *ix, const double *a, int n, int nb, int32_t *start)
{
	double		range = n > 0 ? a[n - 1] - a[0] : 0;

	ix->nb = 0;
	ix->start = start;
	if (n < 8 || nb < 2 || !(range > 0) || !isfinite(range) || !isfinite(nb / range))
		return;
	ix->nb = nb;
	ix->base = a[0];
	ix->scale = nb / range;
	memset(start, 0, sizeof(int32_t) * (nb + 1));
	for (int k = 0; k < n; k++)
		start[gc_search_bucket(ix, a[k]) + 1]++;
	for (int b = 0; b < nb; b++)
		start[b + 1] += start[b];
}

/* #{k : a[k] <= v}, i.e. the index of the first element above v */
static inline int
UpperBoundIx(const double *a, int n, const GcSearchIndex *ix, double v)
{
	int			b;

	if (ix == NULL || ix->nb == 0)
		return CountUpTo(a, 0, n, v);
	b = gc_search_bucket(ix, v);
	return CountUpTo(a, ix->start[b], ix->start[b + 1] - ix->start[b], v);
}

/* #obs ≤ v: exact at knots, linear in the gaps of a compressed marginal */
static double
CountLE(const GcMarginal *m, const GcMarginalIndex *ix, double v)
{
	int			k;
	double		below;

	if (ix != NULL && ix->kn != NULL && ix->xs.nb > 0)
	{
		/* the same, from the packed knots: fewer cache lines per lookup */
		const GcKnot *kn = ix->kn;
		int			b = gc_search_bucket(&ix->xs, v);

		k = KnotsUpToX(kn, ix->xs.start[b], ix->xs.start[b + 1] - ix->xs.start[b], v) - 1;
		if (k < 0)
			return 0;
		if (k == m->nknots - 1 || v == kn[k].x)
			return kn[k].cum;
		return kn[k].cum + (kn[k + 1].below - kn[k].cum) * (v - kn[k].x) / (kn[k + 1].x - kn[k].x);
	}
	k = UpperBoundIx(m->x, m->nknots, ix ? &ix->xs : NULL, v) - 1;
	if (k < 0)
		return 0;
	if (k == m->nknots - 1 || v == m->x[k])
		return m->cum[k];
	below = m->cum[k + 1] - m->mult[k + 1];
	return m->cum[k] + (below - m->cum[k]) * (v - m->x[k]) / (m->x[k + 1] - m->x[k]);
}

double
gc_marginal_ecdf(const GcMarginal *m, double x)
{
	return CountLE(m, NULL, x) / m->n;
}

/* order statistic at integer rank r (0-based), interpolated in compressed gaps */
static double
OrderStatInt(const GcMarginal *m, const GcMarginalIndex *ix, double r)
{
	int			lo;
	double		gap_lo,
				gap_hi;

	if (r <= 0)
		return m->x[0];
	if (ix != NULL && ix->kn != NULL && ix->cs.nb > 0)
	{
		const GcKnot *kn = ix->kn;
		int			b = gc_search_bucket(&ix->cs, r);

		lo = KnotsUpToCum(kn, ix->cs.start[b], ix->cs.start[b + 1] - ix->cs.start[b], r);
		if (lo > m->nknots - 1)
			lo = m->nknots - 1;
		if (r >= kn[lo].below || lo == 0)
			return kn[lo].x;
		gap_lo = kn[lo - 1].cum;
		gap_hi = kn[lo].below;
		return kn[lo - 1].x + (kn[lo].x - kn[lo - 1].x) * (r - gap_lo + 1) / (gap_hi - gap_lo + 1);
	}
	/* first k with cum[k] > r (the last knot's cum is n > r) */
	lo = UpperBoundIx(m->cum, m->nknots, ix ? &ix->cs : NULL, r);
	if (lo > m->nknots - 1)
		lo = m->nknots - 1;
	if (r >= m->cum[lo] - m->mult[lo] || lo == 0)
		return m->x[lo];
	/* r falls in the unrepresented gap between knots lo-1 and lo */
	gap_lo = m->cum[lo - 1];
	gap_hi = m->cum[lo] - m->mult[lo];
	return m->x[lo - 1] + (m->x[lo] - m->x[lo - 1]) * (r - gap_lo + 1) / (gap_hi - gap_lo + 1);
}

/* numpy's lerp, bit for bit (numpy/lib/function_base.py _lerp) */
static inline double
Lerp(double a, double b, double t)
{
	double		d = b - a;

	return t >= 0.5 ? b - d * (1 - t) : a + d * t;
}

static double
OrderStat(const GcMarginal *m, const GcMarginalIndex *ix, double r)
{
	double		i = floor(r);
	double		t = r - i;
	double		a = OrderStatInt(m, ix, i);

	if (t == 0)
		return a;
	return Lerp(a, OrderStatInt(m, ix, i + 1), t);
}

double
gc_marginal_order_stat(const GcMarginal *m, double r)
{
	return OrderStat(m, NULL, r);
}

/* the level within half a gap of x (or the next one above), clipped to range */
static inline int
LevelIx(const GcMarginal *m, const GcSearchIndex *xs, double x)
{
	int			K = m->nknots;
	double		v = fmin(fmax(x, m->x[0]), m->x[K - 1]);
	int			k = UpperBoundIx(m->x, K, xs, v - m->halfgap);

	return k >= K ? K - 1 : k;
}

int
gc_marginal_level(const GcMarginal *m, double x)
{
	return LevelIx(m, NULL, x);
}

int
gc_marginal_to_latent(const GcMarginal *m, double x, double *lo, double *hi)
{
	return gc_marginal_to_latent_ix(m, NULL, x, lo, hi);
}

int
gc_marginal_to_latent_ix(const GcMarginal *m, const GcMarginalIndex *ix,
						 double x, double *lo, double *hi)
{
	const GcSearchIndex *xs = ix ? &ix->xs : NULL;

	int			K = m->nknots;
	double		n = m->n;

	switch (m->type)
	{
		case GC_CONTINUOUS:
			{
				double		q = CountLE(m, ix, x) / n * (n / (n + 1));

				if (q <= 0)
					q = 1.0 / (2 * (n + 1));
				*lo = *hi = gc_norm_ppf(q);
				return 0;
			}
		case GC_ORDINAL:
		case GC_BINARY:
			{
				int			k = LevelIx(m, xs, x);

				*lo = k > 0 ? gc_norm_ppf(m->cum[k - 1] / n) : -HUGE_VAL;
				*hi = k < K - 1 ? gc_norm_ppf(m->cum[k] / n) : HUGE_VAL;
				return 1;
			}
		case GC_LOWER_TRUNCATED:
		case GC_UPPER_TRUNCATED:
		case GC_TWOSIDED_TRUNCATED:
			{
				int			lower = IsLowerType(m->type),
							upper = IsUpperType(m->type);
				double		qlo = lower ? m->mult[0] / n : 0;
				double		qhi = upper ? m->mult[K - 1] / n : 0;

				if (gc_truncated_tail(x, m->x[0], m->x[K - 1], qlo, qhi, lower, upper, lo, hi))
					return 1;
				*lo = *hi = gc_norm_ppf(gc_truncated_quantile(CountLE(m, ix, x), n, qlo, qhi));
				return 0;
			}
		default:
			*lo = *hi = 0;
			return 0;
	}
}

double
gc_marginal_from_latent(const GcMarginal *m, double z)
{
	return gc_marginal_from_latent_ix(m, NULL, z);
}

double
gc_marginal_from_latent_ix(const GcMarginal *m, const GcMarginalIndex *ix, double z)
{
	const GcSearchIndex *cs = ix ? &ix->cs : NULL;
	int			K = m->nknots;
	double		n = m->n;
	double		q = gc_norm_cdf(z);

	switch (m->type)
	{
		case GC_CONTINUOUS:
			return OrderStat(m, ix, (n - 1) * q);
		case GC_ORDINAL:
		case GC_BINARY:
			{
				/* inverse_ecdf: idx = ceil(round((n+1)q - 1, 3)), clipped; the level holding it */
				double		idx = ceil(rint(((n + 1) * q - 1) * 1000.0) / 1000.0);
				int			lo;

				idx = fmin(fmax(idx, 0), n - 1);
				lo = UpperBoundIx(m->cum, K, cs, idx);
				return m->x[lo < K - 1 ? lo : K - 1];
			}
		case GC_LOWER_TRUNCATED:
		case GC_UPPER_TRUNCATED:
		case GC_TWOSIDED_TRUNCATED:
			{
				int			lower = IsLowerType(m->type),
							upper = IsUpperType(m->type);
				double		qlo = lower ? m->mult[0] / n : 0;
				double		qhi = upper ? m->mult[K - 1] / n : 0;
				double		nt = n - qlo * n - qhi * n;
				double		qq;

				if (lower && q <= qlo + 1e-6)
					return m->x[0];
				if (upper && q >= 1 - qhi - 1e-6)
					return m->x[K - 1];
				qq = fmin(fmax((q - qlo) / (1 - qlo - qhi), 0), 1);
				return OrderStat(m, ix, (lower ? m->mult[0] : 0) + (nt - 1) * qq);
			}
		case GC_CONSTANT:
		default:
			return m->x[0];
	}
}
