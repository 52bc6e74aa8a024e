/*
 * l3batch.h — lookup3 of many short byte strings at once (PostgreSQL-free core).
 *
 * The sketches hash a text value exactly as PostgreSQL's hash_bytes_extended(k,
 * len, 0) does: Bob Jenkins' lookup3 (2006, public domain) over little-endian
 * 32-bit words, result (b << 32) | c.  For a 32-byte key that is a chain of about
 * a hundred dependent instructions, and an aggregate that hashes one row per call
 * pays the chain's latency on every row.  This queue takes strings of up to
 * GC_L3B_MAX_LEN bytes, sorted by their number of 12-byte blocks, and hashes 8
 * of the same block count at once (AVX2): the same bits, many
 * independent chains in flight and far fewer instructions per string.
 *
 * Only little-endian hosts have a batch path (lookup3 reads words in host order,
 * so PostgreSQL's hashes differ on big-endian hosts and the glue calls it there).
 */
#ifndef GC_L3BATCH_H
#define GC_L3BATCH_H

#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define GC_L3B_AVAILABLE 1
#else
#define GC_L3B_AVAILABLE 0
#endif

#define GC_L3B_CLASSES	4		/* 0 to 3 full 12-byte blocks before the tail */
#define GC_L3B_MAX_LEN	(12 * GC_L3B_CLASSES - 1)	/* 47 bytes */
#define GC_L3B_CAP		16		/* queued strings per class before it is hashed */
#define GC_L3B_SLOT		48		/* bytes per queued string, zero-padded */

/*
 * lookup3's reversible mix of a 12-byte block into (a, b, c), and its final
 * avalanche.  Written for any type with +, -, ^, << and >> (uint32_t, or a vector
 * of them), so that the scalar and the batch paths share one definition.
 */
#define GC_L3_ROT(x, k)	(((x) << (k)) | ((x) >> (32 - (k))))
#define GC_L3_MIX(a, b, c) \
	do { \
		a -= c; a ^= GC_L3_ROT(c, 4); c += b; \
		b -= a; b ^= GC_L3_ROT(a, 6); a += c; \
		c -= b; c ^= GC_L3_ROT(b, 8); b += a; \
		a -= c; a ^= GC_L3_ROT(c, 16); c += b; \
		b -= a; b ^= GC_L3_ROT(a, 19); a += c; \
		c -= b; c ^= GC_L3_ROT(b, 4); b += a; \
	} while (0)
#define GC_L3_FINAL(a, b, c) \
	do { \
		c ^= b; c -= GC_L3_ROT(b, 14); \
		a ^= c; a -= GC_L3_ROT(c, 11); \
		b ^= a; b -= GC_L3_ROT(a, 25); \
		c ^= b; c -= GC_L3_ROT(b, 16); \
		a ^= c; a -= GC_L3_ROT(c, 4); \
		b ^= a; b -= GC_L3_ROT(a, 14); \
		c ^= b; c -= GC_L3_ROT(b, 24); \
	} while (0)
/* initial a = b = c for a key of len bytes and seed 0 */
#define GC_L3_INIT(len)	((uint32_t) 0x9e3779b9 + (uint32_t) (len) + (uint32_t) 3923095)

/*
 * Class k holds strings of 12k to 12k + 11 bytes, each in a GC_L3B_SLOT-byte
 * slot, zero from its length on (lookup3 adds a short tail zero-padded).
 */
typedef struct gc_l3batch
{
	uint32_t	n[GC_L3B_CLASSES];
	uint32_t	len[GC_L3B_CLASSES][GC_L3B_CAP];
	unsigned char slot[GC_L3B_CLASSES][GC_L3B_CAP][GC_L3B_SLOT];
} gc_l3batch;

static inline uint32_t
gc_l3b_load32(const unsigned char *p)
{
	uint32_t	v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* The n (0..3) bytes at p as the low bytes of a little-endian word. */
static inline uint32_t
gc_l3b_load_tail(const unsigned char *p, uint32_t n)
{
	switch (n)
	{
		case 3:
			return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16);
		case 2:
			return (uint32_t) p[0] | ((uint32_t) p[1] << 8);
		case 1:
			return (uint32_t) p[0];
		default:
			return 0;
	}
}

/*
 * lookup3 of one string with seed 0, one unaligned little-endian load per word
 * (PostgreSQL reads a key byte by byte unless it is 4-byte aligned, and a short
 * varlena's data never is).  Little-endian hosts only.
 */
static inline uint64_t
gc_lookup3(const unsigned char *k, uint32_t len)
{
	uint32_t	a,
				b,
				c;

	a = b = c = GC_L3_INIT(len);
	while (len >= 12)
	{
		a += gc_l3b_load32(k);
		b += gc_l3b_load32(k + 4);
		c += gc_l3b_load32(k + 8);
		GC_L3_MIX(a, b, c);
		k += 12;
		len -= 12;
	}
	/* the last 0..11 bytes; the low byte of c stays free */
	if (len >= 8)
	{
		a += gc_l3b_load32(k);
		b += gc_l3b_load32(k + 4);
		c += gc_l3b_load_tail(k + 8, len - 8) << 8;
	}
	else if (len >= 4)
	{
		a += gc_l3b_load32(k);
		b += gc_l3b_load_tail(k + 4, len - 4);
	}
	else
		a += gc_l3b_load_tail(k, len);
	GC_L3_FINAL(a, b, c);
	return ((uint64_t) b << 32) | c;
}

/*
 * Queue the len (<= GC_L3B_MAX_LEN) bytes at k; reads only those bytes.  Returns
 * the class that is now full and must be hashed (gc_l3batch_hash) before the next
 * push, or -1.  Only call it when gc_l3batch_usable() (a batch is slower than
 * the scalar hash without wide vectors).
 */
static inline int
gc_l3batch_push(gc_l3batch *q, const unsigned char *k, uint32_t len)
{
	uint32_t	cls = len / 12;
	uint32_t	pos = q->n[cls];
	unsigned char *d = q->slot[cls][pos];

	/*
	 * Zero the slot, then copy with loads that stay inside the string: the
	 * first and last 16 (8, 4) bytes, overlapping in the middle.
	 */
	memset(d + 16, 0, GC_L3B_SLOT - 16);
	if (len >= 16)
	{
		memcpy(d, k, 16);
		if (len > 32)
			memcpy(d + 16, k + 16, 16);
		memcpy(d + len - 16, k + len - 16, 16);
	}
	else
	{
		memset(d, 0, 16);
		if (len >= 8)
		{
			memcpy(d, k, 8);
			memcpy(d + len - 8, k + len - 8, 8);
		}
		else if (len >= 4)
		{
			memcpy(d, k, 4);
			memcpy(d + len - 4, k + len - 4, 4);
		}
		else
		{
			for (uint32_t i = 0; i < len; i++)
				d[i] = k[i];
		}
	}
	q->len[cls][pos] = len;
	q->n[cls] = ++pos;
	return pos == GC_L3B_CAP ? (int) cls : -1;
}

/* Empty queue. */
extern void gc_l3batch_init(gc_l3batch *q);

/*
 * Whether a batch is hashed faster than one string at a time here: an x86-64 build
 * with gc_simd_level AVX2 or higher.
 */
extern int	gc_l3batch_usable(void);

/*
 * Hash the queued strings of class cls into out[0 .. n-1] in the order they were
 * pushed (n = the return value, at most GC_L3B_CAP) and empty the class.  Each
 * out[i] equals gc_lookup3 of string i.
 */
extern uint32_t gc_l3batch_hash(gc_l3batch *q, int cls, uint64_t *out);

/* The same, each out[i] then mixed with gc_sketch_mix64 (sketch/sketch_util.h). */
extern uint32_t gc_l3batch_hash_mixed(gc_l3batch *q, int cls, uint64_t *out);

#endif							/* GC_L3BATCH_H */
