/*
 * sort.h — sorting for the numerics: radix sorts of doubles and 64-bit keys carrying a row
 * index (finite or ±inf values; no NaN), a canonical row order, a plain sort of small arrays.
 */
#ifndef GC_SORT_H
#define GC_SORT_H

#include <stddef.h>
#include <stdint.h>

#include "copula/copula.h"

/*
 * Sort vals[0..n) ascending, permuting idx alongside. tmpv/tmpi are scratch of n each.
 * Stable, O(8n).
 */
extern void gc_radix_sort(double *vals, uint32_t *idx, size_t n, double *tmpv, uint32_t *tmpi);

/* The same for unsigned 64-bit keys. */
extern void gc_radix_sort_u64(uint64_t *keys, uint32_t *idx, size_t n, uint64_t *tmpk,
							  uint32_t *tmpi);

/*
 * The same order (stable, ascending) by a distribution pass on the leading bits and
 * insertion sort of the small buckets; faster than the radix sort for most inputs.
 */
extern void gc_sort_u64(uint64_t *keys, uint32_t *idx, size_t n, uint64_t *tmpk,
						uint32_t *tmpi);

/* Sort x[0..n) ascending (no NaN) by comparison: for the small arrays that need no index. */
extern void gc_sort_doubles(double *x, size_t n);

/*
 * A canonical order of the n rows of the row-major n×p matrix X, independent of the order
 * they are given in: rows sorted by a 64-bit hash of their values (NaNs hashed alike),
 * ties between distinct rows broken by their values. perm receives row indexes.
 * Scratch comes from alloc. Returns 0, or -1 if it could not be allocated.
 */
extern int	gc_canonical_order(const double *X, size_t n, int p, uint32_t *perm,
							   const GcAlloc *alloc);

#endif
