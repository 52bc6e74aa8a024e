/*
 * l3batch.c — lookup3 of queued short strings, 8 or 16 at a time.  See l3batch.h.
 *
 * The kernels gather word j of every queued string of a class into one vector
 * (the strings sit in fixed-size slots) and run lookup3's mix and final on all
 * lanes at once; AVX-512 also rotates in one instruction.  They are compiled with
 * target attributes and chosen by gc_simd_level, so the extension still runs on any
 * x86-64 (and elsewhere the batch is simply not used).
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
typedef uint32_t gc_l3v16 __attribute__((vector_size(64)));

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

GC_TARGET_AVX512
static void
HashAvx512(const gc_l3batch *q, int cls, uint32_t first, uint64_t *out)
{
	const int  *base = (const int *) q->slot[cls][first];
	const __m512i idx = _mm512_setr_epi32(0, 12, 24, 36, 48, 60, 72, 84,
										  96, 108, 120, 132, 144, 156, 168, 180);

#define GATHER16(j) _mm512_i32gather_epi32(idx, base + (j), 4)
	GC_L3B_BODY(gc_l3v16, 16, GATHER16);
#undef GATHER16
}

/* gc_sketch_mix64 of 8 lanes of 64 bits (vpmullq: AVX-512DQ) */
GC_TARGET_AVX512
static inline __m512i
Mix64x8(__m512i h)
{
	h = _mm512_xor_si512(h, _mm512_srli_epi64(h, 33));
	h = _mm512_mullo_epi64(h, _mm512_set1_epi64((long long) UINT64_C(0xff51afd7ed558ccd)));
	h = _mm512_xor_si512(h, _mm512_srli_epi64(h, 33));
	h = _mm512_mullo_epi64(h, _mm512_set1_epi64((long long) UINT64_C(0xc4ceb9fe1a85ec53)));
	return _mm512_xor_si512(h, _mm512_srli_epi64(h, 33));
}

/*
 * The 16 lanes of class cls, (b << 32) | c put together and mixed in vectors:
 * the sketch's per-row work that is not a register update.
 */
GC_TARGET_AVX512
static void
HashAvx512Mixed(const gc_l3batch *q, int cls, uint64_t *out)
{
	const uint32_t first = 0;
	const int  *base = (const int *) q->slot[cls][0];
	const __m512i idx = _mm512_setr_epi32(0, 12, 24, 36, 48, 60, 72, 84,
										  96, 108, 120, 132, 144, 156, 168, 180);
	/* word 2k of the result from c[k], word 2k + 1 from b[k] (little-endian) */
	const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19,
										 4, 20, 5, 21, 6, 22, 7, 23);
	const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27,
										 12, 28, 13, 29, 14, 30, 15, 31);

#define GATHER16(j) _mm512_i32gather_epi32(idx, base + (j), 4)
	GC_L3B_ABC(gc_l3v16, GATHER16);
#undef GATHER16
	(void) x;
	_mm512_storeu_si512(out, Mix64x8(_mm512_permutex2var_epi32((__m512i) c, lo, (__m512i) b)));
	_mm512_storeu_si512(out + 8, Mix64x8(_mm512_permutex2var_epi32((__m512i) c, hi, (__m512i) b)));
}
#endif

uint32_t
gc_l3batch_hash(gc_l3batch *q, int cls, uint64_t *out)
{
	uint32_t	n = q->n[cls];

	/* lanes past n hash stale (zero-initialised) slots; their results are unused */
#ifdef GC_L3B_X86
	if (gc_simd_level >= GC_SIMD_AVX512)
		HashAvx512(q, cls, 0, out);
	else
		for (uint32_t first = 0; first < n; first += 8)
			HashAvx2(q, cls, first, out);
#else
	for (uint32_t i = 0; i < n; i++)
		out[i] = gc_lookup3(q->slot[cls][i], q->len[cls][i]);
#endif
	q->n[cls] = 0;
	return n;
}

uint32_t
gc_l3batch_hash_mixed(gc_l3batch *q, int cls, uint64_t *out)
{
	uint32_t	n;

#ifdef GC_L3B_X86
	if (gc_simd_level >= GC_SIMD_AVX512)
	{
		n = q->n[cls];
		HashAvx512Mixed(q, cls, out);
		q->n[cls] = 0;
		return n;
	}
#endif
	n = gc_l3batch_hash(q, cls, out);
	for (uint32_t i = 0; i < n; i++)
		out[i] = gc_sketch_mix64(out[i]);
	return n;
}
