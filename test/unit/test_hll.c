/*
 * test_hll.c — unit tests of the HyperLogLog core: accuracy sweep across the
 * sparse->dense transition, union equals the sketch of the union, sparse decoding
 * equals direct register updates, serialization round trips and validation.
 */
#include <stdlib.h>
#include <string.h>

#include "sketch/hll.h"
#include "unit.h"

#define A gc_malloc_alloc

/* splitmix64: a seeded stream of distinct-looking 64-bit values */
static uint64_t
Next(uint64_t *s)
{
	uint64_t	z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static int
Roundtrip(const gc_hll *h, gc_hll *out)
{
	size_t		n = gc_hll_serialized_size(h);
	uint8_t    *b = malloc(n);
	char		err[200];
	int			rc;

	gc_hll_serialize(h, b);
	rc = gc_hll_deserialize(out, b, n, &A, err, sizeof(err));
	free(b);
	return rc;
}

static int
SameBytes(const gc_hll *a, const gc_hll *b)
{
	size_t		na = gc_hll_serialized_size(a),
				nb = gc_hll_serialized_size(b);
	uint8_t    *x,
			   *y;
	int			same;

	if (na != nb)
		return 0;
	x = malloc(na);
	y = malloc(nb);
	gc_hll_serialize(a, x);
	gc_hll_serialize(b, y);
	same = memcmp(x, y, na) == 0;
	free(x);
	free(y);
	return same;
}

static void
AccuracySweep(int log2m, int trials, int steps)
{
	double		m = (double) (1 << log2m);
	double		bound = 3.0 * 1.04 / sqrt(m);
	int			total = 0,
				within = 0;
	double		worst = 0;
	uint64_t	seed = 12345 + log2m;

	for (int s = 0; s <= steps; s++)
	{
		/* denser steps around the sparse limit (3m/16) where estimators break */
		long		n = s * (long) (10 * m) / steps;

		if (s % 4 == 1)
			n = (long) gc_hll_sparse_limit(log2m) + (s - 1) / 4 - 2;
		for (int t = 0; t < trials; t++)
		{
			gc_hll		h;
			double		est,
						rel;

			gc_hll_init(&h, log2m, &A);
			for (long i = 0; i < n; i++)
				gc_hll_add_hash(&h, Next(&seed));
			est = gc_hll_estimate(&h);
			rel = n == 0 ? fabs(est) : fabs(est - n) / n;
			if (rel <= bound)
				within++;
			if (rel > worst)
				worst = rel;
			total++;
			gc_hll_free(&h);
		}
	}
	CHECK(within >= 0.99 * total, "log2m %d: %d of %d trials within 3*1.04/sqrt(m) = %.4f (worst %.4f)",
		  log2m, within, total, bound, worst);
}

int
main(void)
{
	gc_hll		a,
				b,
				u,
				all,
				r,
				r_fuzz;
	uint64_t	seed = 7;
	char		err[256];
	uint8_t		bad[64];

	gc_simd_init();
	CHECK(gc_hll_init(&a, 3, &A) == GC_EINVAL, "log2m 3 refused");
	CHECK(gc_hll_init(&a, 19, &A) == GC_EINVAL, "log2m 19 refused");

	/* empty and tiny sketches are exact */
	gc_hll_init(&a, 12, &A);
	CHECK(gc_hll_estimate(&a) == 0.0, "empty sketch estimates 0");
	gc_hll_add_hash(&a, 42);
	gc_hll_add_hash(&a, 42);
	CHECK(fabs(gc_hll_estimate(&a) - 1.0) < 1e-3, "one value added twice estimates 1 (%g)", gc_hll_estimate(&a));
	gc_hll_free(&a);

	AccuracySweep(8, 30, 40);
	AccuracySweep(10, 6, 40);
	AccuracySweep(14, 1, 20);

	/* union equals the sketch of the union, byte for byte, in every representation */
	for (int na = 10; na <= 100000; na *= 10)
	{
		gc_hll_init(&a, 10, &A);
		gc_hll_init(&b, 10, &A);
		gc_hll_init(&all, 10, &A);
		for (int i = 0; i < na; i++)
		{
			uint64_t	x = Next(&seed);

			gc_hll_add_hash(i % 3 ? &a : &b, x);
			gc_hll_add_hash(&all, x);
			if (i % 5 == 0)
			{
				gc_hll_add_hash(&b, x);		/* overlap */
				gc_hll_add_hash(&all, x);
			}
		}
		gc_hll_init(&u, 10, &A);
		gc_hll_merge(&u, &a);
		gc_hll_merge(&u, &b);
		CHECK(SameBytes(&u, &all), "n=%d: union of sketches has the bytes of the sketch of the union", na);
		CHECK(gc_hll_estimate(&u) == gc_hll_estimate(&all), "n=%d: same estimate", na);
		CHECK(Roundtrip(&u, &r) == GC_OK && SameBytes(&u, &r) &&
			  gc_hll_estimate(&r) == gc_hll_estimate(&u), "n=%d: serialization round trip", na);
		gc_hll_free(&r);
		gc_hll_free(&a);
		gc_hll_free(&b);
		gc_hll_free(&u);
		gc_hll_free(&all);
	}

	/*
	 * several sparse sketches whose union crosses the sparse limit in the middle
	 * of a merge (log2m 10: limit 192 entries; five parts of 150)
	 */
	for (int parts = 2; parts <= 5; parts++)
	{
		gc_hll		p[5];

		gc_hll_init(&all, 10, &A);
		gc_hll_init(&u, 10, &A);
		for (int k = 0; k < parts; k++)
		{
			gc_hll_init(&p[k], 10, &A);
			for (int i = 0; i < 150; i++)
			{
				uint64_t	x = Next(&seed);

				gc_hll_add_hash(&p[k], x);
				gc_hll_add_hash(&all, x);
			}
			CHECK(!p[k].dense, "part %d of %d is sparse", k, parts);
		}
		for (int k = 0; k < parts; k++)
			gc_hll_merge(&u, &p[k]);
		CHECK(SameBytes(&u, &all) && gc_hll_estimate(&u) == gc_hll_estimate(&all),
			  "union of %d sparse parts (%d values) equals the sketch of the union (est %.1f)",
			  parts, 150 * parts, gc_hll_estimate(&u));
		for (int k = 0; k < parts; k++)
			gc_hll_free(&p[k]);
		gc_hll_free(&u);
		gc_hll_free(&all);
	}

	/* sparse decoding gives exactly the registers a direct dense update gives */
	{
		int			p = 6;
		uint8_t		regs[64];
		uint64_t	s2 = 99;
		int			same = 1;

		memset(regs, 0, sizeof(regs));
		gc_hll_init(&a, p, &A);
		for (int i = 0; i < 5000; i++)
		{
			uint64_t	x = Next(&s2);
			uint32_t	idx = (uint32_t) (x >> (64 - p));
			uint64_t	w = x << p;
			uint8_t		rk = w ? (uint8_t) (__builtin_clzll(w) + 1) : (uint8_t) (65 - p);

			if (i < 3)
				x &= ~(((UINT64_C(1) << 30) - 1) << (64 - p - 30)); /* long zero runs */
			if (i < 3)
			{
				idx = (uint32_t) (x >> (64 - p));
				w = x << p;
				rk = w ? (uint8_t) (__builtin_clzll(w) + 1) : (uint8_t) (65 - p);
			}
			if (rk > regs[idx])
				regs[idx] = rk;
			gc_hll_add_hash(&a, x);
		}
		CHECK(a.dense, "5000 values make a log2m 6 sketch dense");
		for (int i = 0; i < 64; i++)
			same &= regs[i] == a.regs[i];
		CHECK(same, "registers after the sparse->dense switch equal direct updates");
		gc_hll_free(&a);
	}

	/*
	 * gc_hll_add_many gives the sketch of one-at-a-time adds: batches of 0..40
	 * hashes (chunks and their remainders) across the sparse->dense switch, with
	 * repeated hashes and repeated registers inside a batch
	 */
	for (int p = 4; p <= 14; p += 5)
	{
		gc_hll		one,
					many;
		uint64_t	s3 = 7 + p;
		uint64_t	buf[40];
		int			same = 1,
					rc = GC_OK;

		gc_hll_init(&one, p, &A);
		gc_hll_init(&many, p, &A);
		for (int round = 0; round < 600; round++)
		{
			uint32_t	n = (uint32_t) (Next(&s3) % 41);

			for (uint32_t j = 0; j < n; j++)
			{
				buf[j] = (j > 0 && Next(&s3) % 5 == 0) ? buf[j - 1] : Next(&s3);
				if (j > 0 && Next(&s3) % 7 == 0)	/* same register, another rank */
					buf[j] = (buf[j - 1] & ~(~UINT64_C(0) >> p)) | (Next(&s3) >> p >> (Next(&s3) % 20));
				gc_hll_add_hash(&one, buf[j]);
			}
			rc |= gc_hll_add_many(&many, buf, n);
			same &= SameBytes(&one, &many);
		}
		CHECK(rc == GC_OK && same && one.dense,
			  "log2m %d: gc_hll_add_many equals one-at-a-time adds after every batch, sparse and dense", p);
		gc_hll_free(&one);
		gc_hll_free(&many);
	}

	/* merging different log2m is refused and leaves dst unchanged */
	gc_hll_init(&a, 10, &A);
	gc_hll_init(&b, 11, &A);
	gc_hll_add_hash(&a, 1);
	gc_hll_add_hash(&b, 2);
	CHECK(gc_hll_merge(&a, &b) == GC_EINVAL, "merge of log2m 10 and 11 refused");
	CHECK(fabs(gc_hll_estimate(&a) - 1) < 1e-3, "dst unchanged after refused merge");
	gc_hll_free(&a);
	gc_hll_free(&b);

	/* validation of serialized input */
	memset(bad, 0, sizeof(bad));
	CHECK(gc_hll_deserialize(&r, bad, 3, &A, err, sizeof(err)) == GC_EFORMAT, "truncated header: %s", err);
	bad[0] = 2;
	CHECK(gc_hll_deserialize(&r, bad, 8, &A, err, sizeof(err)) == GC_EFORMAT, "unknown version: %s", err);
	bad[0] = 1;
	bad[1] = 1;
	bad[2] = 12;
	bad[3] = 1;
	CHECK(gc_hll_deserialize(&r, bad, 8, &A, err, sizeof(err)) == GC_OK && gc_hll_estimate(&r) == 0,
		  "empty sparse sketch accepted");
	gc_hll_free(&r);
	bad[7] = 2;
	gc_put_be32(bad + 8, (5u << 6) | 3);
	gc_put_be32(bad + 12, (5u << 6) | 4);
	CHECK(gc_hll_deserialize(&r, bad, 16, &A, err, sizeof(err)) == GC_EFORMAT, "duplicate index: %s", err);
	gc_put_be32(bad + 12, (6u << 6) | 0);
	CHECK(gc_hll_deserialize(&r, bad, 16, &A, err, sizeof(err)) == GC_EFORMAT, "rank 0: %s", err);
	gc_put_be32(bad + 12, (6u << 6) | 7);
	CHECK(gc_hll_deserialize(&r, bad, 15, &A, err, sizeof(err)) == GC_EFORMAT, "short sparse body: %s", err);
	CHECK(gc_hll_deserialize(&r, bad, 16, &A, err, sizeof(err)) == GC_OK &&
		  fabs(gc_hll_estimate(&r) - 2) < 1e-3, "two-entry sparse sketch accepted");
	gc_hll_free(&r);
	bad[2] = 4;
	bad[1] = 2;
	bad[7] = 0;
	memset(bad + 8, 0xff, 12);
	CHECK(gc_hll_deserialize(&r, bad, 20, &A, err, sizeof(err)) == GC_EFORMAT, "register 63 > 61: %s", err);
	bad[2] = 40;
	CHECK(gc_hll_deserialize(&r, bad, 20, &A, err, sizeof(err)) == GC_EFORMAT, "log2m 40: %s", err);

	/*
	 * fuzz: random byte flips, truncations and extensions of valid sparse and dense
	 * values either deserialize to a sketch that estimates and reserializes, or are
	 * refused; never a crash or an invalid access (valgrind runs this)
	 */
	{
		uint64_t	fs = 4242;
		int			accepted = 0,
					refused = 0,
					consistent = 1;

		for (int base = 0; base < 2; base++)
		{
			gc_hll		src;
			size_t		n;
			uint8_t    *good,
					   *buf;

			gc_hll_init(&src, 6, &A);
			for (int i = 0; i < (base ? 500 : 8); i++)
				gc_hll_add_hash(&src, Next(&fs));
			n = gc_hll_serialized_size(&src);
			good = malloc(n);
			gc_hll_serialize(&src, good);
			buf = malloc(n + 8);
			for (int t = 0; t < 3000; t++)
			{
				size_t		len = n;
				uint64_t	r = Next(&fs);

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
				if (gc_hll_deserialize(&r_fuzz, buf, len, &A, err, sizeof(err)) == GC_OK)
				{
					double		e = gc_hll_estimate(&r_fuzz);

					consistent &= isfinite(e) && e >= 0 &&
						gc_hll_serialized_size(&r_fuzz) <= gc_hll_dense_size(6);
					gc_hll_free(&r_fuzz);
					accepted++;
				}
				else
					refused++;
			}
			free(good);
			free(buf);
			gc_hll_free(&src);
		}
		CHECK(consistent && refused > 0, "fuzzed input: %d accepted consistently, %d refused", accepted, refused);
	}

	return UNIT_DONE();
}
