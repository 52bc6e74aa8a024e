/*
 * test_l3batch.c — unit tests of the lookup3 batch: the word-load scalar lookup3
 * and every vector kernel this CPU has (AVX2, AVX-512) give the bits of a
 * byte-at-a-time reference written from Jenkins' description, for every length
 * the batch takes and beyond, in push order per class; the push reads only the
 * string (each one is malloc'd to its exact size, so valgrind sees any overread).
 */
#include <stdlib.h>
#include <string.h>

#include "sketch/l3batch.h"
#include "sketch/sketch_util.h"
#include "unit.h"

/* lookup3, seed 0, reading the key a byte at a time (little-endian words) */
static uint64_t
RefLookup3(const unsigned char *k, uint32_t len)
{
	uint32_t	a,
				b,
				c;

	a = b = c = 0x9e3779b9 + len + 3923095;
	while (len >= 12)
	{
		a += k[0] + ((uint32_t) k[1] << 8) + ((uint32_t) k[2] << 16) + ((uint32_t) k[3] << 24);
		b += k[4] + ((uint32_t) k[5] << 8) + ((uint32_t) k[6] << 16) + ((uint32_t) k[7] << 24);
		c += k[8] + ((uint32_t) k[9] << 8) + ((uint32_t) k[10] << 16) + ((uint32_t) k[11] << 24);
		GC_L3_MIX(a, b, c);
		k += 12;
		len -= 12;
	}
	switch (len)
	{
		case 11:
			c += (uint32_t) k[10] << 24;
			/* FALLTHROUGH */
		case 10:
			c += (uint32_t) k[9] << 16;
			/* FALLTHROUGH */
		case 9:
			c += (uint32_t) k[8] << 8;
			/* FALLTHROUGH */
		case 8:
			b += (uint32_t) k[7] << 24;
			/* FALLTHROUGH */
		case 7:
			b += (uint32_t) k[6] << 16;
			/* FALLTHROUGH */
		case 6:
			b += (uint32_t) k[5] << 8;
			/* FALLTHROUGH */
		case 5:
			b += k[4];
			/* FALLTHROUGH */
		case 4:
			a += (uint32_t) k[3] << 24;
			/* FALLTHROUGH */
		case 3:
			a += (uint32_t) k[2] << 16;
			/* FALLTHROUGH */
		case 2:
			a += (uint32_t) k[1] << 8;
			/* FALLTHROUGH */
		case 1:
			a += k[0];
	}
	GC_L3_FINAL(a, b, c);
	return ((uint64_t) b << 32) | c;
}

static uint64_t rng = 12345;

static uint32_t
Rand(void)
{
	rng = rng * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
	return (uint32_t) (rng >> 33);
}

/* the scalar word-load version against the reference, lengths 0..100, odd addresses */
static void
TestScalar(void)
{
	unsigned char buf[128];
	int			bad = 0;

	for (int trial = 0; trial < 20; trial++)
		for (uint32_t len = 0; len <= 100; len++)
		{
			unsigned char *k = buf + 1 + trial % 7;

			for (uint32_t i = 0; i < len; i++)
				k[i] = (unsigned char) Rand();
			if (gc_lookup3(k, len) != RefLookup3(k, len))
				bad++;
		}
	CHECK(bad == 0, "gc_lookup3 equals the byte-wise lookup3 for lengths 0..100 (%d bad)", bad);
}

/*
 * Push n strings of random length 0..GC_L3B_MAX_LEN (runs of equal lengths too,
 * as a column of fixed-width codes gives), hashing a class whenever it fills and
 * everything at the end; every result must be the reference hash of the string
 * pushed at that position of that class.
 */
static void
TestBatch(int level)
{
	enum
	{
		N = 3000
	};
	unsigned char **str = malloc(N * sizeof(*str));
	uint32_t   *len = malloc(N * sizeof(*len));
	int			fifo[GC_L3B_CLASSES][GC_L3B_CAP];	/* string index per queued position */
	int			nq[GC_L3B_CLASSES] = {0};
	uint64_t	out[GC_L3B_CAP];
	gc_l3batch *q = malloc(sizeof(gc_l3batch));
	int			bad = 0,
				hashed = 0,
				order_bad = 0,
				mixed = 0,
				nmixed = 0;

	gc_simd_force(level);
	gc_l3batch_init(q);
	for (int i = 0; i < N; i++)
	{
		len[i] = i < N / 2 ? Rand() % (GC_L3B_MAX_LEN + 1) : 32 + (i / 500) % 3;
		str[i] = malloc(len[i] ? len[i] : 1);
		for (uint32_t j = 0; j < len[i]; j++)
			str[i][j] = (unsigned char) Rand();
	}
	for (int i = 0; i <= N; i++)
	{
		int			full = -1;

		if (i < N)
		{
			int			cls = len[i] / 12;

			fifo[cls][nq[cls]++] = i;
			full = gc_l3batch_push(q, str[i], len[i]);
			if ((full >= 0) != (nq[cls] == GC_L3B_CAP) || (full >= 0 && full != cls))
				order_bad++;
		}
		for (int cls = 0; cls < GC_L3B_CLASSES; cls++)
		{
			uint32_t	n;

			if (!(cls == full || (i == N && nq[cls] > 0)))
				continue;
			/* every other drain through the mixed variant */
			mixed = !mixed;
			n = mixed ? gc_l3batch_hash_mixed(q, cls, out) : gc_l3batch_hash(q, cls, out);
			if (n != (uint32_t) nq[cls] || q->n[cls] != 0)
				order_bad++;
			for (uint32_t p = 0; p < n; p++)
			{
				uint64_t	ref = RefLookup3(str[fifo[cls][p]], len[fifo[cls][p]]);

				if (out[p] != (mixed ? gc_sketch_mix64(ref) : ref))
					bad++;
				nmixed += mixed;
			}
			hashed += n;
			nq[cls] = 0;
		}
	}
	CHECK(hashed == N && bad == 0 && order_bad == 0 && nmixed > N / 4,
		  "%s batch: %d strings of 0..%d bytes hashed (%d also mixed), %d differ from the reference, %d queue errors",
		  gc_simd_name(level), hashed, GC_L3B_MAX_LEN, nmixed, bad, order_bad);
	for (int i = 0; i < N; i++)
		free(str[i]);
	free(str);
	free(len);
	free(q);
}

int
main(void)
{
	int			any = 0;

	gc_simd_init();
	TestScalar();
	/* the AVX2 kernel, where the CPU has it (valgrind's does) */
	if (gc_simd_supported() >= GC_SIMD_AVX2)
	{
		TestBatch(GC_SIMD_AVX2);
		any = 1;
	}
	gc_simd_force(GC_SIMD_BASE);
	CHECK(!gc_l3batch_usable(), "no batch at the portable level");
	gc_simd_init();
	CHECK(gc_l3batch_usable() == any, "the batch is used exactly when a vector kernel exists (%d)", any);
	return UNIT_DONE();
}
