/*
 * alloc.h — the allocator every PostgreSQL-free module takes from its caller.
 *
 * The glue hands in palloc in the right memory context (an allocation that fails raises
 * an error and does not return), the unit tests and harnesses gc_malloc_alloc (which
 * returns NULL on failure; the numerics then return GC_ENOMEM).
 */
#ifndef GC_ALLOC_H
#define GC_ALLOC_H

#include <stddef.h>

typedef struct GcAlloc
{
	void	   *(*alloc) (void *ctx, size_t size);	/* NULL on failure */
	void		(*dealloc) (void *ctx, void *ptr);
	void	   *ctx;
} GcAlloc;

/* malloc and free; requests of GC_HUGE_MIN bytes and more on transparent huge pages */
extern const GcAlloc gc_malloc_alloc;

/* Give every non-NULL pointer of ptrs[0..n) back to alloc (a structure's buffers at once). */
extern void gc_free_each(const GcAlloc *alloc, void *const *ptrs, size_t n);

#endif							/* GC_ALLOC_H */
