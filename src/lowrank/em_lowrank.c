/*
 * em_lowrank.c — fitting a low-rank Gaussian copula, Σ = WWᵀ + σI with ‖W_j‖² + σ = 1, by the
 * EM of gcimpute's LowRankGaussianCopula (docs/algorithms.md §11; Zhao & Udell, "Matrix
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
 * The per-row Woodbury kernel (cond_lowrank.c) is shared with single imputation. The fitted
 * model also carries the materialised correlation WWᵀ + σI, so everything that works from
 * model->corr (draws, intervals, gc_correlation) works on a low-rank model unchanged.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "lowrank/cond_lowrank.h"
#include "lowrank/lrbatch.h"
#include "lowrank/lrkern.h"
#include "copula/copula.h"
#include "copula/fit_internal.h"
#include "copula/mills.h"
#include "copula/normal.h"
#include "copula/precision.h"

/*
 * Rows per block of the E-step (the M-step moments are flushed per block). A block's views
 * of Z, the mask and the variances are read by several products each, so they should stay
 * in the core's L2 cache: about LR_BLOCK_BYTES for the three together, at most
 * LR_BLOCK_ROWS rows (larger blocks are re-read from L3 by every product).
 */
#define LR_BLOCK_ROWS 64
#define LR_BLOCK_BYTES ((size_t) 768 << 10)
/* the noise variance is kept above this so that Σ stays safely positive definite */
#define LR_MIN_SIGMA 1e-6
/* bound on the M-step accumulators (2 · k(k+1)/2 · p doubles) */
#define LR_MAX_ACCUM_BYTES ((size_t) 1 << 30)

/*
 * Phase profile for the harness (test/bench/lowrank_fit_harness.c built with
 * -DGC_LR_PROFILE): CPU seconds accumulated per phase; compiled out otherwise.
 */
#ifdef GC_LR_PROFILE
#include <time.h>
double		gc_lr_prof[20];
static double gc_lr_prof_t;
static double
LrProfNow(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}
#define LR_PROF_START() (gc_lr_prof_t = LrProfNow())
#define LR_PROF(ph) do { double t_ = LrProfNow(); gc_lr_prof[ph] += t_ - gc_lr_prof_t; gc_lr_prof_t = t_; } while (0)
#else
#define LR_PROF_START() ((void) 0)
#define LR_PROF(ph) ((void) 0)
#endif

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
	int			kpp;			/* kp padded to 8: the leading dimension of packed columns */
	int			B;				/* rows per block */
	/*
	 * latent data, n×q row-major (interval entries are updated in place: warm start). Z has
	 * NaN at missing entries until the observation pattern is built, zero afterwards; MK is the
	 * observation mask (1/0). Stored for all rows, a block of them is directly the q×nb
	 * column-major operand of the E-step's matrix products: nothing is copied or written
	 * back per block and iteration. VV holds one block's ordinal variances v_ij the same way
	 * (B×q): each E-step writes every v it reads, so none outlives its block; it is zero
	 * except at the block's interval entries, which are zeroed again when the block is done.
	 */
	double	   *Z,
			   *MK,
			   *VV;
	uint32_t   *CODE;			/* n×q until the pattern is built: each entry's level (0: none) */
	/* the fixed observation pattern: row i observes obs[rowptr[i] .. rowptr[i+1]−1], of which
	 * the interval entries are ints[intptr[i] .. intptr[i+1]−1] (columns, ascending); ocode
	 * and icode hold their levels, whose latent intervals are in lv */
	size_t	   *rowptr,
			   *intptr;
	int		   *obs,
			   *ints;
	uint32_t   *ocode,
			   *icode;
	GcLevels	lv;
	/* parameters, and the Woodbury kernel holding the thin SVD of W and UU */
	double	   *W;				/* q×k column-major */
	double	   *UUt;			/* q×kp: UU transposed (a column per packed entry) */
	double		sigma;
	GcLrCond	cond;
	/* scratch */
	double	   *Mf,
			   *G,
			   *Bm;				/* k×k */
	double	   *r,
			   *w;				/* k */
	/* the current block, one column per row: views of Z and MK, and VV */
	double	   *Zc,
			   *Mc,
			   *Vc;
	/* block buffers, one column per row of the block (AJ and UW double as the
	 * initialisation's scratch) */
	double	   *AJ,
			   *UW;				/* q×B: u_jᵀA_iu_j then (Σ_OO⁻¹)_jj; U w_i */
	double	   *Pk,				/* kp×B: packed U_OᵀU_O, then Σ_j v_ij u_j u_jᵀ */
			   *Ac,				/* kp×B: packed A_i */
			   *A2,				/* kp×B: packed A_i with doubled off-diagonal entries */
			   *Gc;				/* kp×B: packed G_i = SS_i + σA_i */
	double	   *Af;				/* k²×B: A_i in full */
	double	   *Sc,
			   *Tc,
			   *Wc;				/* k×B: s_i, U_Oᵀz_O, A_i U_Oᵀz_O */
	int		   *mo;				/* B: |O| of each row */
	uint8_t    *upd;			/* B: the row runs the ordinal update */
	/*
	 * the block's rows eight at a time through the batch kernels (lrbatch.h), where they
	 * run: per group of eight rows A_i and s_i lane-major, whether the group went that way
	 */
	int			vec;
	double	   *As,				/* B/8 × kp×8 */
			   *Ss,				/* B/8 × k×8 */
			   *dg,				/* k×8: the factors' diagonals */
			   *dsig,			/* k: σ/d_c² */
			   *lbw;			/* GC_LRB_WORK(k) */
	uint8_t    *gvec;			/* B/8 */
	double		dot8[GC_LRB_LANES];	/* Σ_j t_j s_j of a group's rows */
	/* M-step accumulators */
	double	   *F,
			   *RA;				/* q×kp: Σ_{i∈R_j} G_i and Σ_{i∈R_j} v_ij A_i, row j packed */
	double	   *R1;				/* q×k: Σ_{i∈R_j} z_ij s_i */
	double		sumz2,
				sumv,
				nobs,
				ll;
} LowRank;


/* the same for a packed matrix stored with stride ld between its entries */
static void
UnpackColumn(const double *pk, size_t ld, int k, double *S)
{
	for (int c = 0; c < k; c++)
		for (int r = c; r < k; r++)
		{
			double		x = pk[gc_lr_packidx(r, c, k) * ld];

			S[r + (size_t) c * k] = x;
			S[c + (size_t) r * k] = x;
		}
}

/*
 * _scale_corr (docs/algorithms.md §11): σ' = σ·mean_j 1/(‖W_j‖² + σ), then W_j ← √(1−σ')·W_j/‖W_j‖, so
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

/*
 * The block's latent rows as columns (zero-filled values, mask, variances); per row its
 * observed count and whether it runs the ordinal update (a row that runs none keeps v = 0:
 * its entries of VV are not written). Returns whether any row updates.
 */
static int
BlockRows(LowRank *lr, size_t b0, int nb, int num_ord_updates)
{
	int			q = lr->q,
				anyupd = 0;

	lr->Zc = lr->Z + b0 * q;
	lr->Mc = lr->MK + b0 * q;
	lr->Vc = lr->VV;
	for (int b = 0; b < nb; b++)
	{
		size_t		i = b0 + b;
		int			mo = (int) (lr->rowptr[i + 1] - lr->rowptr[i]),
					nint = (int) (lr->intptr[i + 1] - lr->intptr[i]);

		lr->mo[b] = mo;
		lr->upd[b] = nint > 0 && mo >= 2 && num_ord_updates > 0;
		anyupd |= lr->upd[b];
	}
	return anyupd;
}

/*
 * Packed U_OᵀU_O of every row, then M_i's factor, log det and inverse A_i (eight rows at
 * once where a group allows, the same bits as the row-by-row loop), and the log det terms
 * of ℓ_i. Returns GC_ENOTPD with *badrow set when some M_i is not positive definite.
 */
static GcStatus
BlockFactor(LowRank *lr, size_t b0, int nb, size_t *badrow)
{
	GcLrCond   *c = &lr->cond;
	int			k = lr->k,
				kp = lr->kp,
				kpp = lr->kpp;
	double		sigma = lr->sigma;

	gc_lrk_gemm(kpp, nb, lr->q, c->UU, kpp, lr->Mc, 1, lr->q, lr->Pk, kpp, 0);
	LR_PROF(7);
	if (lr->vec)
		for (int j = 0; j < k; j++)
			lr->dsig[j] = sigma / (c->d[j] * c->d[j]);
	for (int g = 0; g * GC_LRB_LANES < nb; g++)
	{
		int			bs = g * GC_LRB_LANES,
					be = bs + GC_LRB_LANES < nb ? bs + GC_LRB_LANES : nb,
					full = lr->vec && be - bs == GC_LRB_LANES;

		for (int b = bs; b < be && full; b++)
			full = lr->mo[b] > 0;
		lr->gvec[g] = (uint8_t) full;
		if (full)
		{
			double	   *as = lr->As + (size_t) g * lr->kp * GC_LRB_LANES;
			unsigned	bad = gc_lrb_factor_invert(lr->Pk + (size_t) bs * kpp, kpp, lr->dsig, k,
												   as, lr->dg, lr->lbw);

			if (bad)
			{
				*badrow = b0 + bs + __builtin_ctz(bad);
				return GC_ENOTPD;
			}
			gc_lrb_store_packed(as, k, lr->Ac + (size_t) bs * kpp, lr->A2 + (size_t) bs * kpp, kpp);
			for (int b = bs; b < be; b++)
			{
				double		logdetM = 0;

				for (int j = 0; j < k; j++)
					logdetM += 2 * log(lr->dg[j * GC_LRB_LANES + (b - bs)]);
				lr->ll += -0.5 * (lr->mo[b] * GC_LOG2PI + (lr->mo[b] - k) * log(sigma) + logdetM +
								  c->logdet_d2);
			}
			continue;
		}
		for (int b = bs; b < be; b++)
		{
			double	   *A = lr->Af + (size_t) b * k * k,
					   *ac = lr->Ac + (size_t) b * kpp,
					   *a2 = lr->A2 + (size_t) b * kpp;
			double		logdetM;

			if (lr->mo[b] == 0)
			{
				/* an empty row observes no column: it enters no sum of the M-step */
				memset(A, 0, sizeof(double) * k * k);
				memset(ac, 0, sizeof(double) * kp);
				memset(a2, 0, sizeof(double) * kp);
				continue;
			}
			if (gc_lr_factor_invert(lr->Pk + (size_t) b * kpp, c->d, sigma, k, lr->Mf, lr->G, A, &logdetM))
			{
				*badrow = b0 + b;
				return GC_ENOTPD;
			}
			for (int j = 0; j < k; j++)
				for (int r = j; r < k; r++)
				{
					double		x = A[r + (size_t) j * k];

					*ac++ = x;
					*a2++ = r == j ? x : 2 * x;
				}
			/* log det Σ_OO = (|O|−k) log σ + log det M + log det D² */
			lr->ll += -0.5 * (lr->mo[b] * GC_LOG2PI + (lr->mo[b] - k) * log(sigma) + logdetM +
							  c->logdet_d2);
		}
	}
	LR_PROF(8);
	return GC_OK;
}

/* w_i = A_i U_Oᵀ z_O for every updating row into Wc (zeros for the others). */
static void
BlockW(LowRank *lr, int nb)
{
	GcLrCond   *c = &lr->cond;
	int			q = lr->q,
				k = lr->k;

	cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, k, nb, q, 1.0, c->Ur, c->kq,
				lr->Zc, q, 0.0, lr->Tc, k);
	for (int b = 0; b < nb; b++)
	{
		if (lr->gvec[b / GC_LRB_LANES])
		{
			unsigned	keep = 0;

			for (int l = 0; l < GC_LRB_LANES; l++)
				keep |= (unsigned) lr->upd[b + l] << l;
			gc_lrb_symv(lr->As + (size_t) (b / GC_LRB_LANES) * lr->kp * GC_LRB_LANES, k,
						lr->Tc + (size_t) b * k, k, NULL, lr->Wc + (size_t) b * k, k, keep, NULL);
			b += GC_LRB_LANES - 1;
		}
		else if (lr->upd[b])
			gc_sym_matvec(lr->Af + (size_t) b * k * k, k, lr->Tc + (size_t) b * k,
						  lr->Wc + (size_t) b * k);
		else
			memset(lr->Wc + (size_t) b * k, 0, sizeof(double) * k);
	}
}

/*
 * The ordinal updates: (Σ_OO⁻¹)_jj = (1 − u_jᵀ A u_j)/σ for every column at once, then per
 * sweep w_i, so that (Σ_OO⁻¹ z_O)_j = (z_j − u_jᵀ w_i)/σ, and every interval entry of a row
 * moves from the same previous vector (Jacobi): the row's truncated-normal moments go as
 * one batch into its z and v.
 */
static void
BlockOrdinalUpdates(LowRank *lr, size_t b0, int nb, int num_ord_updates)
{
	GcLrCond   *c = &lr->cond;
	int			q = lr->q,
				k = lr->k,
				kp = lr->kp,
				kpp = lr->kpp;
	double		isigma = 1.0 / lr->sigma;

	gc_lrk_gemm(q, nb, kp, lr->UUt, q, lr->A2, 1, kpp, lr->AJ, q, 0);
	LR_PROF(17);
	for (int it = 0; it < num_ord_updates; it++)
	{
		BlockW(lr, nb);
		cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, q, nb, k, 1.0, c->Ur, c->kq,
					lr->Wc, k, 0.0, lr->UW, q);
		LR_PROF(18);
		for (int b = 0; b < nb; b++)
		{
			size_t		i = b0 + b;
			double	   *zc = lr->Zc + (size_t) b * q,
					   *vc = lr->Vc + (size_t) b * q;
			GcLrQueue	tq = {c->tmu, c->ts, c->tlo, c->thi, c->tmean, c->tvar, c->tidx};
			int			nt;

			if (!lr->upd[b])
				continue;
			nt = gc_lr_queue_row(tq, lr->ints + lr->intptr[i], lr->icode + lr->intptr[i],
								 (int) (lr->intptr[i + 1] - lr->intptr[i]), zc,
								 lr->UW + (size_t) b * q, lr->AJ + (size_t) b * q, lr->lv.lo,
								 lr->lv.hi, vc, isigma);
			LR_PROF(9);
			gc_truncnorm_moments_mills_batch(nt, c->tmu, c->ts, c->tlo, c->thi, c->tmean, c->tvar);
			LR_PROF(10);
			for (int e = 0; e < nt; e++)
			{
				zc[c->tidx[e]] = c->tmean[e];
				vc[c->tidx[e]] = c->tvar[e];
			}
		}
	}
}

/*
 * s_i = A_i U_Oᵀ z_O with the updated z, and the data terms of ℓ_i and σ (Σ z², Σ v,
 * observed counts). Returns whether any row has a nonzero variance.
 */
static int
BlockFirstMoments(LowRank *lr, size_t b0, int nb)
{
	GcLrCond   *c = &lr->cond;
	int			q = lr->q,
				k = lr->k,
				anyv = 0;
	double		sigma = lr->sigma;

	cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, k, nb, q, 1.0, c->Ur, c->kq,
				lr->Zc, q, 0.0, lr->Tc, k);
	for (int b = 0; b < nb; b++)
	{
		const double *zc = lr->Zc + (size_t) b * q,
				   *vc = lr->Vc + (size_t) b * q,
				   *t = lr->Tc + (size_t) b * k;
		double	   *s = lr->Sc + (size_t) b * k;
		double		zz = 0,
					ts = 0,
					sv = 0;
		int			lane = b % GC_LRB_LANES;

		if (lr->gvec[b / GC_LRB_LANES])
		{
			/* the group's s_i (and Σ_j t_j s_j) at its first row, eight at once */
			if (lane == 0)
				gc_lrb_symv(lr->As + (size_t) (b / GC_LRB_LANES) * lr->kp * GC_LRB_LANES, k, t, k,
							lr->Ss + (size_t) (b / GC_LRB_LANES) * k * GC_LRB_LANES, s, k, 0xff,
							lr->dot8);
			ts = lr->dot8[lane];
		}
		else
		{
			if (lr->mo[b] == 0)
			{
				memset(s, 0, sizeof(double) * k);
				continue;
			}
			gc_sym_matvec(lr->Af + (size_t) b * k * k, k, t, s);
			for (int j = 0; j < k; j++)
				ts += t[j] * s[j];
		}
		/*
		 * over the observed entries only: the others hold z = v = 0, and adding an exact
		 * zero leaves a sum unchanged, so this is the full row's sum to the bit at about
		 * half the length of its dependency chain
		 */
		for (size_t e = lr->rowptr[b0 + b]; e < lr->rowptr[b0 + b + 1]; e++)
		{
			int			a = lr->obs[e];

			zz += zc[a] * zc[a];
			sv += vc[a];
		}
		lr->ll += -0.5 * (zz - ts) / sigma;
		lr->sumz2 += zz;
		lr->nobs += lr->mo[b];
		lr->sumv += sv;
		anyv |= sv > 0;
	}
	return anyv;
}

/* G_i = σA + s sᵀ + A (Σ_j v_j u_j u_jᵀ) A, lower triangle packed (the v term when anyv). */
static void
BlockSecondMoments(LowRank *lr, int nb, int anyv)
{
	GcLrCond   *c = &lr->cond;
	int			k = lr->k,
				kpp = lr->kpp;
	double		sigma = lr->sigma;

	if (anyv)
		gc_lrk_gemm(kpp, nb, lr->q, c->UU, kpp, lr->Vc, 1, lr->q, lr->Pk, kpp, 0);
	LR_PROF(19);
	for (int b = 0; b < nb; b++)
	{
		if (lr->gvec[b / GC_LRB_LANES])
		{
			int			g = b / GC_LRB_LANES;

			gc_lrb_second_moments(lr->As + (size_t) g * lr->kp * GC_LRB_LANES,
								  lr->Ss + (size_t) g * k * GC_LRB_LANES, lr->Pk + (size_t) b * kpp,
								  kpp, anyv ? 0xff : 0, sigma, k, lr->Gc + (size_t) b * kpp, kpp,
								  lr->lbw);
			b += GC_LRB_LANES - 1;
			continue;
		}
		gc_lr_second_moment(lr->Af + (size_t) b * k * k, lr->Sc + (size_t) b * k,
							anyv && lr->mo[b] > 0 ? lr->Pk + (size_t) b * kpp : NULL, sigma, k,
							lr->Mf, lr->Bm, lr->G, lr->Gc + (size_t) b * kpp);
	}
}

/*
 * The block's moments into the per-column sums, kept transposed (one column per packed
 * entry) so that the block's mask, data and variances are the long, contiguous operand:
 * Fᵀ += M Gᵀ, R1ᵀ += Z Sᵀ, RAᵀ += V Aᵀ. The block's variances are read for the last time:
 * VV back to zero for the next block.
 */
static void
BlockFlush(LowRank *lr, size_t b0, int nb, int anyupd, int anyv)
{
	int			q = lr->q,
				k = lr->k,
				kp = lr->kp,
				kpp = lr->kpp;

	gc_lrk_gemm(q, kp, nb, lr->Mc, q, lr->Gc, kpp, 1, lr->F, q, 1);
	gc_lrk_gemm(q, k, nb, lr->Zc, q, lr->Sc, k, 1, lr->R1, q, 1);
	if (anyv)
		gc_lrk_gemm(q, kp, nb, lr->Vc, q, lr->Ac, kpp, 1, lr->RA, q, 1);
	for (int b = 0; anyupd && b < nb; b++)
		if (lr->upd[b])
		{
			double	   *vc = lr->Vc + (size_t) b * q;

			for (size_t e = lr->intptr[b0 + b]; e < lr->intptr[b0 + b + 1]; e++)
				vc[lr->ints[e]] = 0;
		}
}

/*
 * E-step for a block of rows b0 .. b0+nb−1 (docs/algorithms.md §11), one column of the block buffers per
 * row. Everything that sums over a row's observed columns is a product of the block's
 * zero-filled data or observation mask with a q-wide matrix of U, so it runs as dgemm over
 * the whole block instead of small per-row BLAS calls:
 *
 *   packed U_OᵀU_O          = UU · mask_i             (UU: column j the packed u_j u_jᵀ)
 *   u_jᵀ A_i u_j, all j     = UUᵀ · packed(A_i, off-diagonals doubled)
 *   U_Oᵀ z_O                = Uᵀ z_i (zero-filled),  u_jᵀ w_i, all j = U w_i
 *   Σ_j v_ij u_j u_jᵀ       = UU · v_i
 *
 * Per row remain the k×k Cholesky factor and inverse A_i = M_i⁻¹ of M_i = U_OᵀU_O + σD⁻²,
 * the ordinal update (Jacobi: every interval entry moves from the same previous vector),
 * s_i = A_i U_Oᵀ z_O, the second moment G_i = σA_i + s_i s_iᵀ + A_i (Σ_j v_ij u_j u_jᵀ) A_i,
 * and the row's log-likelihood ℓ_i = log N(z_O; 0, Σ_OO) (|O|, not p, in the 2π term).
 * Returns GC_ENOTPD with *badrow set when some M_i is not positive definite.
 */
static GcStatus
EStepBlock(LowRank *lr, size_t b0, int nb, int num_ord_updates, size_t *badrow)
{
	int			anyupd = BlockRows(lr, b0, nb, num_ord_updates),
				anyv;
	GcStatus	status = BlockFactor(lr, b0, nb, badrow);

	if (status != GC_OK)
		return status;
	if (anyupd)
		BlockOrdinalUpdates(lr, b0, nb, num_ord_updates);
	LR_PROF(9);
	anyv = BlockFirstMoments(lr, b0, nb);
	LR_PROF(11);
	BlockSecondMoments(lr, nb, anyv);
	LR_PROF(12);
	BlockFlush(lr, b0, nb, anyupd, anyv);
	LR_PROF(13);
	return GC_OK;
}

/*
 * M-step, one column at a time (docs/algorithms.md §11): r_j = Σ z_ij s_i + (Σ v_ij A_i) u_j,
 * F_j = Σ (SS_i + σA_i), w̃_j = F_j⁻¹ r_j, and Σ_j r_jᵀ w̃_j for the new σ. Writes W̃ (q×k).
 * Returns the failing column (1-based) in *badcol when F_j is not positive definite.
 */
static GcStatus
MStep(LowRank *lr, double *Wt, double *scol, int *badcol)
{
	int			q = lr->q,
				k = lr->k;
	double		acc = 0;

	for (int a = 0; a < q; a++)
	{
		double	   *r = lr->r,
				   *w = lr->w;
		lapack_int	info;

		/* r_j = R1_j + RA_j u_j (RA_j symmetric, u_j the row of the current U) */
		UnpackColumn(lr->RA + a, q, k, lr->G);
		for (int c = 0; c < k; c++)
			r[c] = lr->R1[a + (size_t) c * q];
		cblas_dsymv(CblasColMajor, CblasLower, k, 1.0, lr->G, k, lr->cond.Ur + (size_t) a * lr->cond.kq, 1, 1.0, r, 1);
		memcpy(w, r, sizeof(double) * k);
		UnpackColumn(lr->F + a, q, k, lr->Mf);
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
 * The top k eigenpairs of the symmetric q×q S (lower triangle; destroyed), ascending, as
 * dsyevr with an index range would give them, but by MRRR on the tridiagonal form: for a
 * subset dsyevr falls back to bisection and inverse iteration, which cost as much as the
 * reduction itself here. Returns LAPACK's info.
 */
static lapack_int
TopEigen(double *S, int q, int k, double *ev, double *V, lapack_int *isuppz,
		 lapack_int *found, double *work)
{
	double	   *d = work,		/* 3q: the tridiagonal form and the reflectors */
			   *e = d + q,
			   *tau = e + q;
	lapack_int	info;
	lapack_logical tryrac = 1;

	info = LAPACKE_dsytrd(LAPACK_COL_MAJOR, 'L', q, S, q, d, e, tau);
	if (info == 0)
		info = LAPACKE_dstemr(LAPACK_COL_MAJOR, 'V', 'I', q, d, e, 0.0, 0.0, q - k + 1, q,
							  found, ev, V, q, k, isuppz, &tryrac);
	if (info == 0 && *found == k)
		info = LAPACKE_dormtr(LAPACK_COL_MAJOR, 'L', 'L', 'N', q, k, S, q, tau, V, q);
	return info;
}

/* The scratch of InitLowRank. */
typedef struct InitScratch
{
	double	   *Gm,				/* q×q Gram matrix, then covariance, then correlation */
			   *ev,				/* eigenvalues, ascending */
			   *Vk,				/* q×k top eigenvectors */
			   *mean,
			   *T,				/* k×B */
			   *tdw;			/* TopEigen's work */
	lapack_int *isuppz;
} InitScratch;

static void
InitScratchFree(InitScratch *s, const GcAlloc *alloc)
{
	void	   *ptrs[] = {s->Gm, s->ev, s->Vk, s->mean, s->T, s->isuppz, s->tdw};

	gc_free_each(alloc, ptrs, sizeof(ptrs) / sizeof(ptrs[0]));
}

static GcStatus
InitScratchAlloc(InitScratch *s, int q, int k, int B, const GcAlloc *alloc)
{
	GcStatus	status = GC_OK;

	memset(s, 0, sizeof(*s));
	ALLOC(s->Gm, (size_t) q * q);
	ALLOC(s->ev, q);
	ALLOC(s->Vk, (size_t) q * k);
	ALLOC(s->mean, q);
	ALLOC(s->T, (size_t) k * B);
	ALLOC(s->isuppz, 2 * k);
	ALLOC(s->tdw, 3 * (size_t) q);
done:
	return status;
}

/* The top k eigenpairs of the q×q s->Gm into s->ev, s->Vk (ascending: the largest last). */
static GcStatus
InitTopEigen(InitScratch *s, int q, int k)
{
	lapack_int	found = 0;
	lapack_int	info = TopEigen(s->Gm, q, k, s->ev, s->Vk, s->isuppz, &found, s->tdw);

	if (info != 0 || found != k)
		return info < 0 ? GC_ELAPACK : GC_EDEGENERATE;
	return GC_OK;
}

/* Z0ᵀZ0 by blocks into s->Gm (Z is zero-filled already: a block's rows are its columns) */
static void
InitGram(const LowRank *lr, InitScratch *s)
{
	size_t		n = lr->n;
	int			q = lr->q,
				B = lr->B;

	memset(s->Gm, 0, sizeof(double) * q * q);
	for (size_t b0 = 0; b0 < n; b0 += B)
	{
		int			nb = (int) (n - b0 < (size_t) B ? n - b0 : (size_t) B);

		cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, q, nb, 1.0, lr->Z + b0 * q, q,
					1.0, s->Gm, q);
	}
}

/*
 * Second pass: L = Z0 V_k V_kᵀ by blocks, Z_init, and the Gram matrix (lower triangle) and
 * means of Z_init into s->Gm and s->mean. Interval entries of the working Z start at L.
 */
static void
InitLatent(LowRank *lr, const GcFitOptions *opt, InitScratch *s)
{
	size_t		n = lr->n,
				ticked = 0;
	int			q = lr->q,
				k = lr->k,
				B = lr->B;

	memset(s->Gm, 0, sizeof(double) * q * q);
	memset(s->mean, 0, sizeof(double) * q);
	for (size_t b0 = 0; b0 < n; b0 += B)
	{
		int			nb = (int) (n - b0 < (size_t) B ? n - b0 : (size_t) B);

		if (opt->tick && b0 - ticked >= 4096)
		{
			opt->tick(opt->progress_arg);
			ticked = b0;
		}
		cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, k, nb, q, 1.0, s->Vk, q,
					lr->Z + b0 * q, q, 0.0, s->T, k);
		cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, q, nb, k, 1.0, s->Vk, q,
					s->T, k, 0.0, lr->UW, q);
		for (int b = 0; b < nb; b++)
		{
			size_t		i = b0 + b;
			double	   *L = lr->UW + (size_t) b * q,
					   *z = lr->Z + i * q;

			/*
			 * Observed entries keep their value unless they are intervals holding L, which
			 * then starts them. (A point of a non-continuous column keeps its value too:
			 * its interval is the point itself, and L equal to it changes nothing.)
			 */
			for (size_t t = lr->rowptr[i]; t < lr->rowptr[i + 1]; t++)
			{
				int			a = lr->obs[t];
				uint32_t	c = lr->ocode[t];

				if (c == 0 || L[a] < lr->lv.lo[c] || L[a] > lr->lv.hi[c])
					L[a] = z[a];
				else
					z[a] = L[a];
			}
			for (int a = 0; a < q; a++)
				s->mean[a] += L[a];
		}
		cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, q, nb, 1.0, lr->UW, q, 1.0, s->Gm, q);
	}
}

/* R = corrcoef(Z_init) in s->Gm from its Gram matrix and column sums; 0, or −1 if degenerate. */
static int
InitCorr(size_t n, int q, InitScratch *s)
{
	double	   *Gm = s->Gm,
			   *mean = s->mean;

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
	return gc_cov_to_corr(Gm, q, 1);
}

/*
 * σ₀ = mean of R's eigenvalues beyond the top k ((tr R − Σ_{top k} e)/(q − k), kept inside
 * (0, 1)) and W₀ = u_{1:k} diag(√(e_{1:k} − σ₀)), rescaled to a correlation.
 */
static void
InitFactors(LowRank *lr, const InitScratch *s, double trace)
{
	int			q = lr->q,
				k = lr->k;
	double		sig0 = trace;

	for (int c = 0; c < k; c++)
		sig0 -= s->ev[c];
	sig0 /= (double) (q - k);
	/* a correlation matrix with a flat spectrum (no structure at all) has σ₀ = 1 */
	if (sig0 < LR_MIN_SIGMA)
		sig0 = LR_MIN_SIGMA;
	if (sig0 > 1 - 1e-6)
		sig0 = 1 - 1e-6;
	for (int c = 0; c < k; c++)
	{
		double		e = s->ev[k - 1 - c] - sig0;
		double		f = sqrt(e > 1e-12 ? e : 1e-12);

		for (int a = 0; a < q; a++)
			lr->W[a + (size_t) c * q] = s->Vk[a + (size_t) (k - 1 - c) * q] * f;
	}
	lr->sigma = sig0;
	ScaleCorr(lr->W, q, k, &lr->sigma);
}

/*
 * Initialisation (docs/algorithms.md §11): L = the rank-k truncated SVD reconstruction of the zero-filled
 * latent matrix Z0, computed as Z0 V_k V_kᵀ with V_k the top eigenvectors of Z0ᵀZ0 (so memory
 * stays O(q²), not O(nq)); Z_init = L except at observed continuous entries and at observed
 * ordinal entries whose L falls outside their interval, which keep Z. Interval entries of the
 * working Z start at Z_init. Then R = corrcoef(Z_init) = u diag(e) uᵀ, σ₀ = mean(e_{k+1..q}),
 * W₀ = u_{1:k} diag(√(e_{1:k} − σ₀)), rescaled to a correlation. Z arrives zero-filled,
 * with the mask MK telling the missing entries, so its blocks are the operands as they are.
 *
 * Only the top k eigenpairs are ever used, so both eigenproblems compute that subset alone
 * (TopEigen; a full dsyevd costs several times more at p = 400); the mean of the other
 * eigenvalues is (tr R − Σ_{top k} e)/(q − k).
 */
static GcStatus
InitLowRank(LowRank *lr, const GcFitOptions *opt, const GcAlloc *alloc)
{
	InitScratch s;
	GcStatus	status = InitScratchAlloc(&s, lr->q, lr->k, lr->B, alloc);
	double		trace = 0;

	if (status != GC_OK)
		goto done;
	InitGram(lr, &s);
	LR_PROF(2);
	status = InitTopEigen(&s, lr->q, lr->k);
	if (status != GC_OK)
		goto done;
	LR_PROF(3);
	InitLatent(lr, opt, &s);
	if (InitCorr(lr->n, lr->q, &s) != 0)
	{
		status = GC_ENOMEM;
		goto done;
	}
	LR_PROF(4);
	for (int a = 0; a < lr->q; a++)
		trace += s.Gm[a + (size_t) a * lr->q];
	status = InitTopEigen(&s, lr->q, lr->k);
	if (status != GC_OK)
		goto done;
	InitFactors(lr, &s, trace);
	LR_PROF(5);
done:
	InitScratchFree(&s, alloc);
	return status;
}

void
gc_lowrank_corr(const GcModel *model, double *corr)
{
	int			p = model->p,
				k = model->rank;
	const double *W = model->W;

	/*
	 * The lower triangle column by column, each column as k contiguous multiply-adds
	 * (entry (a, b) still sums its k products in order j = 0, 1, …), then the upper
	 * triangle as its mirror in blocks: one value for (a, b) and (b, a), exactly
	 * symmetric.
	 */
	for (int b = 0; b < p; b++)
	{
		double	   *col = corr + (size_t) b * p;

		for (int a = b + 1; a < p; a++)
			col[a] = 0;
		for (int j = 0; j < k; j++)
		{
			const double *wj = W + (size_t) j * p;
			double		wb = wj[b];

			for (int a = b + 1; a < p; a++)
				col[a] += wj[a] * wb;
		}
		col[b] = 1.0;
		for (int a = b + 1; a < p; a++)
			col[a] = col[a] > 1 ? 1 : (col[a] < -1 ? -1 : col[a]);
	}
	for (int b0 = 0; b0 < p; b0 += 32)
		for (int a0 = b0; a0 < p; a0 += 32)
			for (int b = b0; b < b0 + 32 && b < p; b++)
				for (int a = a0 > b + 1 ? a0 : b + 1; a < a0 + 32 && a < p; a++)
					corr[b + (size_t) a * p] = corr[a + (size_t) b * p];
}

/* The working state of gc_fit_lowrank beyond the E- and M-step's (LowRank). */
typedef struct LrFit
{
	LowRank		lr;
	const GcFitOptions *opt;
	const GcAlloc *alloc;
	char	   *errmsg;
	size_t		errlen;
	int			p;
	GcModel    *model;
	int		   *act;			/* q active column numbers */
	double	   *Wt,				/* q×k: the M-step's W̃, then the next W */
			   *Wnew;
} LrFit;

/* Check the arguments. */
static GcStatus
LrValidate(size_t n, int p, int rank, const GcFitOptions *opt, char *errmsg, size_t errlen)
{
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
	return GC_OK;
}

/*
 * The model with its marginals; the latent values and level codes of the active columns
 * only, n×q row-major (in place, moving entries left); the block size.
 */
static GcStatus
LrBuildColumns(LrFit *f, const double *X, int k)
{
	LowRank    *lr = &f->lr;
	const GcAlloc *alloc = f->alloc;
	GcStatus	status = GC_OK;
	const GcFitOptions *opt = f->opt;
	size_t		n = lr->n;
	int			p = f->p,
				q = 0;
	GcModel    *model;
	int		   *act;
	char	   *errmsg = f->errmsg;
	size_t		errlen = f->errlen;

	ALLOC(f->model, 1);
	model = f->model;
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
	ALLOC(lr->Z, n * p);
	ALLOC(lr->CODE, n * p);
	LR_PROF_START();
	status = gc_fit_build_columns(X, n, p, opt, alloc, model, lr->Z, NULL, NULL, NULL, lr->CODE, &lr->lv,
								  errmsg, errlen);
	LR_PROF(0);
	if (status != GC_OK)
		goto done;

	ALLOC(f->act, p);
	act = f->act;
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
	lr->q = q;
	lr->k = k;
	lr->kp = k * (k + 1) / 2;
	lr->kpp = gc_lrk_padded8(lr->kp);
	if ((size_t) 2 * lr->kp * q * sizeof(double) > LR_MAX_ACCUM_BYTES)
	{
		snprintf(errmsg, errlen, "rank %d is too large for %d columns: the fit would need more than %zu MB",
				 k, q, LR_MAX_ACCUM_BYTES >> 20);
		status = GC_EINVAL;
		goto done;
	}
	/* blocks whose three views fit LR_BLOCK_BYTES, between 16 and LR_BLOCK_ROWS rows */
	lr->B = (int) (LR_BLOCK_BYTES / (3 * sizeof(double) * (size_t) (q > lr->kp ? q : lr->kp)));
	if (lr->B > LR_BLOCK_ROWS)
		lr->B = LR_BLOCK_ROWS;
	if (lr->B < 16)
		lr->B = 16;

	/* active columns only, n×q row-major (in place, moving entries left) */
	if (q < p)
		for (size_t i = 0; i < n; i++)
			for (int a = 0; a < q; a++)
			{
				lr->Z[i * q + a] = lr->Z[i * p + act[a]];
				lr->CODE[i * q + a] = lr->CODE[i * p + act[a]];
			}

done:
	return status;
}

/*
 * The observation pattern, fixed for the whole fit: the mask MK, Z zero-filled, and per row
 * its observed and interval entries with their level codes (CODE is then freed).
 */
static GcStatus
LrPattern(LrFit *f)
{
	LowRank    *lr = &f->lr;
	const GcAlloc *alloc = f->alloc;
	GcStatus	status = GC_OK;
	size_t		n = lr->n;
	int			q = lr->q;
	size_t		nobs = 0,
				nint = 0;

	ALLOC(lr->rowptr, n + 1);
	ALLOC(lr->intptr, n + 1);
	ALLOC(lr->MK, n * q);
	/* branch-free: whether an entry is observed is as good as random (CODE is 0 at missing entries) */
	for (size_t e = 0; e < n * q; e++)
	{
		int			o = !isnan(lr->Z[e]);

		lr->MK[e] = o;
		/* the initialisation and the E-step work on the zero-filled matrix */
		lr->Z[e] = o ? lr->Z[e] : 0.0;
		nobs += o;
		nint += lr->CODE[e] != 0;
	}
	/* one spare slot each: the fill below writes an entry before deciding to keep it */
	ALLOC(lr->obs, nobs + 1);
	ALLOC(lr->ocode, nobs + 1);
	ALLOC(lr->ints, nint + 1);
	ALLOC(lr->icode, nint + 1);
	nobs = nint = 0;
	for (size_t i = 0; i < n; i++)
	{
		const uint32_t *code = lr->CODE + i * q;

		lr->rowptr[i] = nobs;
		lr->intptr[i] = nint;
		for (int a = 0; a < q; a++)
		{
			lr->obs[nobs] = a;
			lr->ocode[nobs] = code[a];
			nobs += lr->MK[i * q + a] != 0;
			lr->ints[nint] = a;
			lr->icode[nint] = code[a];
			nint += code[a] != 0;
		}
	}
	lr->rowptr[n] = nobs;
	lr->intptr[n] = nint;
	/* the levels are in the pattern now */
	alloc->dealloc(alloc->ctx, lr->CODE);
	lr->CODE = NULL;
done:
	return status;
}

/* The parameters, the Woodbury kernel, the block buffers and the M-step accumulators. */
static GcStatus
LrAllocate(LrFit *f)
{
	LowRank    *lr = &f->lr;
	const GcAlloc *alloc = f->alloc;
	GcStatus	status = GC_OK;
	int			q = lr->q,
				k = lr->k;

	ALLOC(lr->W, (size_t) q * k);
	status = gc_lrcond_init(&lr->cond, q, k, alloc);
	if (status != GC_OK)
		goto done;
	ALLOC(lr->Mf, (size_t) k * k);
	ALLOC(lr->G, (size_t) k * k);
	ALLOC(lr->Bm, (size_t) k * k);
	ALLOC(lr->r, k);
	ALLOC(lr->w, k);
	ALLOC(lr->AJ, (size_t) q * lr->B);
	ALLOC(lr->UW, (size_t) q * lr->B);
	/* packed k×k columns with stride kpp (the products read and write only kp of each) */
	ALLOC(lr->Pk, (size_t) lr->kpp * lr->B);
	ALLOC(lr->Ac, (size_t) lr->kpp * lr->B);
	ALLOC(lr->A2, (size_t) lr->kpp * lr->B);
	ALLOC(lr->Gc, (size_t) lr->kpp * lr->B);
	ALLOC(lr->Af, (size_t) k * k * lr->B);
	ALLOC(lr->Sc, (size_t) k * lr->B);
	ALLOC(lr->Tc, (size_t) k * lr->B);
	ALLOC(lr->Wc, (size_t) k * lr->B);
	ALLOC(lr->mo, lr->B);
	ALLOC(lr->upd, lr->B);
	lr->vec = gc_lrb_ok(k);
	ALLOC(lr->gvec, (lr->B + GC_LRB_LANES - 1) / GC_LRB_LANES);
	memset(lr->gvec, 0, (lr->B + GC_LRB_LANES - 1) / GC_LRB_LANES);
	if (lr->vec)
	{
		ALLOC(lr->As, (size_t) (lr->B / GC_LRB_LANES) * lr->kp * GC_LRB_LANES);
		ALLOC(lr->Ss, (size_t) (lr->B / GC_LRB_LANES) * k * GC_LRB_LANES);
		ALLOC(lr->dg, (size_t) k * GC_LRB_LANES);
		ALLOC(lr->dsig, k);
		ALLOC(lr->lbw, GC_LRB_WORK(k));
	}
	ALLOC(lr->UUt, (size_t) lr->kp * q);
	ALLOC(lr->F, (size_t) lr->kp * q);
	ALLOC(lr->RA, (size_t) lr->kp * q);
	ALLOC(lr->R1, (size_t) k * q);
	ALLOC(f->Wt, (size_t) q * k);
	ALLOC(f->Wnew, (size_t) q * k);

done:
	return status;
}

/* W₀ and σ₀ (docs/algorithms.md §11), and the block's variance buffer. */
static GcStatus
LrInit(LrFit *f)
{
	LowRank    *lr = &f->lr;
	const GcAlloc *alloc = f->alloc;
	GcStatus	status = GC_OK;
	const GcFitOptions *opt = f->opt;
	int			q = lr->q;
	char	   *errmsg = f->errmsg;
	size_t		errlen = f->errlen;

	LR_PROF(1);
	status = InitLowRank(lr, opt, alloc);
	if (status != GC_OK)
	{
		if (status != GC_ENOMEM)
			snprintf(errmsg, errlen, "the eigendecomposition of the initial correlation failed");
		goto done;
	}

	/*
	 * From here on Z is zero at missing entries (since the observation pattern), with the
	 * mask beside it, and the interval entries' levels are in the pattern: the fit holds
	 * two n×q matrices of doubles (Z, MK) and VV for a block.
	 */
	ALLOC(lr->VV, (size_t) lr->B * q);
	memset(lr->VV, 0, sizeof(double) * lr->B * q);

done:
	return status;
}

/*
 * The EM iterations: the SVD of W into the Woodbury kernel, the E-step by blocks of rows,
 * the M-step, σ and the rescaling (‖W_j‖² + σ = 1), and the stopping rule.
 */
static GcStatus
LrIterate(LrFit *f)
{
	LowRank    *lr = &f->lr;
	const GcFitOptions *opt = f->opt;
	GcStatus	status = GC_OK;
	GcModel    *model = f->model;
	size_t		n = lr->n;
	int			q = lr->q,
				k = lr->k;
	int		   *act = f->act;
	double	   *Wt = f->Wt,
			   *Wnew = f->Wnew;
	char	   *errmsg = f->errmsg;
	size_t		errlen = f->errlen;

	for (int iter = 1; iter <= opt->max_iter; iter++)
	{
		size_t		ticked = 0;
		double		scol = 0,
					signew,
					num = 0,
					den = 0,
					delta;
		int			badcol = -1;

		LR_PROF(14);
		status = gc_lrcond_set(&lr->cond, lr->W, lr->sigma);
		LR_PROF(6);
		if (status != GC_OK)
		{
			snprintf(errmsg, errlen, "the SVD of the factor matrix failed at iteration %d", iter);
			goto done;
		}
		/* UU transposed: the long operand of the E-step's u_jᵀA_iu_j product */
		for (int a = 0; a < q; a++)
			for (int e = 0; e < lr->kp; e++)
				lr->UUt[a + (size_t) e * q] = lr->cond.UU[e + (size_t) a * lr->kpp];
		memset(lr->F, 0, sizeof(double) * lr->kp * q);
		memset(lr->RA, 0, sizeof(double) * lr->kp * q);
		memset(lr->R1, 0, sizeof(double) * k * q);
		lr->sumz2 = lr->sumv = lr->nobs = lr->ll = 0;

		/* E-step by blocks of rows, each block's moments flushed into the column sums */
		for (size_t b0 = 0; b0 < n; b0 += lr->B)
		{
			int			nb = (int) (n - b0 < (size_t) lr->B ? n - b0 : (size_t) lr->B);
			size_t		badrow = 0;

			if (opt->tick && b0 - ticked >= 4096)
			{
				opt->tick(opt->progress_arg);
				ticked = b0;
			}
			status = EStepBlock(lr, b0, nb, opt->num_ord_updates, &badrow);
			if (status != GC_OK)
			{
				snprintf(errmsg, errlen, "the %d×%d system of row %zu is not positive definite at iteration %d",
						 k, k, badrow + 1, iter);
				goto done;
			}
		}

		LR_PROF(13);
		/* M-step */
		status = MStep(lr, Wt, &scol, &badcol);
		if (status != GC_OK)
		{
			snprintf(errmsg, errlen, "the M-step system of column %d is not positive definite at iteration %d",
					 badcol >= 0 ? act[badcol] + 1 : 0, iter);
			goto done;
		}
		signew = (lr->sumz2 + lr->sumv - scol) / lr->nobs;
		if (!(signew > LR_MIN_SIGMA))
			signew = LR_MIN_SIGMA;
		/* W_new = W̃ diag(d) Vᵀ */
		for (int c = 0; c < k; c++)
			for (int a = 0; a < q; a++)
				Wt[a + (size_t) c * q] *= lr->cond.d[c];
		cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, q, k, k, 1.0, Wt, q, lr->cond.Vt, k,
					0.0, Wnew, q);
		ScaleCorr(Wnew, q, k, &signew);
		for (size_t e = 0; e < (size_t) q * k; e++)
		{
			double		dd = Wnew[e] - lr->W[e];

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
		LR_PROF(15);
		memcpy(lr->W, Wnew, sizeof(double) * q * k);
		lr->sigma = signew;
		model->n_iter = iter;
		model->delta = delta;
		model->loglik = lr->ll / (double) n;
		if (opt->progress)
			opt->progress(opt->progress_arg, iter, delta, model->loglik);
		if (delta < opt->tol)
		{
			model->converged = 1;
			break;
		}
	}

done:
	return status;
}

/*
 * The model: W with zero rows for constants, σ, and Σ = WWᵀ + σI materialised; never one
 * the type's validator would refuse (σ in (0, 1)).
 */
static GcStatus
LrStoreModel(LrFit *f)
{
	LowRank    *lr = &f->lr;
	GcModel    *model = f->model;
	int			p = f->p,
				q = lr->q,
				k = lr->k;
	int		   *act = f->act;

	LR_PROF(14);
	if (!(lr->sigma > 0 && lr->sigma < 1))
	{
		snprintf(f->errmsg, f->errlen, "the noise variance left (0, 1) (%g)", lr->sigma);
		return GC_EDEGENERATE;
	}
	memset(model->W, 0, sizeof(double) * p * k);
	for (int c = 0; c < k; c++)
		for (int a = 0; a < q; a++)
			model->W[act[a] + (size_t) c * p] = lr->W[a + (size_t) c * q];
	model->sigma = lr->sigma;
	gc_lowrank_corr(model, model->corr);
	LR_PROF(16);
	return GC_OK;
}

/* Free the working state; the model too unless the fit succeeded. */
static void
LrFree(LrFit *f, GcStatus status)
{
	LowRank    *lr = &f->lr;
	const GcAlloc *alloc = f->alloc;
	void	   *ptrs[] = {f->act, f->Wt, f->Wnew, lr->Z, lr->CODE, lr->ocode, lr->icode, lr->W,
		lr->Mf, lr->G, lr->Bm, lr->r, lr->w, lr->MK, lr->VV, lr->AJ, lr->UW, lr->Pk, lr->Ac,
		lr->A2, lr->Gc, lr->Af, lr->Sc, lr->Tc, lr->Wc, lr->mo, lr->upd, lr->gvec, lr->As,
		lr->Ss, lr->dg, lr->dsig, lr->lbw, lr->rowptr, lr->intptr, lr->obs, lr->ints, lr->UUt,
	lr->F, lr->RA, lr->R1};

	gc_free_each(alloc, ptrs, sizeof(ptrs) / sizeof(ptrs[0]));
	gc_lrcond_free(&lr->cond, alloc);
	gc_levels_free(&lr->lv, alloc);
	if (status != GC_OK && f->model)
		gc_model_free(f->model, alloc);
}

GcStatus
gc_fit_lowrank(const double *X, size_t n, int p, int rank, const GcFitOptions *opt,
			   const GcAlloc *alloc, GcModel **model_out, char *errmsg, size_t errlen)
{
	LrFit		f = {.opt = opt, .alloc = alloc, .errmsg = errmsg, .errlen = errlen, .p = p};
	GcStatus	status;

	LAPACKE_set_nancheck(0);
	*model_out = NULL;
	if (errlen > 0)
		errmsg[0] = '\0';
	status = LrValidate(n, p, rank, opt, errmsg, errlen);
	if (status != GC_OK)
		return status;
	f.lr.n = n;
	status = LrBuildColumns(&f, X, rank);
	if (status == GC_OK)
		status = LrPattern(&f);
	if (status == GC_OK)
		status = LrAllocate(&f);
	if (status == GC_OK)
		status = LrInit(&f);
	if (status == GC_OK)
		status = LrIterate(&f);
	if (status == GC_OK)
		status = LrStoreModel(&f);
	LrFree(&f, status);
	if (status == GC_OK)
		*model_out = f.model;
	return status;
}
