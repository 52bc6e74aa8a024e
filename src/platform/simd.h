/*
 * simd.h — the CPU level of the vector kernels and their target macros, in one place.
 *
 * A kernel has a portable form and, on x86-64 GCC builds, forms compiled for AVX2 or
 * AVX-512 with the GC_TARGET_* attributes below; clang (which builds the bitcode for
 * PostgreSQL's JIT inlining) and other targets get the portable forms only. Which form runs
 * is decided once per process: gc_simd_init() reads the CPU (from _PG_init, and from each
 * unit test's main), and a kernel takes a vector path when gc_simd_level is high enough.
 * Before gc_simd_init the level is GC_SIMD_BASE. All forms perform the same IEEE operations
 * in the same order — the numerics are compiled with -ffp-contract=off, so no product is
 * fused into an addition unless a kernel says so with an explicit multiply-add — and agree
 * to the bit; the unit tests run every form through gc_simd_force. PostgreSQL-free.
 */
#ifndef GC_SIMD_H
#define GC_SIMD_H

#define GC_SIMD_BASE	0		/* portable code only */
#define GC_SIMD_AVX2	1		/* AVX2 and FMA */
#define GC_SIMD_AVX512	2		/* AVX-512 F, VL and DQ as well */

/* the level the kernels use; written only by gc_simd_init and gc_simd_force */
extern int	gc_simd_level;

/*
 * Decide the level: the highest this CPU and build support, lowered to the environment
 * variable GC_SIMD_LEVEL ("base", "avx2" or "avx512") when that is set, so that a server or
 * a test can be run on the portable forms on any machine.
 */
extern void gc_simd_init(void);

/* the highest level this CPU and build support */
extern int	gc_simd_supported(void);

/* set the level to min(level, gc_simd_supported()); returns the previous level (tests) */
extern int	gc_simd_force(int level);

/* "base", "avx2", "avx512" */
extern const char *gc_simd_name(int level);

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define GC_SIMD_X86 1
#include <immintrin.h>
#define GC_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define GC_TARGET_AVX512 __attribute__((target("avx2,fma,avx512f,avx512vl,avx512dq")))
#endif

#define GC_ALWAYS_INLINE inline __attribute__((always_inline))

/*
 * GC_AVX2_FORM(linkage, name, params, args, body): the void function `linkage void name
 * params` (linkage static or empty) that runs `body args`, an always-inline function,
 * compiled for AVX2 where gc_simd_level allows and as portable code otherwise. params is
 * the parenthesised parameter list, args the parenthesised argument names.
 */
#ifdef GC_SIMD_X86
#define GC_AVX2_FORM(linkage, name, params, args, body) \
	static GC_TARGET_AVX2 void name##Avx2 params { body args; } \
	linkage void name params \
	{ \
		if (gc_simd_level >= GC_SIMD_AVX2) \
			name##Avx2 args; \
		else \
			body args; \
	}
#else
#define GC_AVX2_FORM(linkage, name, params, args, body) \
	linkage void name params { body args; }
#endif

/* two, four and eight doubles at any double-aligned address; a compare of two doubles */
typedef double GcF64x2 __attribute__((vector_size(2 * sizeof(double)), aligned(sizeof(double)),
									  may_alias));
typedef long long GcI64x2 __attribute__((vector_size(2 * sizeof(long long))));
typedef double GcF64x4 __attribute__((vector_size(4 * sizeof(double)), aligned(sizeof(double)),
									  may_alias));
typedef double GcF64x8 __attribute__((vector_size(8 * sizeof(double)), aligned(sizeof(double)),
									  may_alias));

#endif							/* GC_SIMD_H */
