/*
 * hugemem.c — large buffers on transparent huge pages (see hugemem.h).
 *
 * Layout of a wrapped allocation: [raw ... | magic, raw | buffer, 2 MB aligned ... ]. The
 * two words just below the buffer tell gc_huge_raw that the pointer is a wrapped one and
 * where its allocation starts. A pointer that is not 2 MB aligned is never a wrapped one; an
 * aligned pointer from the underlying allocator has that allocator's own chunk header below
 * it (for palloc: the chunk's size and owner), which never equals the magic word.
 */
#include <stdint.h>
#include <string.h>

#ifdef __linux__
#include <sys/mman.h>
#endif

#include "platform/hugemem.h"

#define GC_HUGE_MAGIC UINT64_C(0x6763687567656d21)	/* "gchugem!" */
#define GC_HUGE_HEADER (2 * sizeof(uint64_t))

size_t
gc_huge_request(size_t size)
{
	/* room to align the start, and to round the end up to a whole huge page */
	return size + 2 * GC_HUGE_PAGE + GC_HUGE_HEADER;
}

void *
gc_huge_place(void *raw, size_t size)
{
	uintptr_t	base = (uintptr_t) raw + GC_HUGE_HEADER;
	char	   *buf = (char *) ((base + GC_HUGE_PAGE - 1) & ~(uintptr_t) (GC_HUGE_PAGE - 1));
	uint64_t	hdr[2] = {GC_HUGE_MAGIC, (uint64_t) (uintptr_t) raw};

	memcpy(buf - GC_HUGE_HEADER, hdr, sizeof(hdr));
	gc_huge_advise(buf, size);
	return buf;
}

void
gc_huge_advise(void *buf, size_t size)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
	/* advice only: refused where transparent huge pages are off, and then nothing changes */
	(void) madvise(buf, gc_huge_round(size), MADV_HUGEPAGE);
#else
	(void) buf;
	(void) size;
#endif
}

void *
gc_huge_raw(void *ptr)
{
	uint64_t	hdr[2];

	if (ptr == NULL || ((uintptr_t) ptr & (GC_HUGE_PAGE - 1)) != 0)
		return NULL;
	memcpy(hdr, (char *) ptr - GC_HUGE_HEADER, sizeof(hdr));
	return hdr[0] == GC_HUGE_MAGIC ? (void *) (uintptr_t) hdr[1] : NULL;
}
