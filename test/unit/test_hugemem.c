/*
 * test_hugemem.c — large buffers on transparent huge pages (src/platform/hugemem.c): wrapped
 * pointers are aligned, usable over their whole size and give back their allocation;
 * ordinary pointers are never taken for wrapped ones; the malloc allocator's large buffers
 * are aligned and freed by free() (valgrind checks both).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "copula/copula.h"
#include "platform/hugemem.h"
#include "unit.h"

int
main(void)
{
	size_t		sizes[] = {GC_HUGE_MIN, GC_HUGE_MIN + 1, 3 * GC_HUGE_PAGE - 8, 5 * GC_HUGE_PAGE};

	gc_simd_init();
	CHECK(gc_huge_raw(NULL) == NULL, "NULL is not a wrapped pointer");
	for (size_t t = 0; t < sizeof(sizes) / sizeof(sizes[0]); t++)
	{
		size_t		size = sizes[t],
					req = gc_huge_request(size);
		char	   *raw = malloc(req),
				   *buf;
		int			inside;

		if (raw == NULL)
			return 2;
		buf = gc_huge_place(raw, size);
		inside = buf >= raw + 16 && buf + gc_huge_round(size) <= raw + req;
		CHECK(((uintptr_t) buf & (GC_HUGE_PAGE - 1)) == 0 && inside,
			  "size %zu: buffer aligned to a huge page, its rounded range inside the request", size);
		memset(buf, 0x5a, size);
		CHECK(buf[0] == 0x5a && buf[size - 1] == 0x5a, "size %zu: whole buffer writable", size);
		CHECK(gc_huge_raw(buf) == raw, "size %zu: gc_huge_raw gives back the allocation", size);
		CHECK(gc_huge_raw(buf + 8) == NULL && gc_huge_raw(raw) == NULL,
			  "size %zu: unaligned pointers are not wrapped ones", size);
		free(raw);
	}

	/* an aligned pointer without the header below it (an ordinary chunk) is not wrapped */
	{
		char	   *raw = malloc(3 * GC_HUGE_PAGE),
				   *al;

		if (raw == NULL)
			return 2;
		al = (char *) (((uintptr_t) raw + GC_HUGE_PAGE) & ~(uintptr_t) (GC_HUGE_PAGE - 1));
		memset(al - 16, 0, 32);
		CHECK(gc_huge_raw(al) == NULL, "aligned pointer with a zero header is not wrapped");
		memset(al - 16, 0xff, 16);
		CHECK(gc_huge_raw(al) == NULL, "aligned pointer with another header is not wrapped");
		free(raw);
	}

	/* the core's malloc allocator: small requests plain, large ones aligned */
	{
		const GcAlloc *a = &gc_malloc_alloc;
		char	   *s = a->alloc(a->ctx, 1000),
				   *b = a->alloc(a->ctx, 3 * GC_HUGE_PAGE + 24);

		CHECK(s != NULL && b != NULL, "malloc allocator: small and large requests");
		if (s && b)
		{
			memset(s, 1, 1000);
			memset(b, 2, 3 * GC_HUGE_PAGE + 24);
			CHECK(((uintptr_t) b & (GC_HUGE_PAGE - 1)) == 0 && b[3 * GC_HUGE_PAGE + 23] == 2,
				  "malloc allocator: a large buffer is huge-page aligned and writable");
		}
		a->dealloc(a->ctx, s);
		a->dealloc(a->ctx, b);
	}
	return UNIT_DONE();
}
