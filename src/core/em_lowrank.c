/*
 * em_lowrank.c — fitting a low-rank Gaussian copula, Σ = WWᵀ + σI with ‖W_j‖² + σ = 1, by the
 * EM of gcimpute's LowRankGaussianCopula (reference spec §1.11; Zhao & Udell, "Matrix
 * completion with quantified uncertainty through low rank Gaussian copula", NeurIPS 2020).
 *
 * With the thin SVD W = U diag(d) Vᵀ, a row's observed block is Σ_OO = σI + U_O D² U_Oᵀ, and
 * everything the E-step needs follows from the k×k matrix M_i = U_OᵀU_O + σD⁻² (Woodbury):
 *
 *   Σ_OO⁻¹ y = (y − U_O M_i⁻¹ U_Oᵀ y)/σ,   (Σ_OO⁻¹)_jj = (1 − u_jᵀ M_i⁻¹ u_j)/σ,
 *
 * so a row costs O(|O| k²) and no p×p matrix is inverted per row. The M-step needs, for each
 * column j, sums over the rows that observe j of k×k moments; they are accumulated one block
 * of rows at a time by dgemm against the block's observation mask, so memory is
 * O(n p) for the latent data plus O(k² p) whatever the number of rows.
 *
 * The fitted model also carries the materialised correlation WWᵀ + σI, so imputation (which
 * works from the precision matrix of model->corr) needs nothing specific to this model.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "copula.h"
#include "fit_internal.h"
#include "normal.h"
#include "precision.h"

/* rows per block of the E-step (the M-step moments are flushed with dgemm per block) */
#define LR_BLOCK_ROWS 256
/* the noise variance is kept above this so that Σ stays safely positive definite */
#define LR_MIN_SIGMA 1e-6
/* bound on the M-step accumulators (2 · k(k+1)/2 · p doubles) */
#define LR_MAX_ACCUM_BYTES ((size_t) 1 << 30)

#define ALLOC(ptr, count) \
	do { \
		(ptr) = alloc->alloc(alloc->ctx, sizeof(*(ptr)) * ((count) > 0 ? (count) : 1)); \
		if ((ptr) == NULL) { status = GC_ENOMEM; goto done; } \
	} while (0)

typedef struct LowRank
{
	size_t		n;
	int			q;				/* active (non-constant) columns */
	int			k;				/* rank */
	int			kp;				/* k(k+1)/2: a packed symmetric k×k matrix */
	int			B;				/* rows per block */
	/* latent data, n×q row-major (interval entries are updated in place: warm start) */
	double	   *Z,
			   *LO,
			   *HI;
	uint8_t    *ISINT;
	uint8_t    *mayint;			/* q: column is not continuous */
	/* parameters and the thin SVD of W */
	double	   *W;				/* q×k column-major */
	double		sigma;
	double	   *U;				/* q×k column-major */
	double	   *Ur;				/* the same, row-major, for gathering rows */
	double	   *d;				/* k singular values */
	double	   *Vt;				/* k×k */
	double		logdet_d2;		/* Σ log d_c² */
	/* per-row scratch */
	int		   *O,
			   *J;				/* observed columns; positions in O of interval entries */
	double	   *UO;				/* k×|O|: column o is u_{O[o]} */
	double	   *zO,
			   *vJ,
			   *znew,
			   *ajj;			/* |O| or |J| */
	double	   *Mf,
			   *A,
			   *G;				/* k×k */
	double	   *P,
			   *P2;				/* k×|J| */
	double	   *t,
			   *s,
			   *w;				/* k */
	/* block buffers, one column per row of the block */
	double	   *Gc,
			   *Ac;				/* kp×B: packed G_i = SS_i + σA_i, and A_i */
	double	   *Sc;				/* k×B: s_i */
	double	   *Mc,
			   *Zc,
			   *Vc;				/* q×B: observed mask, zero-filled z_i, ordinal variances v_i */
	/* M-step accumulators */
	double	   *F,
			   *RA;				/* kp×q: Σ_{i∈R_j} G_i and Σ_{i∈R_j} v_ij A_i */
	double	   *R1;				/* k×q: Σ_{i∈R_j} z_ij s_i */
	double		sumz2,
				sumv,
				nobs,
				ll;
	int			anyv;			/* the current block has a nonzero ordinal variance */
} LowRank;

/* index of (r, c), r >= c, in a packed lower-triangular k×k matrix */
static inline int
PackIdx(int r, int c, int k)
{
	return r + c * (2 * k - c - 1) / 2;
}

static void
PackLower(const double *S, int k, double *out)
{
	for (int c = 0; c < k; c++)
		for (int r = c; r < k; r++)
			out[PackIdx(r, c, k)] = S[r + (size_t) c * k];
}

static void
UnpackFull(const double *pk, int k, double *S)
{
	for (int c = 0; c < k; c++)
		for (int r = c; r < k; r++)
		{
			double		x = pk[PackIdx(r, c, k)];

			S[r + (size_t) c * k] = x;
			S[c + (size_t) r * k] = x;
		}
}

/*
 * _scale_corr (spec §1.11): σ' = σ·mean_j 1/(‖W_j‖² + σ), then W_j ← √(1−σ')·W_j/‖W_j‖, so
 * that WWᵀ + σ'I has a unit diagonal. A row that is exactly zero (possible only for
 * degenerate starts) gets its length on the first factor; the next M-step re-estimates it.
 */
static void
ScaleCorr(double *W, int q, int k, double *sigma)
{
	double		acc = 0,
				sig;

	for (int a = 0; a < q; a++)
	{
		double		tr = 0;

		for (int c = 0; c < k; c++)
			tr += W[a + (size_t) c * q] * W[a + (size_t) c * q];
		acc += 1.0 / (tr + *sigma);
	}
	sig = *sigma * acc / q;
	for (int a = 0; a < q; a++)
	{
		double		tr = 0;

		for (int c = 0; c < k; c++)
			tr += W[a + (size_t) c * q] * W[a + (size_t) c * q];
		if (tr > 0)
		{
			double		f = sqrt((1 - sig) / tr);

			for (int c = 0; c < k; c++)
				W[a + (size_t) c * q] *= f;
		}
		else
			W[a] = sqrt(1 - sig);
	}
	*sigma = sig;
}

/* Thin SVD of W (q×k) into U, d, Vt, and the row-major copy of U. */
static GcStatus
SvdW(LowRank *lr, double *work)
{
	int			q = lr->q,
				k = lr->k;
	lapack_int	info;

	memcpy(work, lr->W, sizeof(double) * q * k);
	info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', q, k, work, q, lr->d, lr->U, q, lr->Vt, k);
	if (info < 0)
		return GC_ELAPACK;
	if (info > 0)
		return GC_EDEGENERATE;
	lr->logdet_d2 = 0;
	for (int c = 0; c < k; c++)
	{
		/* a zero singular value would make σD⁻² infinite: keep it tiny instead */
		if (!(lr->d[c] > 1e-12))
			lr->d[c] = 1e-12;
		lr->logdet_d2 += 2 * log(lr->d[c]);
	}
	for (int a = 0; a < q; a++)
		for (int c = 0; c < k; c++)
			lr->Ur[(size_t) a * k + c] = lr->U[a + (size_t) c * q];
	return GC_OK;
}

/*
 * E-step for row i (spec §1.11), written to column b of the block buffers: the ordinal
 * Jacobi update of §1.5 step 2 with Σ_OO⁻¹ applied through Woodbury, the factor posterior
 * s_i = A_i U_Oᵀ z_O with A_i = M_i⁻¹, the second moment SS_i = A_i U_Oᵀ diag(v_O) U_O A_i +
 * s_i s_iᵀ, and the row's log-likelihood ℓ_i = log N(z_O; 0, Σ_OO) (|O| in the 2π term).
 */
static GcStatus
EStepRow(LowRank *lr, size_t i, int b, int num_ord_updates)
{
	int			q = lr->q,
				k = lr->k,
				kp = lr->kp;
	double	   *z = lr->Z + i * q;
	const double *lo = lr->LO + i * q,
			   *hi = lr->HI + i * q;
	const uint8_t *isint = lr->ISINT + i * q;
	double	   *mcol = lr->Mc + (size_t) b * q,
			   *zcol = lr->Zc + (size_t) b * q,
			   *vcol = lr->Vc + (size_t) b * q;
	double		sigma = lr->sigma;
	double		logdetM = 0,
				zz = 0,
				ts = 0,
				sv = 0;
	int			mo = 0,
				nj = 0,
				nv = 0;
	lapack_int	info;

	memset(mcol, 0, sizeof(double) * q);
	memset(zcol, 0, sizeof(double) * q);
	memset(vcol, 0, sizeof(double) * q);
	for (int a = 0; a < q; a++)
	{
		if (isnan(z[a]))
			continue;
		lr->O[mo] = a;
		memcpy(lr->UO + (size_t) mo * k, lr->Ur + (size_t) a * k, sizeof(double) * k);
		lr->zO[mo] = z[a];
		if (isint[a])
			lr->J[nj++] = mo;
		mo++;
	}
	if (mo == 0)
	{
		/* an empty row observes no column: it enters no sum of the M-step */
		memset(lr->Gc + (size_t) b * kp, 0, sizeof(double) * kp);
		memset(lr->Ac + (size_t) b * kp, 0, sizeof(double) * kp);
		memset(lr->Sc + (size_t) b * k, 0, sizeof(double) * k);
		return GC_OK;
	}

	/* M_i = U_OᵀU_O + σD⁻², its Cholesky factor, and A_i = M_i⁻¹ */
	cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, k, mo, 1.0, lr->UO, k, 0.0, lr->Mf, k);
	for (int c = 0; c < k; c++)
		lr->Mf[c + (size_t) c * k] += sigma / (lr->d[c] * lr->d[c]);
	info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', k, lr->Mf, k);
	if (info > 0)
		return GC_ENOTPD;
	if (info < 0)
		return GC_ELAPACK;
	for (int c = 0; c < k; c++)
		logdetM += 2 * log(lr->Mf[c + (size_t) c * k]);
	memcpy(lr->A, lr->Mf, sizeof(double) * k * k);
	info = LAPACKE_dpotri(LAPACK_COL_MAJOR, 'L', k, lr->A, k);
	if (info > 0)
		return GC_ENOTPD;
	if (info < 0)
		return GC_ELAPACK;
	for (int c = 0; c < k; c++)
		for (int r = c + 1; r < k; r++)
			lr->A[c + (size_t) r * k] = lr->A[r + (size_t) c * k];

	for (int t = 0; t < nj; t++)
		lr->vJ[t] = 0;
	if (nj > 0 && mo >= 2)
	{
		/* (Σ_OO⁻¹)_jj = (1 − u_jᵀ A u_j)/σ does not depend on z: once per row */
		for (int t = 0; t < nj; t++)
		{
			const double *u = lr->UO + (size_t) lr->J[t] * k;

			cblas_dsymv(CblasColMajor, CblasLower, k, 1.0, lr->A, k, u, 1, 0.0, lr->w, 1);
			lr->ajj[t] = (1 - cblas_ddot(k, u, 1, lr->w, 1)) / sigma;
		}
		for (int it = 0; it < num_ord_updates; it++)
		{
			/* w = A U_Oᵀ z_O, so (Σ_OO⁻¹ z_O)_j = (z_j − u_jᵀ w)/σ */
			cblas_dgemv(CblasColMajor, CblasNoTrans, k, mo, 1.0, lr->UO, k, lr->zO, 1, 0.0, lr->t, 1);
			cblas_dsymv(CblasColMajor, CblasLower, k, 1.0, lr->A, k, lr->t, 1, 0.0, lr->w, 1);
			for (int t = 0; t < nj; t++)
			{
				int			o = lr->J[t];
				int			a = lr->O[o];
				const double *u = lr->UO + (size_t) o * k;
				double		g = (lr->zO[o] - cblas_ddot(k, u, 1, lr->w, 1)) / sigma;
				double		mean,
							var;

				lr->znew[t] = lr->zO[o];
				lr->vJ[t] = 0;
				if (!(lr->ajj[t] > 0))
					continue;
				/* N(μ_j, s_j²) with s_j² = 1/(Σ_OO⁻¹)_jj, μ_j = z_j − s_j²(Σ_OO⁻¹z_O)_j */
				if (gc_truncnorm_moments(lr->zO[o] - g / lr->ajj[t], sqrt(1.0 / lr->ajj[t]),
										 lo[a], hi[a], &mean, &var) == 0)
				{
					lr->znew[t] = mean;
					lr->vJ[t] = var;
				}
			}
			/* Jacobi: all interval entries move together */
			for (int t = 0; t < nj; t++)
				lr->zO[lr->J[t]] = lr->znew[t];
		}
		for (int t = 0; t < nj; t++)
			z[lr->O[lr->J[t]]] = lr->zO[lr->J[t]];
	}

	/* factor posterior: s_i = A U_Oᵀ z_O */
	cblas_dgemv(CblasColMajor, CblasNoTrans, k, mo, 1.0, lr->UO, k, lr->zO, 1, 0.0, lr->t, 1);
	cblas_dsymv(CblasColMajor, CblasLower, k, 1.0, lr->A, k, lr->t, 1, 0.0, lr->s, 1);
	zz = cblas_ddot(mo, lr->zO, 1, lr->zO, 1);
	ts = cblas_ddot(k, lr->t, 1, lr->s, 1);
	/* log det Σ_OO = (|O|−k) log σ + log det(σI + U_OᵀU_O D²) = (|O|−k) log σ + log det M_i + log det D² */
	lr->ll += -0.5 * (mo * GC_LOG2PI + (mo - k) * log(sigma) + logdetM + lr->logdet_d2 +
					  (zz - ts) / sigma);
	lr->sumz2 += zz;
	lr->nobs += mo;

	/* G_i = SS_i + σA_i, with the ordinal term A U_Jᵀ diag(v_J) U_J A = (A P)(A P)ᵀ */
	for (int c = 0; c < k; c++)
		for (int r = c; r < k; r++)
			lr->G[r + (size_t) c * k] = sigma * lr->A[r + (size_t) c * k] + lr->s[r] * lr->s[c];
	for (int t = 0; t < nj; t++)
	{
		double		v = lr->vJ[t];

		if (v <= 0)
			continue;
		sv += v;
		vcol[lr->O[lr->J[t]]] = v;
		for (int c = 0; c < k; c++)
			lr->P[(size_t) nv * k + c] = sqrt(v) * lr->UO[(size_t) lr->J[t] * k + c];
		nv++;
	}
	if (nv > 0)
	{
		cblas_dsymm(CblasColMajor, CblasLeft, CblasLower, k, nv, 1.0, lr->A, k, lr->P, k,
					0.0, lr->P2, k);
		cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, k, nv, 1.0, lr->P2, k, 1.0, lr->G, k);
		lr->anyv = 1;
		lr->sumv += sv;
	}
	PackLower(lr->G, k, lr->Gc + (size_t) b * kp);
	PackLower(lr->A, k, lr->Ac + (size_t) b * kp);
	memcpy(lr->Sc + (size_t) b * k, lr->s, sizeof(double) * k);
	for (int o = 0; o < mo; o++)
	{
		mcol[lr->O[o]] = 1.0;
		zcol[lr->O[o]] = lr->zO[o];
	}
	return GC_OK;
}

/* Add a block's moments to the per-column sums: F += G Mᵀ, R1 += S Zᵀ, RA += A Vᵀ. */
static void
FlushBlock(LowRank *lr, int nb)
{
	int			q = lr->q,
				k = lr->k,
				kp = lr->kp;

	cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, kp, q, nb, 1.0, lr->Gc, kp,
				lr->Mc, q, 1.0, lr->F, kp);
	cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, k, q, nb, 1.0, lr->Sc, k,
				lr->Zc, q, 1.0, lr->R1, k);
	if (lr->anyv)
		cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, kp, q, nb, 1.0, lr->Ac, kp,
					lr->Vc, q, 1.0, lr->RA, kp);
	lr->anyv = 0;
}

/*
 * M-step, one column at a time (spec §1.11): r_j = Σ z_ij s_i + (Σ v_ij A_i) u_j,
 * F_j = Σ (SS_i + σA_i), w̃_j = F_j⁻¹ r_j, and Σ_j r_jᵀ w̃_j for the new σ. Writes W̃ (q×k).
 * Returns the failing column (1-based) in *badcol when F_j is not positive definite.
 */
static GcStatus
MStep(LowRank *lr, double *Wt, double *scol, int *badcol)
{
	int			q = lr->q,
				k = lr->k,
				kp = lr->kp;
	double		acc = 0;

	for (int a = 0; a < q; a++)
	{
		double	   *r = lr->t,
				   *w = lr->w;
		lapack_int	info;

		/* r_j = R1_j + RA_j u_j (RA_j symmetric, u_j the row of the current U) */
		UnpackFull(lr->RA + (size_t) a * kp, k, lr->G);
		memcpy(r, lr->R1 + (size_t) a * k, sizeof(double) * k);
		cblas_dsymv(CblasColMajor, CblasLower, k, 1.0, lr->G, k, lr->Ur + (size_t) a * k, 1, 1.0, r, 1);
		memcpy(w, r, sizeof(double) * k);
		UnpackFull(lr->F + (size_t) a * kp, k, lr->Mf);
		info = LAPACKE_dposv(LAPACK_COL_MAJOR, 'L', k, 1, lr->Mf, k, w, k);
		if (info < 0)
			return GC_ELAPACK;
		if (info > 0)
		{
			*badcol = a;
			return GC_ENOTPD;
		}
		acc += cblas_ddot(k, r, 1, w, 1);
		for (int c = 0; c < k; c++)
			Wt[a + (size_t) c * q] = w[c];
	}
	*scol = acc;
	return GC_OK;
}

/*
 * Initialisation (spec §1.11): L = the rank-k truncated SVD reconstruction of the zero-filled
 * latent matrix Z0, computed as Z0 V_k V_kᵀ with V_k the top eigenvectors of Z0ᵀZ0 (so memory
 * stays O(q²), not O(nq)); Z_init = L except at observed continuous entries and at observed
 * ordinal entries whose L falls outside their interval, which keep Z. Interval entries of the
 * working Z start at Z_init. Then R = corrcoef(Z_init) = u diag(e) uᵀ, σ₀ = mean(e_{k+1..q}),
 * W₀ = u_{1:k} diag(√(e_{1:k} − σ₀)), rescaled to a correlation.
 */
static GcStatus
InitLowRank(LowRank *lr, const GcFitOptions *opt, const GcAlloc *alloc)
{
	GcStatus	status = GC_OK;
	size_t		n = lr->n;
	int			q = lr->q,
				k = lr->k,
				B = lr->B;
	double	   *Gm = NULL,
			   *ev = NULL,
			   *Vk = NULL,
			   *mean = NULL,
			   *T = NULL;
	lapack_int	info;
	double		sig0 = 0;
	size_t		ticked = 0;

	ALLOC(Gm, (size_t) q * q);
	ALLOC(ev, q);
	ALLOC(Vk, (size_t) q * k);
	ALLOC(mean, q);
	ALLOC(T, (size_t) k * B);

	/* Z0ᵀZ0 by blocks (Zc holds the block's zero-filled rows as columns) */
	memset(Gm, 0, sizeof(double) * q * q);
	for (size_t b0 = 0; b0 < n; b0 += B)
	{
		int			nb = (int) (n - b0 < (size_t) B ? n - b0 : (size_t) B);

		for (int b = 0; b < nb; b++)
			for (int a = 0; a < q; a++)
			{
				double		x = lr->Z[(b0 + b) * q + a];

				lr->Zc[(size_t) b * q + a] = isnan(x) ? 0.0 : x;
			}
		cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, q, nb, 1.0, lr->Zc, q, 1.0, Gm, q);
	}
	info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', q, Gm, q, ev);
	if (info != 0)
	{
		status = info < 0 ? GC_ELAPACK : GC_EDEGENERATE;
		goto done;
	}
	/* eigenvalues ascend: the top k eigenvectors are the last k columns */
	for (int c = 0; c < k; c++)
		memcpy(Vk + (size_t) c * q, Gm + (size_t) (q - 1 - c) * q, sizeof(double) * q);

	/* second pass: L = Z0 V_k V_kᵀ by blocks, Z_init, and its Gram matrix and means */
	memset(Gm, 0, sizeof(double) * q * q);
	memset(mean, 0, sizeof(double) * q);
	for (size_t b0 = 0; b0 < n; b0 += B)
	{
		int			nb = (int) (n - b0 < (size_t) B ? n - b0 : (size_t) B);

		if (opt->tick && b0 - ticked >= 4096)
		{
			opt->tick(opt->progress_arg);
			ticked = b0;
		}
		for (int b = 0; b < nb; b++)
			for (int a = 0; a < q; a++)
			{
				double		x = lr->Z[(b0 + b) * q + a];

				lr->Zc[(size_t) b * q + a] = isnan(x) ? 0.0 : x;
			}
		cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, k, nb, q, 1.0, Vk, q,
					lr->Zc, q, 0.0, T, k);
		cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, q, nb, k, 1.0, Vk, q,
					T, k, 0.0, lr->Vc, q);
		for (int b = 0; b < nb; b++)
		{
			size_t		i = b0 + b;
			double	   *L = lr->Vc + (size_t) b * q;

			for (int a = 0; a < q; a++)
			{
				size_t		e = i * q + a;
				double		x = lr->Z[e];

				if (isnan(x))
					continue;
				if (!lr->mayint[a] || L[a] < lr->LO[e] || L[a] > lr->HI[e])
					L[a] = x;
				else if (lr->ISINT[e])
					lr->Z[e] = L[a];
			}
			for (int a = 0; a < q; a++)
				mean[a] += L[a];
		}
		cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, q, nb, 1.0, lr->Vc, q, 1.0, Gm, q);
	}
	for (int a = 0; a < q; a++)
		mean[a] /= (double) n;
	for (int c = 0; c < q; c++)
		for (int r = c; r < q; r++)
		{
			double		v = (Gm[r + (size_t) c * q] - (double) n * mean[r] * mean[c]) /
				(n > 1 ? (double) (n - 1) : 1.0);

			Gm[r + (size_t) c * q] = v;
			Gm[c + (size_t) r * q] = v;
		}
	if (gc_cov_to_corr(Gm, q, 1) != 0)
	{
		status = GC_ENOMEM;
		goto done;
	}
	info = LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', q, Gm, q, ev);
	if (info != 0)
	{
		status = info < 0 ? GC_ELAPACK : GC_EDEGENERATE;
		goto done;
	}
	for (int a = 0; a < q - k; a++)
		sig0 += ev[a];
	sig0 /= (double) (q - k);
	/* a correlation matrix with a flat spectrum (no structure at all) has σ₀ = 1 */
	if (sig0 < LR_MIN_SIGMA)
		sig0 = LR_MIN_SIGMA;
	if (sig0 > 1 - 1e-6)
		sig0 = 1 - 1e-6;
	for (int c = 0; c < k; c++)
	{
		double		e = ev[q - 1 - c] - sig0;
		double		f = sqrt(e > 1e-12 ? e : 1e-12);

		for (int a = 0; a < q; a++)
			lr->W[a + (size_t) c * q] = Gm[a + (size_t) (q - 1 - c) * q] * f;
	}
	lr->sigma = sig0;
	ScaleCorr(lr->W, q, k, &lr->sigma);

done:
	{
		void	   *ptrs[] = {Gm, ev, Vk, mean, T};

		for (size_t x = 0; x < sizeof(ptrs) / sizeof(ptrs[0]); x++)
			if (ptrs[x])
				alloc->dealloc(alloc->ctx, ptrs[x]);
	}
	return status;
}

GcStatus
gc_fit_lowrank(const double *X, size_t n, int p, int rank, const GcFitOptions *opt,
			   const GcAlloc *alloc, GcModel **model_out, char *errmsg, size_t errlen)
{
	GcStatus	status = GC_OK;
	GcModel    *model = NULL;
	LowRank		lr;
	int		   *act = NULL;
	int			q = 0,
				k = rank;
	double	   *Wt = NULL,
			   *Wnew = NULL,
			   *svdwork = NULL,
			   *S = NULL;

	LAPACKE_set_nancheck(0);
	memset(&lr, 0, sizeof(lr));
	*model_out = NULL;
	if (errlen > 0)
		errmsg[0] = '\0';
	if (n == 0)
	{
		snprintf(errmsg, errlen, "no rows to fit");
		return GC_EINVAL;
	}
	if (n >= UINT32_MAX)
	{
		snprintf(errmsg, errlen, "too many rows: %zu", n);
		return GC_EINVAL;
	}
	if (p < 2)
	{
		snprintf(errmsg, errlen, "a low-rank model needs at least two columns, rows have %d", p);
		return GC_EINVAL;
	}
	if (rank < 1 || rank >= p)
	{
		snprintf(errmsg, errlen, "rank %d is out of range for %d columns: it must be between 1 and %d",
				 rank, p, p - 1);
		return GC_EINVAL;
	}

	if (opt->training != GC_TRAIN_STANDARD)
	{
		snprintf(errmsg, errlen, "the low-rank model is fitted by standard EM only, not %s",
				 gc_training_name(opt->training));
		return GC_EINVAL;
	}

	ALLOC(model, 1);
	memset(model, 0, sizeof(*model));
	model->p = p;
	model->kind = GC_MODEL_LOWRANK;
	model->training = GC_TRAIN_STANDARD;
	model->rank = k;
	model->nrows = (int64_t) n;
	model->tol = opt->tol;
	model->max_iter = opt->max_iter;
	ALLOC(model->marg, p);
	memset(model->marg, 0, sizeof(GcMarginal) * p);
	ALLOC(model->corr, (size_t) p * p);
	ALLOC(model->W, (size_t) p * k);
	ALLOC(lr.Z, n * p);
	ALLOC(lr.LO, n * p);
	ALLOC(lr.HI, n * p);
	ALLOC(lr.ISINT, n * p);
	status = gc_fit_build_columns(X, n, p, opt, alloc, model, lr.Z, lr.LO, lr.HI, lr.ISINT,
								  errmsg, errlen);
	if (status != GC_OK)
		goto done;

	ALLOC(act, p);
	for (int j = 0; j < p; j++)
		if (model->marg[j].type != GC_CONSTANT)
			act[q++] = j;
	if (k >= q)
	{
		snprintf(errmsg, errlen, "rank %d must be less than the number of non-constant columns (%d of %d)",
				 k, q, p);
		status = GC_EINVAL;
		goto done;
	}
	lr.n = n;
	lr.q = q;
	lr.k = k;
	lr.kp = k * (k + 1) / 2;
	if ((size_t) 2 * lr.kp * q * sizeof(double) > LR_MAX_ACCUM_BYTES)
	{
		snprintf(errmsg, errlen, "rank %d is too large for %d columns: the fit would need more than %zu MB",
				 k, q, LR_MAX_ACCUM_BYTES >> 20);
		status = GC_EINVAL;
		goto done;
	}
	/* blocks of about a million doubles per buffer, between 16 and LR_BLOCK_ROWS rows */
	lr.B = (int) ((size_t) (1 << 20) / (size_t) (q > lr.kp ? q : lr.kp));
	if (lr.B > LR_BLOCK_ROWS)
		lr.B = LR_BLOCK_ROWS;
	if (lr.B < 16)
		lr.B = 16;

	/* active columns only, n×q row-major (in place, moving entries left) */
	if (q < p)
		for (size_t i = 0; i < n; i++)
			for (int a = 0; a < q; a++)
			{
				lr.Z[i * q + a] = lr.Z[i * p + act[a]];
				lr.LO[i * q + a] = lr.LO[i * p + act[a]];
				lr.HI[i * q + a] = lr.HI[i * p + act[a]];
				lr.ISINT[i * q + a] = lr.ISINT[i * p + act[a]];
			}
	ALLOC(lr.mayint, q);
	for (int a = 0; a < q; a++)
		lr.mayint[a] = (model->marg[act[a]].type != GC_CONTINUOUS);

	ALLOC(lr.W, (size_t) q * k);
	ALLOC(lr.U, (size_t) q * k);
	ALLOC(lr.Ur, (size_t) q * k);
	ALLOC(lr.d, k);
	ALLOC(lr.Vt, (size_t) k * k);
	ALLOC(lr.O, q);
	ALLOC(lr.J, q);
	ALLOC(lr.UO, (size_t) k * q);
	ALLOC(lr.zO, q);
	ALLOC(lr.vJ, q);
	ALLOC(lr.znew, q);
	ALLOC(lr.ajj, q);
	ALLOC(lr.Mf, (size_t) k * k);
	ALLOC(lr.A, (size_t) k * k);
	ALLOC(lr.G, (size_t) k * k);
	ALLOC(lr.P, (size_t) k * q);
	ALLOC(lr.P2, (size_t) k * q);
	ALLOC(lr.t, k);
	ALLOC(lr.s, k);
	ALLOC(lr.w, k);
	ALLOC(lr.Gc, (size_t) lr.kp * lr.B);
	ALLOC(lr.Ac, (size_t) lr.kp * lr.B);
	ALLOC(lr.Sc, (size_t) k * lr.B);
	ALLOC(lr.Mc, (size_t) q * lr.B);
	ALLOC(lr.Zc, (size_t) q * lr.B);
	ALLOC(lr.Vc, (size_t) q * lr.B);
	ALLOC(lr.F, (size_t) lr.kp * q);
	ALLOC(lr.RA, (size_t) lr.kp * q);
	ALLOC(lr.R1, (size_t) k * q);
	ALLOC(Wt, (size_t) q * k);
	ALLOC(Wnew, (size_t) q * k);
	ALLOC(svdwork, (size_t) q * k);

	status = InitLowRank(&lr, opt, alloc);
	if (status != GC_OK)
	{
		if (status != GC_ENOMEM)
			snprintf(errmsg, errlen, "the eigendecomposition of the initial correlation failed");
		goto done;
	}

	for (int iter = 1; iter <= opt->max_iter; iter++)
	{
		size_t		ticked = 0;
		double		scol = 0,
					signew,
					num = 0,
					den = 0,
					delta;
		int			badcol = -1;

		status = SvdW(&lr, svdwork);
		if (status != GC_OK)
		{
			snprintf(errmsg, errlen, "the SVD of the factor matrix failed at iteration %d", iter);
			goto done;
		}
		memset(lr.F, 0, sizeof(double) * lr.kp * q);
		memset(lr.RA, 0, sizeof(double) * lr.kp * q);
		memset(lr.R1, 0, sizeof(double) * k * q);
		lr.sumz2 = lr.sumv = lr.nobs = lr.ll = 0;
		lr.anyv = 0;

		/* E-step by blocks of rows, each block's moments flushed into the column sums */
		for (size_t b0 = 0; b0 < n; b0 += lr.B)
		{
			int			nb = (int) (n - b0 < (size_t) lr.B ? n - b0 : (size_t) lr.B);

			if (opt->tick && b0 - ticked >= 4096)
			{
				opt->tick(opt->progress_arg);
				ticked = b0;
			}
			for (int b = 0; b < nb; b++)
			{
				status = EStepRow(&lr, b0 + b, b, opt->num_ord_updates);
				if (status != GC_OK)
				{
					snprintf(errmsg, errlen, "the %d×%d system of row %zu is not positive definite at iteration %d",
							 k, k, b0 + b + 1, iter);
					goto done;
				}
			}
			FlushBlock(&lr, nb);
		}

		/* M-step */
		status = MStep(&lr, Wt, &scol, &badcol);
		if (status != GC_OK)
		{
			snprintf(errmsg, errlen, "the M-step system of column %d is not positive definite at iteration %d",
					 badcol >= 0 ? act[badcol] + 1 : 0, iter);
			goto done;
		}
		signew = (lr.sumz2 + lr.sumv - scol) / lr.nobs;
		if (!(signew > LR_MIN_SIGMA))
			signew = LR_MIN_SIGMA;
		/* W_new = W̃ diag(d) Vᵀ */
		for (int c = 0; c < k; c++)
			for (int a = 0; a < q; a++)
				Wt[a + (size_t) c * q] *= lr.d[c];
		cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, q, k, k, 1.0, Wt, q, lr.Vt, k,
					0.0, Wnew, q);
		ScaleCorr(Wnew, q, k, &signew);
		for (size_t e = 0; e < (size_t) q * k; e++)
		{
			double		dd = Wnew[e] - lr.W[e];

			num += dd * dd;
			den += Wnew[e] * Wnew[e];
			if (!isfinite(Wnew[e]))
			{
				snprintf(errmsg, errlen, "the factor matrix is not finite at iteration %d", iter);
				status = GC_EDEGENERATE;
				goto done;
			}
		}
		delta = den > 0 ? sqrt(num / den) : 0;
		memcpy(lr.W, Wnew, sizeof(double) * q * k);
		lr.sigma = signew;
		model->n_iter = iter;
		model->delta = delta;
		model->loglik = lr.ll / (double) n;
		if (opt->progress)
			opt->progress(opt->progress_arg, iter, delta, model->loglik);
		if (delta < opt->tol)
		{
			model->converged = 1;
			break;
		}
	}

	/* the model: W with zero rows for constants, σ, and Σ = WWᵀ + σI materialised */
	memset(model->W, 0, sizeof(double) * p * k);
	for (int c = 0; c < k; c++)
		for (int a = 0; a < q; a++)
			model->W[act[a] + (size_t) c * p] = lr.W[a + (size_t) c * q];
	model->sigma = lr.sigma;
	memset(model->corr, 0, sizeof(double) * p * p);
	for (int j = 0; j < p; j++)
		model->corr[j + (size_t) j * p] = 1.0;
	ALLOC(S, (size_t) q * q);
	cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, q, k, 1.0, lr.W, q, 0.0, S, q);
	for (int b = 0; b < q; b++)
		for (int a = b + 1; a < q; a++)
		{
			/* one value for (a, b) and (b, a): exactly symmetric; the diagonal is exactly 1 */
			double		c = S[a + (size_t) b * q];

			if (c > 1)
				c = 1;
			else if (c < -1)
				c = -1;
			model->corr[act[a] + (size_t) act[b] * p] = c;
			model->corr[act[b] + (size_t) act[a] * p] = c;
		}

done:
	{
		void	   *ptrs[] = {act, Wt, Wnew, svdwork, S, lr.Z, lr.LO, lr.HI, lr.ISINT, lr.mayint,
			lr.W, lr.U, lr.Ur, lr.d, lr.Vt, lr.O, lr.J, lr.UO, lr.zO, lr.vJ, lr.znew, lr.ajj,
			lr.Mf, lr.A, lr.G, lr.P, lr.P2, lr.t, lr.s, lr.w, lr.Gc, lr.Ac, lr.Sc, lr.Mc,
		lr.Zc, lr.Vc, lr.F, lr.RA, lr.R1};

		for (size_t x = 0; x < sizeof(ptrs) / sizeof(ptrs[0]); x++)
			if (ptrs[x])
				alloc->dealloc(alloc->ctx, ptrs[x]);
	}
	if (status != GC_OK)
	{
		if (model)
			gc_model_free(model, alloc);
		return status;
	}
	*model_out = model;
	return GC_OK;
}
