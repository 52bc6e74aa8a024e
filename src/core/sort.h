/*
 * sort.h — LSD radix sort of doubles carrying a row index (finite or ±inf values; no NaN).
 */
#ifndef GC_SORT_H
#define GC_SORT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Sort vals[0..n) ascending, permuting idx alongside. tmpv/tmpi are scratch of n each.
 * Stable, O(8n).
 */
extern void gc_radix_sort(double *vals, uint32_t *idx, size_t n, double *tmpv, uint32_t *tmpi);

#endif
