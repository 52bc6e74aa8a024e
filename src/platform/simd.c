/*
 * simd.c — the CPU level of the vector kernels (see simd.h).
 */
#include <stdlib.h>
#include <string.h>

#include "platform/simd.h"

int			gc_simd_level = GC_SIMD_BASE;

static const char *const level_names[] = {"base", "avx2", "avx512"};

int
gc_simd_supported(void)
{
	int			level = GC_SIMD_BASE;

#ifdef GC_SIMD_X86
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
	{
		level = GC_SIMD_AVX2;
		if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
			__builtin_cpu_supports("avx512dq"))
			level = GC_SIMD_AVX512;
	}
#endif
	return level;
}

int
gc_simd_force(int level)
{
	int			prev = gc_simd_level,
				max = gc_simd_supported();

	gc_simd_level = level < GC_SIMD_BASE ? GC_SIMD_BASE : level > max ? max : level;
	return prev;
}

void
gc_simd_init(void)
{
	const char *want = getenv("GC_SIMD_LEVEL");
	int			level = GC_SIMD_AVX512;

	if (want)
		for (int l = GC_SIMD_BASE; l <= GC_SIMD_AVX512; l++)
			if (strcmp(want, level_names[l]) == 0)
				level = l;
	gc_simd_force(level);
}

const char *
gc_simd_name(int level)
{
	return level >= GC_SIMD_BASE && level <= GC_SIMD_AVX512 ? level_names[level] : "unknown";
}
