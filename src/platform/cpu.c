/*
 * cpu.c — which vector kernels this CPU can run (see cpu.h).
 */
#include "platform/cpu.h"

static int	cpu_level = -1;

int
gc_cpu_level(void)
{
	if (cpu_level < 0)
	{
		int			level = GC_CPU_BASE;

#if defined(__x86_64__) && defined(__GNUC__)
		__builtin_cpu_init();
		if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		{
			level = GC_CPU_AVX2;
			if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
				__builtin_cpu_supports("avx512dq"))
				level = GC_CPU_AVX512;
		}
#endif
		cpu_level = level;
	}
	return cpu_level;
}
