/*
 * precision.h — dense helpers around LAPACKE/OpenBLAS: the precision matrix Λ = Σ⁻¹ with
 * log det Σ, covariance of row-major data via dsyrk, rescaling to a correlation matrix.
 */
#ifndef GC_PRECISION_H
#define GC_PRECISION_H

#include <stddef.h>

#include "copula/copula.h"

typedef struct GcPrecision
{
	int			q;
	double	   *L;				/* Cholesky factor of Σ (lower), q×q */
	double	   *Lam;			/* Σ⁻¹, full symmetric, q×q column-major */
	double		logdet;			/* log det Σ */
} GcPrecision;

extern GcStatus gc_precision_init(GcPrecision *pr, int q, const GcAlloc *alloc);
extern void gc_precision_free(GcPrecision *pr, const GcAlloc *alloc);

/*
 * Factor Σ and invert it. If Σ is not numerically positive definite, shrink it towards
 * the identity, (1−ε)Σ + εI with ε growing from 1e-10, and count the steps in *ridge.
 */
extern GcStatus gc_precision_set(GcPrecision *pr, const double *Sigma, int *ridge);

/*
 * Column-centred covariance (divisor n−1) of the n×q row-major matrix A; also its means.
 * If Lam is given, *quad receives Σ_i a_iᵀ Lam a_i = ⟨Lam, AᵀA⟩ from the same Gram matrix.
 */
extern void gc_cov_rows(const double *A, size_t n, int q, double *cov, double *mean,
						const double *Lam, double *quad);

/*
 * D^{-1/2} S D^{-1/2} in place. A zero variance gives an identity row when lenient,
 * otherwise returns 1.
 */
extern int	gc_cov_to_corr(double *S, int q, int lenient);

/* ‖B − A‖_F / ‖B‖_F */
extern double gc_rel_change(const double *A, const double *B, int q);

/* Free a model built by this library (marginal arrays, matrices, the struct). */
extern void gc_model_free(GcModel *model, const GcAlloc *alloc);

#endif
