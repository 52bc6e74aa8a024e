/*
 * unit.h — a minimal TAP-style harness for the C unit tests of the PostgreSQL-free numerics.
 *
 * Each CHECK prints "ok N - what" or "not ok N - what"; the suite runner counts them.
 * Every test's main starts with gc_simd_init(), as the library's _PG_init does, and tests
 * of vector kernels run each level this CPU has through gc_simd_force.
 */
#ifndef GC_UNIT_H
#define GC_UNIT_H

#include <math.h>
#include <stdio.h>

#include "platform/simd.h"

static int	unit_n = 0;
static int	unit_failed = 0;

#define CHECK(cond, ...) \
	do { \
		unit_n++; \
		if (cond) \
			printf("ok %d - ", unit_n); \
		else \
		{ \
			unit_failed++; \
			printf("not ok %d - ", unit_n); \
		} \
		printf(__VA_ARGS__); \
		printf("\n"); \
	} while (0)

#define CHECK_CLOSE(a, b, tol, what) \
	do { \
		double ca_ = (a), cb_ = (b); \
		CHECK(fabs(ca_ - cb_) <= (tol), "%s: %.10g vs %.10g (tol %g)", what, ca_, cb_, (double) (tol)); \
	} while (0)

#define UNIT_DONE() (printf("# %d checks, %d failed\n", unit_n, unit_failed), unit_failed ? 1 : 0)

#endif
