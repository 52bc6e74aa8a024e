/*
 * l3batch.c — lookup3 of queued short strings, 8 at a time.  See l3batch.h.
 *
 * The kernel gathers word j of eight queued strings of a class into one vector
 * (the strings sit in fixed-size slots) and runs lookup3's mix and final on all
 * lanes at once.  It is compiled for AVX2 and chosen by gc_simd_level, so the
 * extension still runs on any x86-64 (and elsewhere the batch is not used).
 */
#include "platform/simd.h"
#include "sketch/l3batch.h"
#include "sketch/sketch_util.h"

#if defined(GC_SIMD_X86) && GC_L3B_AVAILABLE
#define GC_L3B_X86 1
#endif

int
gc_l3batch_usable(void)
{
#ifdef GC_L3B_X86
	return gc_simd_level >= GC_SIMD_AVX2;
#else
	return 0;
#endif
}

void
gc_l3batch_init(gc_l3batch *q)
{
	memset(q, 0, sizeof(*q));
}

#ifdef GC_L3B_X86
/*
 * lookup3 of lanes lanes of class cls starting at slot first; VT is a vector of
 * that many uint32_t and GATHER(j) loads word j of each lane's slot.  For the
 * tail the third word goes in shifted left a byte, as lookup3 adds it.
 */
#define GC_L3B_ABC(VT, GATHER) \
		VT			a, b, c, x; \
\
		memcpy(&a, &q->len[cls][first], sizeof(a)); \
		a += GC_L3_INIT(0); \
		b = c = a; \
		for (int i = 0; i < cls; i++) \
		{ \
			a += (VT) GATHER(3 * i); \
			b += (VT) GATHER(3 * i + 1); \
			c += (VT) GATHER(3 * i + 2); \
			GC_L3_MIX(a, b, c); \
		} \
		a += (VT) GATHER(3 * cls); \
		b += (VT) GATHER(3 * cls + 1); \
		x = (VT) GATHER(3 * cls + 2); \
		c += x << 8; \
		GC_L3_FINAL(a, b, c)

#define GC_L3B_BODY(VT, LANES, GATHER) \
	do { \
		GC_L3B_ABC(VT, GATHER); \
		for (int l = 0; l < (LANES); l++) \
			out[first + l] = ((uint64_t) b[l] << 32) | c[l]; \
	} while (0)

typedef uint32_t gc_l3v8 __attribute__((vector_size(32)));

GC_TARGET_AVX2
static void
HashAvx2(const gc_l3batch *q, int cls, uint32_t first, uint64_t *out)
{
	const int  *base = (const int *) q->slot[cls][first];
	const __m256i idx = _mm256_setr_epi32(0, 12, 24, 36, 48, 60, 72, 84);

#define GATHER8(j) _mm256_i32gather_epi32(base + (j), idx, 4)
	GC_L3B_BODY(gc_l3v8, 8, GATHER8);
#undef GATHER8
}

#endif

uint32_t
gc_l3batch_hash(gc_l3batch *q, int cls, uint64_t *out)
{
	uint32_t	n = q->n[cls];

	/* lanes past n hash stale (zero-initialised) slots; their results are unused */
#ifdef GC_L3B_X86
	if (gc_simd_level >= GC_SIMD_AVX2)
	{
		for (uint32_t first = 0; first < n; first += 8)
			HashAvx2(q, cls, first, out);
		q->n[cls] = 0;
		return n;
	}
#endif
	for (uint32_t i = 0; i < n; i++)
		out[i] = gc_lookup3(q->slot[cls][i], q->len[cls][i]);
	q->n[cls] = 0;
	return n;
}

uint32_t
gc_l3batch_hash_mixed(gc_l3batch *q, int cls, uint64_t *out)
{
	uint32_t	n = gc_l3batch_hash(q, cls, out);

	for (uint32_t i = 0; i < n; i++)
		out[i] = gc_sketch_mix64(out[i]);
	return n;
}
