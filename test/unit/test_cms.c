/*
 * test_cms.c — unit tests of the Count-Min core: dimensions, the Cormode &
 * Muthukrishnan guarantee on a skewed stream, exact inverse (sliding windows),
 * union as sum, heavy-hitter candidates, serialization and its validation.
 */
#include <stdlib.h>
#include <string.h>

#include "sketch/cms.h"
#include "unit.h"

#define A gc_malloc_alloc

static uint64_t
Next(uint64_t *s)
{
	uint64_t	z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t
KeyHash(uint32_t key)
{
	return gc_sketch_mix64((uint64_t) key * 2 + 1);
}

/* Add one occurrence of key with candidate bookkeeping, as the glue does. */
static void
Add(gc_cms *c, uint32_t key)
{
	uint64_t	h = KeyHash(key);
	int64_t		est = gc_cms_update(c, h, 1);

	if (gc_cms_candidate_offer(c, h, est) == GC_CMS_CAND_NEEDKEY)
	{
		char		buf[16];
		int			n = snprintf(buf, sizeof(buf), "%u", key);

		gc_cms_candidate_insert(c, h, est, buf, (size_t) n);
	}
}

static int
SameBytes(const gc_cms *a, const gc_cms *b, int counters_only)
{
	size_t		na = gc_cms_serialized_size(a),
				nb = gc_cms_serialized_size(b);
	uint8_t    *x = malloc(na),
			   *y = malloc(nb);
	size_t		cmp = GC_CMS_HEADER_SIZE + (size_t) a->width * a->depth * 8;
	int			same;

	gc_cms_serialize(a, x);
	gc_cms_serialize(b, y);
	if (counters_only)
		same = na >= cmp && nb >= cmp && memcmp(x, y, 44) == 0 &&
			memcmp(x + 48, y + 48, cmp - 48) == 0;
	else
		same = na == nb && memcmp(x, y, na) == 0;
	free(x);
	free(y);
	return same;
}

int
main(void)
{
	uint32_t	w,
				d;
	gc_cms		c,
				a,
				b,
				r;
	enum
	{
	NKEYS = 20000, NITEMS = 200000};
	static int64_t truth[NKEYS];
	uint64_t	seed = 42;
	int			under = 0,
				over = 0;
	char		err[256];

	gc_simd_init();
	CHECK(gc_cms_dims(0.01, 0.01, &w, &d) == GC_OK && w == 272 && d == 5,
		  "eps 0.01 delta 0.01 -> 272 x 5 (got %u x %u)", w, d);
	CHECK(gc_cms_dims(0.001, 0.01, &w, &d) == GC_OK && w == 2719 && d == 5,
		  "eps 0.001 delta 0.01 -> 2719 x 5 (got %u x %u)", w, d);
	CHECK(gc_cms_dims(0.001, 0.001, &w, &d) == GC_OK && w == 2719 && d == 7,
		  "eps 0.001 delta 0.001 -> 2719 x 7 (got %u x %u)", w, d);
	CHECK(gc_cms_dims(0, 0.1, &w, &d) == GC_EINVAL, "eps 0 refused");
	CHECK(gc_cms_dims(0.1, 1, &w, &d) == GC_EINVAL, "delta 1 refused");
	CHECK(gc_cms_dims(1e-9, 0.1, &w, &d) == GC_EINVAL, "too many counters refused");

	/* a skewed stream: key = floor(u^3 * NKEYS) concentrates on small keys */
	gc_cms_init(&c, 0.002, 0.01, 16, 23, &A);
	gc_cms_init(&a, 0.002, 0.01, 16, 23, &A);
	gc_cms_init(&b, 0.002, 0.01, 16, 23, &A);
	memset(truth, 0, sizeof(truth));
	for (int i = 0; i < NITEMS; i++)
	{
		double		u = (Next(&seed) >> 11) * (1.0 / 9007199254740992.0);
		uint32_t	key = (uint32_t) (u * u * u * NKEYS);

		truth[key]++;
		Add(&c, key);
		Add(i % 2 ? &a : &b, key);
	}
	CHECK(c.total == NITEMS, "total count %lld", (long long) c.total);
	for (uint32_t k = 0; k < NKEYS; k++)
	{
		int64_t		e = gc_cms_estimate(&c, KeyHash(k));

		if (e < truth[k])
			under++;
		if (e - truth[k] > 0.002 * NITEMS)
			over++;
	}
	CHECK(under == 0, "never underestimates (%d keys below truth)", under);
	CHECK(over <= 0.01 * NKEYS, "overestimates by more than eps*N on %d of %d keys (allowed %d)",
		  over, NKEYS, (int) (0.01 * NKEYS));

	/* heavy hitters: key 0 is by far the most frequent, then 1, 2 */
	{
		uint32_t	order[16];
		int64_t		est[16];

		gc_cms_rank_candidates(&c, order, est);
		CHECK(c.ncand == 16, "16 candidates kept");
		CHECK(c.cand[order[0]].len == 1 && c.cand[order[0]].key[0] == '0' && est[0] >= truth[0],
			  "top candidate is key 0 (est %lld, truth %lld)", (long long) est[0], (long long) truth[0]);
		CHECK(c.cand[order[1]].len == 1 && c.cand[order[1]].key[0] == '1' && c.cand[order[2]].len == 1 && c.cand[order[2]].key[0] == '2',
			  "then keys 1 and 2");
	}

	/* union is the element-wise sum: same counters as the sketch of the union */
	CHECK(gc_cms_merge(&a, &b) == GC_OK, "merge of equal parameters");
	CHECK(SameBytes(&a, &c, 1), "union counters equal the sketch of the union");
	{
		uint32_t	oa[16],
					oc[16];
		int64_t		ea[16],
					ec[16];

		gc_cms_rank_candidates(&a, oa, ea);
		gc_cms_rank_candidates(&c, oc, ec);
		CHECK(ea[0] == ec[0] && a.cand[oa[0]].hash == c.cand[oc[0]].hash, "union keeps the top candidate");
	}

	/* exact inverse: removing b's items from the union gives a's counters back */
	{
		gc_cms		a2;
		uint64_t	s2 = 42;

		gc_cms_init(&a2, 0.002, 0.01, 16, 23, &A);
		for (int i = 0; i < NITEMS; i++)
		{
			double		u = (Next(&s2) >> 11) * (1.0 / 9007199254740992.0);
			uint32_t	key = (uint32_t) (u * u * u * NKEYS);

			if (i % 2)
				Add(&a2, key);
			else
				gc_cms_update(&a, KeyHash(key), -1);
		}
		gc_cms_candidates_refresh(&a);
		CHECK(SameBytes(&a, &a2, 1), "removing every item of b restores a's counters");
		CHECK(a.total == NITEMS / 2, "total after removals");
		gc_cms_free(&a2);
	}

	/* mismatched parameters are refused */
	{
		gc_cms		x;

		gc_cms_init(&x, 0.01, 0.01, 16, 23, &A);
		CHECK(gc_cms_merge(&x, &c) == GC_EINVAL, "width mismatch refused");
		gc_cms_free(&x);
		gc_cms_init(&x, 0.002, 0.01, 16, 20, &A);
		CHECK(gc_cms_merge(&x, &c) == GC_EINVAL, "element type mismatch refused");
		gc_cms_free(&x);
	}

	/* serialization round trip and validation */
	{
		size_t		n = gc_cms_serialized_size(&c);
		uint8_t    *buf = malloc(n);
		int64_t		e;

		gc_cms_serialize(&c, buf);
		CHECK(gc_cms_deserialize(&r, buf, n, &A, err, sizeof(err)) == GC_OK && SameBytes(&r, &c, 0),
			  "round trip");
		gc_cms_free(&r);
		CHECK(gc_cms_estimate_serialized(buf, n, KeyHash(0), &e) == GC_OK &&
			  e == gc_cms_estimate(&c, KeyHash(0)), "point query on serialized bytes");
		CHECK(gc_cms_deserialize(&r, buf, n - 1, &A, err, sizeof(err)) == GC_EFORMAT, "truncated: %s", err);
		CHECK(gc_cms_deserialize(&r, buf, 20, &A, err, sizeof(err)) == GC_EFORMAT, "short header: %s", err);
		buf[GC_CMS_HEADER_SIZE + 7] ^= 1;
		CHECK(gc_cms_deserialize(&r, buf, n, &A, err, sizeof(err)) == GC_EFORMAT, "altered counter: %s", err);
		buf[GC_CMS_HEADER_SIZE + 7] ^= 1;
		buf[27] ^= 1;
		CHECK(gc_cms_deserialize(&r, buf, n, &A, err, sizeof(err)) == GC_EFORMAT, "altered width: %s", err);
		buf[27] ^= 1;
		buf[0] = 9;
		CHECK(gc_cms_deserialize(&r, buf, n, &A, err, sizeof(err)) == GC_EFORMAT, "version: %s", err);
		free(buf);
	}

	/* fuzz: mutated values are either consistent sketches or refused, never a crash */
	{
		gc_cms		f,
					g;
		uint64_t	fs = 777;
		size_t		n;
		uint8_t    *good,
				   *buf;
		int			accepted = 0,
					refused = 0,
					consistent = 1;

		gc_cms_init(&f, 0.2, 0.1, 4, 23, &A);
		for (uint32_t i = 0; i < 300; i++)
			Add(&f, (uint32_t) (Next(&fs) % 40));
		n = gc_cms_serialized_size(&f);
		good = malloc(n);
		gc_cms_serialize(&f, good);
		buf = malloc(n + 8);
		for (int t = 0; t < 3000; t++)
		{
			size_t		len = n;
			uint64_t	r = Next(&fs);
			int64_t		e;

			memcpy(buf, good, n);
			memset(buf + n, (int) (r >> 56), 8);
			if (r % 7 == 0)
				len = (size_t) (r >> 8) % (n + 8);
			else
				for (int k = 0; k < 1 + (int) (r % 3); k++)
				{
					uint64_t	q = Next(&fs);

					buf[q % n] ^= (uint8_t) (1u << ((q >> 32) % 8));
				}
			if (gc_cms_deserialize(&g, buf, len, &A, err, sizeof(err)) == GC_OK)
			{
				e = gc_cms_estimate(&g, KeyHash(3));
				consistent &= e >= 0 && e <= g.total && g.ncand <= g.topk_cap;
				gc_cms_free(&g);
				accepted++;
			}
			else
				refused++;
			/* the point query on raw bytes only checks the header: it must not overrun */
			if (gc_cms_estimate_serialized(buf, len, KeyHash(3), &e) == GC_OK)
				consistent &= len >= GC_CMS_HEADER_SIZE;
		}
		CHECK(consistent && refused > 0, "fuzzed input: %d accepted consistently, %d refused", accepted, refused);
		free(good);
		free(buf);
		gc_cms_free(&f);
	}

	gc_cms_free(&a);
	gc_cms_free(&b);
	gc_cms_free(&c);
	return UNIT_DONE();
}
