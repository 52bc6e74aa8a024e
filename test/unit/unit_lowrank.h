/*
 * unit_lowrank.h — test data for the low-rank tests: a random p×k factor matrix.
 */
#ifndef UNIT_LOWRANK_H
#define UNIT_LOWRANK_H

#include <math.h>

#include "platform/rng.h"

/* W (p×k, column-major) with Gaussian entries, each row rescaled to squared length rowsq */
static void
UnitRandomFactor(GcRng *rng, double *W, int p, int k, double rowsq)
{
	for (int j = 0; j < p; j++)
	{
		double		len = 0;

		for (int c = 0; c < k; c++)
		{
			W[j + (size_t) c * p] = gc_rng_normal(rng);
			len += W[j + (size_t) c * p] * W[j + (size_t) c * p];
		}
		for (int c = 0; c < k; c++)
			W[j + (size_t) c * p] *= sqrt(rowsq / len);
	}
}

#endif
