/*
 * sketch_util.h — small helpers shared by the HyperLogLog and Count-Min cores: the
 * allocator and status codes of all the numerics (platform/alloc.h, platform/status.h),
 * a 64-bit finalising mixer, and big-endian load/store for the portable serialized formats.
 *
 * PostgreSQL-free C11.
 */
#ifndef GC_SKETCH_UTIL_H
#define GC_SKETCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "platform/alloc.h"
#include "platform/status.h"

/*
 * The 64-bit finaliser of MurmurHash3 (Appleby, public domain algorithm): every
 * input bit affects every output bit.  The type's own extended hash is already
 * good, but re-mixing costs three multiplies and makes the register index and
 * the rank independent of any structure left in it.
 */
static inline uint64_t
gc_sketch_mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64_C(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return h;
}

static inline void
gc_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

static inline uint32_t
gc_get_be32(const uint8_t *p)
{
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) |
		((uint32_t) p[2] << 8) | (uint32_t) p[3];
}

static inline void
gc_put_be64(uint8_t *p, uint64_t v)
{
	gc_put_be32(p, (uint32_t) (v >> 32));
	gc_put_be32(p + 4, (uint32_t) v);
}

static inline uint64_t
gc_get_be64(const uint8_t *p)
{
	return ((uint64_t) gc_get_be32(p) << 32) | gc_get_be32(p + 4);
}

static inline void
gc_put_bedouble(uint8_t *p, double d)
{
	uint64_t	u;

	memcpy(&u, &d, sizeof(u));
	gc_put_be64(p, u);
}

static inline double
gc_get_bedouble(const uint8_t *p)
{
	uint64_t	u = gc_get_be64(p);
	double		d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

#endif							/* GC_SKETCH_UTIL_H */
