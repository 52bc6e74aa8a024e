/*
 * rng.h — a small seeded random number generator (xoshiro256**, seeded by splitmix64).
 *
 * Everything random in gcimpute is reproducible from a user-visible seed.
 */
#ifndef GC_RNG_H
#define GC_RNG_H

#include <stdint.h>

typedef struct GcRng
{
	uint64_t	s[4];
	int			has_spare;
	double		spare;
} GcRng;

extern void gc_rng_seed(GcRng *rng, uint64_t seed);
extern uint64_t gc_rng_next(GcRng *rng);
/* uniform on (0, 1), never 0 or 1 */
extern double gc_rng_uniform(GcRng *rng);
extern double gc_rng_normal(GcRng *rng);
/* uniform integer in [0, n) */
extern uint64_t gc_rng_below(GcRng *rng, uint64_t n);
/* splitmix64 finaliser: a good 64-bit mixer for combining seeds and hashes */
extern uint64_t gc_mix64(uint64_t x);

#endif
