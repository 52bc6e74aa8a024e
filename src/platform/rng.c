/*
 * rng.c — xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number
 * generators", 2021) seeded through splitmix64, plus uniform and normal draws.
 */
#include <math.h>

#include "platform/rng.h"

uint64_t
gc_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void
gc_rng_seed(GcRng *rng, uint64_t seed)
{
	uint64_t	x = seed;

	for (int i = 0; i < 4; i++)
	{
		x += 0x9e3779b97f4a7c15ULL;
		rng->s[i] = gc_mix64(x);
	}
	rng->has_spare = 0;
	rng->spare = 0;
}

static inline uint64_t
Rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t
gc_rng_next(GcRng *rng)
{
	uint64_t   *s = rng->s;
	uint64_t	result = Rotl(s[1] * 5, 7) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = Rotl(s[3], 45);
	return result;
}

double
gc_rng_uniform(GcRng *rng)
{
	/* 53 random bits, shifted by half an ulp so 0 is impossible */
	return ((gc_rng_next(rng) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

uint64_t
gc_rng_below(GcRng *rng, uint64_t n)
{
	/* Lemire's nearly-divisionless bounded draw would do; rejection keeps it unbiased */
	uint64_t	limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t	x;

	do
		x = gc_rng_next(rng);
	while (x >= limit);
	return x % n;
}

/* Marsaglia's polar method. */
double
gc_rng_normal(GcRng *rng)
{
	double		u,
				v,
				s;

	if (rng->has_spare)
	{
		rng->has_spare = 0;
		return rng->spare;
	}
	do
	{
		u = 2.0 * gc_rng_uniform(rng) - 1.0;
		v = 2.0 * gc_rng_uniform(rng) - 1.0;
		s = u * u + v * v;
	} while (s >= 1.0 || s == 0.0);
	s = sqrt(-2.0 * log(s) / s);
	rng->spare = v * s;
	rng->has_spare = 1;
	return u * s;
}
