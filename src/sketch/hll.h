/*
 * hll.h — HyperLogLog distinct-count sketch (PostgreSQL-free core).
 *
 * Contract:
 *  - Input is a 64-bit hash per item (the glue hashes each value with its type's
 *    extended hash function and gc_sketch_mix64).  The top log2m bits pick the register,
 *    the rank is the number of leading zeros of the remaining 64 - log2m bits plus
 *    one (so registers hold 0 .. 65 - log2m, six bits).
 *  - Small sketches are sparse: a sorted list of (index, rank) pairs taken at the
 *    higher precision p' = 25 (as in HLL++, Heule, Nunkesser and Hall, EDBT 2013),
 *    so small cardinalities are nearly exact.  A sketch becomes dense (m one-byte
 *    registers in memory, six bits each when serialized) as soon as its sparse
 *    list would be larger than the dense form; the rule depends only on the set of
 *    entries, so a union is byte-for-byte the sketch of the union.
 *  - The estimate is Ertl's improved estimator (O. Ertl, "New cardinality
 *    estimation algorithms for HyperLogLog sketches", arXiv:1702.01284, 2017,
 *    Algorithm 6): unbiased across the small-range transition without empirical
 *    bias tables and without a large-range correction (64-bit hash).
 *  - Union is register-wise max; sketches of different log2m are refused.
 *
 * Serialized form (all integers big-endian), GC_HLL_HEADER_SIZE header bytes:
 *   [0] version (1)  [1] format (1 sparse, 2 dense)  [2] log2m  [3] hash id (1)
 *   [4..7] number of sparse entries (0 when dense)
 *   sparse: entries as uint32 (index' << 6 | rank'), strictly increasing index'
 *   dense:  m six-bit registers packed four to three bytes, most significant first
 */
#ifndef GC_HLL_H
#define GC_HLL_H

#include <stddef.h>
#include <stdint.h>

#include "sketch/sketch_util.h"

#define GC_HLL_VERSION			1
#define GC_HLL_HASH_ID			1	/* type extended hash, seed 0, then gc_sketch_mix64 */
#define GC_HLL_FORMAT_SPARSE	1
#define GC_HLL_FORMAT_DENSE		2
#define GC_HLL_MIN_LOG2M		4
#define GC_HLL_MAX_LOG2M		18
#define GC_HLL_DEFAULT_LOG2M	12
#define GC_HLL_SPARSE_P			25	/* precision of sparse entries */
#define GC_HLL_HEADER_SIZE		8
#define GC_HLL_BUF_CAP			256 /* unsorted insert buffer of a sparse sketch */

typedef struct gc_hll
{
	int			log2m;
	int			dense;			/* 0 sparse, 1 dense */
	uint8_t    *regs;			/* 2^log2m registers when dense */
	uint32_t   *sparse;			/* sorted entries, unique by index' */
	uint32_t	nsparse;
	uint32_t	sparse_cap;
	uint32_t	nbuf;			/* unsorted, possibly duplicate entries */
	uint32_t	buf[GC_HLL_BUF_CAP];
	const GcAlloc *alloc;
} gc_hll;

/* Largest number of sparse entries before the sketch turns dense (3m/16). */
extern uint32_t gc_hll_sparse_limit(int log2m);

/* Size in bytes of the dense serialized form (header included). */
extern size_t gc_hll_dense_size(int log2m);

/* Initialise an empty sparse sketch; GC_EINVAL if log2m is out of range. */
extern int	gc_hll_init(gc_hll *h, int log2m, const GcAlloc *alloc);
extern void gc_hll_free(gc_hll *h);

/* Add one hashed item. */
extern int	gc_hll_add_hash(gc_hll *h, uint64_t hash);
extern int	gc_hll_add_sparse(gc_hll *h, uint64_t hash);

/* A hash's dense register (its top p bits) and rank (leading zeros of the rest, + 1). */
static inline uint32_t
gc_hll_register(uint64_t hash, int p, uint8_t *rank)
{
	uint64_t	w = hash << p;

	*rank = w ? (uint8_t) (__builtin_clzll(w) + 1) : (uint8_t) (65 - p);
	return (uint32_t) (hash >> (64 - p));
}

/* The same, with the dense case inline (the per-row path of the aggregates). */
static inline int
gc_hll_add(gc_hll *h, uint64_t hash)
{
	if (h->dense)
	{
		uint8_t		rank;
		uint32_t	idx = gc_hll_register(hash, h->log2m, &rank);
		uint8_t		old = h->regs[idx];

		/* branch-free max: a mispredicted update would cost the whole hash chain */
		h->regs[idx] = rank > old ? rank : old;
		return GC_OK;
	}
	return gc_hll_add_sparse(h, hash);
}

/*
 * gc_hll_add of hash[0 .. n-1] in order (the same sketch), faster for a dense
 * sketch than one at a time; returns at the first error.
 */
extern int	gc_hll_add_many(gc_hll *h, const uint64_t *hash, uint32_t n);

/* dst := dst ∪ src.  GC_EINVAL if log2m differ (dst unchanged). */
extern int	gc_hll_merge(gc_hll *dst, const gc_hll *src);

/* Cardinality estimate of the sketch's canonical (serialized) form; does not modify it. */
extern double gc_hll_estimate(const gc_hll *h);

/* Exact size of the serialized form and the serialization; neither modifies h. */
extern size_t gc_hll_serialized_size(const gc_hll *h);
extern int	gc_hll_serialize(const gc_hll *h, uint8_t *out);

/*
 * Rebuild a sketch from bytes, validating everything (version, format, log2m,
 * hash id, exact length, ordering, register ranges, zero padding).  On error
 * returns GC_EFORMAT (or ENOMEM) and writes a sentence to errbuf; h then
 * holds nothing that needs freeing.
 */
extern int	gc_hll_deserialize(gc_hll *h, const uint8_t *buf, size_t len,
							   const GcAlloc *alloc, char *errbuf, size_t errlen);

#endif							/* GC_HLL_H */
