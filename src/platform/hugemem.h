/*
 * hugemem.h — large buffers on transparent huge pages.
 *
 * The fits allocate a handful of n×p matrices and touch every page of them at once; backed
 * by 4 kB pages, every 4 kB costs a page fault, a noticeable share of a fit's time (more in
 * a backend under a memory cgroup). An allocator wraps a request of at least
 * GC_HUGE_MIN bytes: it asks its own allocator for gc_huge_request(size) bytes and hands out
 * gc_huge_place(raw, size), a pointer aligned to GC_HUGE_PAGE whose range the kernel is
 * asked (madvise MADV_HUGEPAGE) to back with huge pages; gc_huge_raw(ptr) gives back the
 * pointer to free. An allocator that can align by itself (posix_memalign) calls gc_huge_advise
 * instead, for a buffer of gc_huge_round(size) bytes. Where the kernel has no transparent
 * huge pages the advice is refused and the buffer is an ordinary one. PostgreSQL-free.
 */
#ifndef GC_HUGEMEM_H
#define GC_HUGEMEM_H

#include <stddef.h>

#define GC_HUGE_PAGE ((size_t) 2 << 20)
/* smaller buffers stay on ordinary pages (a huge page backs at most twice the size) */
#define GC_HUGE_MIN ((size_t) 1 << 20)

/* size rounded up to whole huge pages */
#define gc_huge_round(size) (((size) + GC_HUGE_PAGE - 1) & ~(GC_HUGE_PAGE - 1))

/* bytes to request from the underlying allocator for a buffer of size bytes */
extern size_t gc_huge_request(size_t size);

/* the buffer inside raw (of gc_huge_request(size) bytes); size must be >= GC_HUGE_MIN */
extern void *gc_huge_place(void *raw, size_t size);

/* the underlying allocation of a pointer from gc_huge_place, or NULL if ptr is not one */
extern void *gc_huge_raw(void *ptr);

/* ask for huge pages over buf (GC_HUGE_PAGE aligned) .. buf + size rounded up to a huge page */
extern void gc_huge_advise(void *buf, size_t size);

#endif
