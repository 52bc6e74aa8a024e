/*
 * alloc.c — gc_malloc_alloc and gc_free_each (see alloc.h).
 */
#include <stdlib.h>

#include "platform/alloc.h"
#include "platform/hugemem.h"

static void *
MallocAlloc(void *ctx, size_t size)
{
	void	   *p;

	if (size < GC_HUGE_MIN)
		return malloc(size > 0 ? size : 1);
	/* a large buffer on huge pages (hugemem.h); free() takes it back as it is */
	if (posix_memalign(&p, GC_HUGE_PAGE, gc_huge_round(size)) != 0)
		return NULL;
	gc_huge_advise(p, size);
	return p;
}

static void
MallocFree(void *ctx, void *ptr)
{
	free(ptr);
}

const GcAlloc gc_malloc_alloc = {MallocAlloc, MallocFree, NULL};

void
gc_free_each(const GcAlloc *alloc, void *const *ptrs, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (ptrs[k])
			alloc->dealloc(alloc->ctx, ptrs[k]);
}
