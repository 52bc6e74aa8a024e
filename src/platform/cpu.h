/*
 * cpu.h — which vector kernels this CPU can run, decided once per process.
 *
 * The core's kernels come in a portable form and, on x86-64 built with GCC, AVX2 and AVX-512
 * forms compiled with target attributes. Every module asks gc_cpu_level() before its first
 * vector call and keeps the answer in its own *_isa variable, which tests may overwrite to
 * force a path. Valgrind's CPU reports no AVX-512, so under valgrind the portable or AVX2
 * forms run. PostgreSQL-free.
 */
#ifndef GC_CPU_H
#define GC_CPU_H

#define GC_CPU_BASE		0		/* neither of the below (or not an x86-64 GCC build) */
#define GC_CPU_AVX2		1		/* AVX2 and FMA */
#define GC_CPU_AVX512	2		/* AVX-512 F, VL and DQ, and AVX2 and FMA */

extern int	gc_cpu_level(void);

#endif
