/*
 * lrbatch.h — the low-rank E-step's per-row k×k algebra for eight rows at once.
 *
 * Per row the E-step factors M_i = U_OᵀU_O + σD⁻² (k×k), inverts it, multiplies A_i = M_i⁻¹
 * with a few k-vectors and forms the second moment G_i = σA_i + s_i s_iᵀ + A_i P_i A_i.
 * With k = 10 that is ~2 000 scalar operations a row whose loops are too short and strided
 * to vectorise, about a tenth of the fit. These kernels run eight rows side by side, one
 * row per lane of an AVX-512 vector: each lane performs exactly the operations of the
 * scalar routines (gc_lr_factor_invert, gc_sym_matvec, gc_lr_second_moment) in the same
 * order, without contraction into multiply-adds, so every row's results are the same to
 * the bit as the scalar code's.
 *
 * Lane-major ("SoA") arrays hold entry e of lane l at [e·8 + l]; a packed symmetric k×k
 * matrix has its lower triangle column by column (gc_lr_packidx). Row-major inputs and
 * outputs are the E-step's block columns: lane l's vector at base + l·ld.
 *
 * The kernels exist on x86-64 GCC builds (not clang's bitcode for JIT inlining), run where
 * the CPU has AVX-512F, and take ranks up to GC_LRB_MAXK; elsewhere gc_lrb_ok says no and
 * the caller keeps the scalar routines. PostgreSQL-free.
 */
#ifndef GC_LRBATCH_H
#define GC_LRBATCH_H

#define GC_LRB_LANES 8
/* the lane-major scratch of the kernels is O(k²) per group of eight rows */
#define GC_LRB_MAXK 32

/* whether the batch kernels run (gc_simd_level is AVX-512) and can take rank k */
extern int	gc_lrb_ok(int k);

/* doubles of scratch gc_lrb_factor_invert and gc_lrb_second_moments need */
#define GC_LRB_WORK(k) ((size_t) GC_LRB_LANES * 3 * (size_t) (k) * (k))

/*
 * For lanes l = 0..7: M_l = P_l + diag(dsig), P_l the packed lower triangle at pk + l·ldp,
 * dsig[c] = σ/d_c² (computed by the caller as gc_lr_factor_invert computes it); Cholesky
 * factor, and A_l = M_l⁻¹ into As (packed, lane-major). diag (k×8, lane-major) gets the
 * factor's diagonal, from which the caller takes log det M_l = Σ_c 2 log diag_c as
 * gc_lr_factor_invert does. Returns the lanes (bit l) whose M is not positive definite;
 * their As entries are then meaningless.
 */
extern unsigned gc_lrb_factor_invert(const double *pk, int ldp, const double *dsig, int k,
									 double *As, double *diag, double *work);

/* A_l into packed columns at ac + l·ld, and with doubled off-diagonal entries at a2 + l·ld */
extern void gc_lrb_store_packed(const double *As, int k, double *ac, double *a2, int ld);

/*
 * y_l = A_l x_l, as gc_sym_matvec computes it, for x_l at x + l·ldx (k values): into ys
 * (k×8, lane-major) when ys is not NULL, and into out + l·ldo for the lanes in keep (bit l),
 * zeros for the others. With dot not NULL, dot[l] = Σ_j x_l[j]·y_l[j] (j ascending, from 0).
 */
extern void gc_lrb_symv(const double *As, int k, const double *x, int ldx, double *ys,
						double *out, int ldo, unsigned keep, double *dot);

/*
 * G_l = σA_l + s_l s_lᵀ, plus A_l P_l A_l for the lanes in vlanes whose P_l (packed at
 * pv + l·ldp) is not all zero, as gc_lr_second_moment computes it; packed into g + l·ldg.
 * ss is s (k×8, lane-major).
 */
extern void gc_lrb_second_moments(const double *As, const double *ss, const double *pv,
								  int ldp, unsigned vlanes, double sigma, int k, double *g,
								  int ldg, double *work);

/*
 * The scalar second moment of one row: G = σA + s sᵀ, plus A P A when pv (packed) is not
 * NULL and not all zero; packed into gout. A is full k×k; Mf, Bm and G are k×k scratch.
 */
extern void gc_lr_second_moment(const double *A, const double *s, const double *pv,
								double sigma, int k, double *Mf, double *Bm, double *G,
								double *gout);

#endif							/* GC_LRBATCH_H */
