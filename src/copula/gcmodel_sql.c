/*
 * gcmodel_sql.c — the gcmodel type: a fitted Gaussian copula.
 *
 * Text form is JSON (readable, round-trips exactly: doubles are printed in their shortest
 * exact form); binary form is a versioned field-by-field encoding. Both inputs build a
 * core model and pass it through the same validation before packing, so a malformed or
 * hand-edited model never reaches the numerics.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include <lapacke.h>

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "common/shortest_dec.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "gcimpute.h"
#include "copula/gcmodel_sql.h"
#include "copula/temporal.h"
#include "platform/hugemem.h"

PG_FUNCTION_INFO_V1(gcmodel_in);
PG_FUNCTION_INFO_V1(gcmodel_out);
PG_FUNCTION_INFO_V1(gcmodel_recv);
PG_FUNCTION_INFO_V1(gcmodel_send);
PG_FUNCTION_INFO_V1(gc_model_info);
PG_FUNCTION_INFO_V1(gc_correlation);
PG_FUNCTION_INFO_V1(gc_lag_correlation);

/* ---------- allocation and error reporting shared by the glue ---------- */

static void *
PgAlloc(void *ctx, size_t size)
{
	void	   *raw;

	if (size < GC_HUGE_MIN)
		return MemoryContextAllocExtended((MemoryContext) ctx, size > 0 ? size : 1,
										  MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	/* a fit's large matrices on transparent huge pages: far fewer page faults (hugemem.h) */
	raw = MemoryContextAllocExtended((MemoryContext) ctx, gc_huge_request(size),
									 MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
	return raw ? gc_huge_place(raw, size) : NULL;
}

static void
PgFree(void *ctx, void *ptr)
{
	void	   *raw = gc_huge_raw(ptr);

	pfree(raw ? raw : ptr);
}

void *
gc_palloc_big(MemoryContext cxt, Size size)
{
	void	   *p = PgAlloc(cxt, size);

	if (p == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Failed on request of size %zu.", (size_t) size)));
	return p;
}

void
gc_pfree_big(void *ptr)
{
	PgFree(NULL, ptr);
}

void *
gc_prealloc_big(MemoryContext cxt, void *ptr, Size oldsize, Size newsize)
{
	void	   *p = gc_palloc_big(cxt, newsize);

	memcpy(p, ptr, Min(oldsize, newsize));
	gc_pfree_big(ptr);
	return p;
}

GcAlloc
gc_pg_alloc(MemoryContext cxt)
{
	GcAlloc		a = {PgAlloc, PgFree, cxt};

	return a;
}

void
gc_report_status(GcStatus st, const char *what, const char *msg)
{
	switch (st)
	{
		case GC_ENOMEM:
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory in %s", what),
					 errhint("Reduce the number of rows or columns, or increase the memory available to the server.")));
			break;
		case GC_EINVAL:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s: %s", what, msg)));
			break;
		case GC_ENOTPD:
		case GC_EDEGENERATE:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("%s: %s", what, msg && msg[0] ? msg : "the model is numerically degenerate"),
					 errhint("Columns that are (almost) exact functions of each other make the copula singular; drop one of them.")));
			break;
		default:
			elog(ERROR, "%s: internal error %d in the linear algebra (%s)", what, (int) st,
				 msg ? msg : "");
	}
	pg_unreachable();
}

/* ---------- identity of a model argument, for caches ---------- */

/*
 * Is the model argument, as passed (possibly a TOAST pointer or compressed), the one the
 * cache was built from? Checked before detoasting: a fitted model is usually large enough
 * to be stored out of line, and detoasting it for every row would dominate imputation.
 */
bool
gc_model_key_matches(const GcModelKey *c, struct varlena *raw)
{
	if (!c->have_key)
		return false;
	if (VARATT_IS_EXTERNAL_ONDISK(raw))
	{
		struct varatt_external ext;

		VARATT_EXTERNAL_GET_POINTER(ext, raw);
		return c->key_external && ext.va_valueid == c->key_ext.va_valueid &&
			ext.va_toastrelid == c->key_ext.va_toastrelid &&
			ext.va_rawsize == c->key_ext.va_rawsize;
	}
	if (VARATT_IS_EXTERNAL(raw))
		return false;
	if (VARATT_IS_4B_U(raw))
	{
		/* a plain in-memory model: its header carries a hash of everything after it */
		const GcModelData *d = (const GcModelData *) raw;

		return VARSIZE(raw) >= offsetof(GcModelData, data) &&
			d->fingerprint == c->fingerprint && (int32) VARSIZE(raw) == c->size;
	}
	/* compressed inline (at most a page): compare its bytes */
	return !c->key_external && VARSIZE_ANY(raw) == c->key_len &&
		memcmp(raw, c->key_bytes, c->key_len) == 0;
}

bool
gc_model_key_same_model(const GcModelKey *c, const GcModelData *d)
{
	return c->size != 0 && c->fingerprint == d->fingerprint && c->size == (int32) VARSIZE(d);
}

void
gc_model_key_remember(GcModelKey *c, struct varlena *raw, const GcModelData *d, MemoryContext cxt)
{
	c->fingerprint = d->fingerprint;
	c->size = VARSIZE(d);
	c->have_key = false;
	if (VARATT_IS_EXTERNAL_ONDISK(raw))
	{
		VARATT_EXTERNAL_GET_POINTER(c->key_ext, raw);
		c->key_external = true;
		c->have_key = true;
	}
	else if (VARATT_IS_4B_U(raw))
	{
		c->key_external = false;
		c->key_len = 0;
		c->have_key = true;		/* matched by fingerprint and size */
	}
	else if (!VARATT_IS_EXTERNAL(raw))
	{
		c->key_external = false;
		c->key_len = VARSIZE_ANY(raw);
		c->key_bytes = MemoryContextAlloc(cxt, c->key_len);
		memcpy(c->key_bytes, raw, c->key_len);
		c->have_key = true;
	}
}

/* ---------- packing ---------- */

static Size
DataOffsetDoubles(int p)
{
	/* three int32 arrays of p, padded to 8 bytes */
	return MAXALIGN(mul_size(3 * sizeof(int32), p));
}

static int32 *
TypesArr(const GcModelData *d)
{
	return (int32 *) d->data;
}

static int32 *
KnotsArr(const GcModelData *d)
{
	return (int32 *) d->data + d->p;
}

static int32 *
FlagsArr(const GcModelData *d)
{
	return (int32 *) d->data + 2 * d->p;
}

static float8 *
Doubles(const GcModelData *d)
{
	return (float8 *) (d->data + DataOffsetDoubles(d->p));
}

/*
 * Is a low-rank model's correlation exactly the one its W and σ give (gc_lowrank_corr)? Then
 * it need not be stored (a fitted model's never differs), and it is positive definite.
 */
static bool
CorrIsImplicit(const GcModel *m)
{
	double	   *c;
	bool		same;

	if (m->kind != GC_MODEL_LOWRANK || m->W == NULL || m->rank < 1 || m->rank >= m->p ||
		!(m->sigma > 0 && m->sigma < 1))
		return false;
	c = palloc(sizeof(double) * m->p * m->p);
	gc_lowrank_corr(m, c);
	same = memcmp(c, m->corr, sizeof(double) * m->p * m->p) == 0;
	pfree(c);
	return same;
}

/*
 * Is the correlation C of W row blocks of the model's p columns positive semidefinite on
 * the active columns (up to a relative 1e-10)?
 */
static bool
IsPsdOnActive(const double *C, const GcModel *m, int W)
{
	int			p = m->p,
				P = W * p,
				Q = 0;
	int		   *act = palloc(sizeof(int) * P);
	double	   *S;
	lapack_int	info;

	for (int s = 0; s < W; s++)
		for (int j = 0; j < p; j++)
			if (m->marg[j].type != GC_CONSTANT)
				act[Q++] = s * p + j;
	S = palloc(sizeof(double) * Q * Q);
	for (int b = 0; b < Q; b++)
		for (int a = 0; a < Q; a++)
			S[a + (size_t) b * Q] = (1 - 1e-10) * C[act[a] + (size_t) act[b] * P] +
				(a == b ? 1e-10 : 0);
	info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', Q, S, Q);
	if (info < 0)
		elog(ERROR, "dpotrf: invalid argument %d", (int) -info);
	pfree(S);
	pfree(act);
	return info == 0;
}

/* A temporal model: a full model with sane lags and step, and a valid stationary series. */
static void
CheckTemporal(const GcModel *m, int q)
{
	int			p = m->p;
	double	   *C;
	GcAlloc		alloc;

	if (!m->temporal || m->kind != GC_MODEL_FULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid gcmodel: lag correlations belong to a full temporal model")));
	if (m->lags < 0 || m->lags > GC_SERIES_MAX_LAGS || (m->lags > 0) != (m->lagcorr != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid gcmodel: %d lags", m->lags),
				 errdetail("A temporal model has between 0 and %d lags.", GC_SERIES_MAX_LAGS)));
	if (!(m->step > 0) || !isfinite(m->step))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid gcmodel: the step must be a positive number of seconds"),
				 errdetail("Got %g.", m->step)));
	for (int h = 0; h < m->lags; h++)
		for (int b = 0; b < p; b++)
			for (int a = 0; a < p; a++)
			{
				double		c = m->lagcorr[(size_t) h * p * p + a + (size_t) b * p];

				if (!isfinite(c) || fabs(c) > 1 + 1e-12)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("invalid gcmodel: lag correlations must be in [-1, 1]"),
							 errdetail("Lag %d entry (%d,%d) is %g.", h + 1, a + 1, b + 1, c)));
				if (c != 0 && (m->marg[a].type == GC_CONSTANT || m->marg[b].type == GC_CONSTANT))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("invalid gcmodel: constant column %d must be uncorrelated",
									m->marg[a].type == GC_CONSTANT ? a + 1 : b + 1)));
			}
	if (m->lags == 0 || q == 0)
		return;
	/* the window of lags + 1 rows must be a correlation matrix */
	C = palloc(sizeof(double) * (size_t) (m->lags + 1) * p * (m->lags + 1) * p);
	alloc = gc_pg_alloc(CurrentMemoryContext);
	if (gc_temporal_window_corr(m, m->lags, 0, &alloc, C) != GC_OK ||
		!IsPsdOnActive(C, m, m->lags + 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid gcmodel: the lag correlations do not describe a stationary series"),
				 errdetail("The block-Toeplitz correlation of %d consecutive rows is not positive semidefinite.",
						   m->lags + 1)));
	pfree(C);
}

static void
CheckModel(const GcModel *m, bool *implicit_out)
{
	int			p = m->p;
	bool		implicit = false;
	int			q = 0;

	if (p < 1 || p > GCMODEL_MAX_COLUMNS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid gcmodel: %d columns", p),
				 errdetail("A model has between 1 and %d columns.", GCMODEL_MAX_COLUMNS)));
	if (m->kind != GC_MODEL_FULL && m->kind != GC_MODEL_LOWRANK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid gcmodel: unknown kind %d", m->kind)));
	if (m->kind == GC_MODEL_LOWRANK && (m->rank < 1 || m->rank >= p))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid gcmodel: rank %d for %d columns", m->rank, p),
				 errdetail("A low-rank model has 1 <= rank < columns.")));
	if (m->training < GC_TRAIN_STANDARD || m->training > GC_TRAIN_MINIBATCH_ONLINE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid gcmodel: unknown training mode %d", m->training)));
	if (m->nrows < 0 || m->n_iter < 0 || m->max_iter < 0 || m->ridge_steps < 0 ||
		!(m->tol >= 0) || isnan(m->delta) || isnan(m->loglik))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid gcmodel: inconsistent fit diagnostics")));
	for (int j = 0; j < p; j++)
	{
		const char *problem;

		if (m->marg[j].type < 0 || m->marg[j].type >= GC_NUM_VARTYPES)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid gcmodel: column %d has an unknown type", j + 1)));
		problem = gc_marginal_check(&m->marg[j]);
		if (problem)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid gcmodel: column %d: %s", j + 1, problem)));
		if (m->marg[j].type != GC_CONSTANT)
			q++;
	}

	/* correlation: finite, symmetric, unit diagonal, bounded, identity rows for constants */
	for (int b = 0; b < p; b++)
		for (int a = 0; a < p; a++)
		{
			double		c = m->corr[a + (size_t) b * p];
			double		ct = m->corr[b + (size_t) a * p];

			if (a == b && !(fabs(c - 1) <= 1e-9))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid gcmodel: the correlation matrix must have a unit diagonal"),
						 errdetail("Diagonal entry %d is %g.", a + 1, c)));
			if (!isfinite(c) || fabs(c - ct) > 1e-12 || fabs(c) > 1 + 1e-12)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid gcmodel: the correlation matrix is not a symmetric matrix of correlations"),
						 errdetail("Entry (%d,%d) is %g and entry (%d,%d) is %g.", a + 1, b + 1, c, b + 1, a + 1, ct)));
			if (a != b && c != 0 &&
				(m->marg[a].type == GC_CONSTANT || m->marg[b].type == GC_CONSTANT))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid gcmodel: constant column %d must be uncorrelated",
								m->marg[a].type == GC_CONSTANT ? a + 1 : b + 1)));
		}

	/*
	 * positive definite on the active columns (up to a relative 1e-10); WWᵀ + σI with σ > 0
	 * is, and rebuilding it costs O(p² rank) instead of a factorisation
	 */
	implicit = CorrIsImplicit(m);
	if (implicit_out)
		*implicit_out = implicit;
	if (q > 0 && !implicit && !IsPsdOnActive(m->corr, m, 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid gcmodel: the correlation matrix is not positive semidefinite")));
	if (m->temporal || m->lags != 0 || m->lagcorr != NULL)
		CheckTemporal(m, q);
	if (m->kind == GC_MODEL_LOWRANK)
	{
		if (!(m->sigma > 0 && m->sigma < 1) || m->W == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid gcmodel: low-rank noise variance must be in (0, 1)")));
		for (size_t k = 0; k < (size_t) p * m->rank; k++)
			if (!isfinite(m->W[k]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid gcmodel: low-rank factor entries must be finite")));
	}
}

void
gcmodel_check(const GcModel *m)
{
	CheckModel(m, NULL);
}

GcModelData *
gcmodel_pack(const GcModel *m)
{
	int			p = m->p;
	Size		ndbl,
				size;
	GcModelData *d;
	float8	   *dv;
	bool		implicit;

	CheckModel(m, &implicit);

	ndbl = add_size(p, implicit ? 0 : mul_size(p, p));
	if (m->kind == GC_MODEL_LOWRANK)
		ndbl = add_size(ndbl, mul_size(p, m->rank));
	for (int j = 0; j < p; j++)
		ndbl = add_size(ndbl, mul_size(3, m->marg[j].nknots));
	if (m->temporal)
		ndbl = add_size(ndbl, add_size(2, mul_size(mul_size(p, p), m->lags)));
	size = add_size(add_size(offsetof(GcModelData, data), DataOffsetDoubles(p)),
					mul_size(ndbl, sizeof(float8)));
	if (size > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("gcmodel would take %zu bytes, more than the limit of %zu", size, (size_t) MaxAllocSize),
				 errhint("Fit with a smaller \"max_knots\" or fewer columns.")));

	d = palloc0(size);
	SET_VARSIZE(d, size);
	d->version = m->temporal ? GCMODEL_DISK_VERSION_TEMPORAL :
		implicit ? GCMODEL_DISK_VERSION_IMPLICIT_CORR : GCMODEL_DISK_VERSION_STORED_CORR;
	d->kind = (uint16) m->kind;
	d->p = p;
	d->rank = m->kind == GC_MODEL_LOWRANK ? m->rank : 0;
	d->n_iter = m->n_iter;
	d->max_iter = m->max_iter;
	d->flags = (m->converged ? GCMODEL_FLAG_CONVERGED : 0) |
		(implicit ? GCMODEL_FLAG_IMPLICIT_CORR : 0) |
		(m->temporal ? GCMODEL_FLAG_TEMPORAL : 0);
	d->ridge_steps = m->ridge_steps;
	d->training = m->training;
	d->nrows = m->nrows;
	d->tol = m->tol;
	d->delta = m->delta;
	d->loglik = m->loglik;
	d->sigma = m->kind == GC_MODEL_LOWRANK ? m->sigma : 0;
	for (int j = 0; j < p; j++)
	{
		TypesArr(d)[j] = m->marg[j].type;
		KnotsArr(d)[j] = m->marg[j].nknots;
		FlagsArr(d)[j] = m->marg[j].exact ? GCMODEL_COL_EXACT : 0;
	}
	dv = Doubles(d);
	for (int j = 0; j < p; j++)
		*dv++ = m->marg[j].n;
	if (!implicit)
	{
		memcpy(dv, m->corr, sizeof(float8) * p * p);
		dv += (size_t) p * p;
	}
	if (m->kind == GC_MODEL_LOWRANK)
	{
		memcpy(dv, m->W, sizeof(float8) * p * m->rank);
		dv += (size_t) p * m->rank;
	}
	for (int j = 0; j < p; j++)
	{
		int			K = m->marg[j].nknots;

		memcpy(dv, m->marg[j].x, sizeof(float8) * K);
		memcpy(dv + K, m->marg[j].cum, sizeof(float8) * K);
		memcpy(dv + 2 * K, m->marg[j].mult, sizeof(float8) * K);
		dv += 3 * (size_t) K;
	}
	if (m->temporal)
	{
		*dv++ = m->step;
		*dv++ = m->lags;
		if (m->lags > 0)
			memcpy(dv, m->lagcorr, sizeof(float8) * p * p * m->lags);
	}
	d->fingerprint = hash_bytes_extended((const unsigned char *) d->data,
										 (int) (size - offsetof(GcModelData, data)), 0x67636d);
	return d;
}

GcModel *
gcmodel_unpack(const GcModelData *d)
{
	GcModel    *m;
	int			p = d->p;
	const float8 *dv;

	if (d->version != (d->flags & GCMODEL_FLAG_TEMPORAL ? GCMODEL_DISK_VERSION_TEMPORAL :
					   d->flags & GCMODEL_FLAG_IMPLICIT_CORR ?
					   GCMODEL_DISK_VERSION_IMPLICIT_CORR : GCMODEL_DISK_VERSION_STORED_CORR))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("gcmodel format version %d is not supported by this build", d->version),
				 errhint("Refit the model, or update the gcimpute extension.")));
	m = palloc0(sizeof(GcModel));
	m->p = p;
	m->kind = d->kind;
	m->rank = d->rank;
	m->nrows = d->nrows;
	m->n_iter = d->n_iter;
	m->max_iter = d->max_iter;
	m->converged = (d->flags & GCMODEL_FLAG_CONVERGED) != 0;
	m->ridge_steps = d->ridge_steps;
	m->training = d->training;
	m->tol = d->tol;
	m->delta = d->delta;
	m->loglik = d->loglik;
	m->sigma = d->sigma;
	m->marg = palloc0(sizeof(GcMarginal) * p);
	dv = Doubles(d);
	for (int j = 0; j < p; j++)
	{
		m->marg[j].type = TypesArr(d)[j];
		m->marg[j].nknots = KnotsArr(d)[j];
		m->marg[j].exact = (FlagsArr(d)[j] & GCMODEL_COL_EXACT) != 0;
		m->marg[j].n = *dv++;
	}
	if (!(d->flags & GCMODEL_FLAG_IMPLICIT_CORR))
	{
		m->corr = (double *) dv;
		dv += (size_t) p * p;
	}
	if (d->kind == GC_MODEL_LOWRANK)
	{
		m->W = (double *) dv;
		dv += (size_t) p * d->rank;
	}
	if (d->flags & GCMODEL_FLAG_IMPLICIT_CORR)
	{
		/* a fitted low-rank model stores W alone: corr is rebuilt to the bit */
		m->corr = palloc(sizeof(double) * p * p);
		gc_lowrank_corr(m, m->corr);
	}
	for (int j = 0; j < p; j++)
	{
		int			K = m->marg[j].nknots;

		m->marg[j].x = dv;
		m->marg[j].cum = dv + K;
		m->marg[j].mult = dv + 2 * K;
		dv += 3 * (size_t) K;
		gc_marginal_prepare(&m->marg[j]);
	}
	if (d->flags & GCMODEL_FLAG_TEMPORAL)
	{
		m->temporal = 1;
		m->step = *dv++;
		m->lags = (int) *dv++;
		m->lagcorr = m->lags > 0 ? (double *) dv : NULL;
	}
	return m;
}

/* ---------- text I/O (JSON) ---------- */

static void
AppendDouble(StringInfo buf, double v)
{
	char		tmp[DOUBLE_SHORTEST_DECIMAL_LEN];

	double_to_shortest_decimal_buf(v, tmp);
	appendStringInfoString(buf, tmp);
}

static void
AppendDoubleArray(StringInfo buf, const double *v, int n, int stride)
{
	appendStringInfoChar(buf, '[');
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(buf, ',');
		AppendDouble(buf, v[(size_t) i * stride]);
	}
	appendStringInfoChar(buf, ']');
}

Datum
gcmodel_out(PG_FUNCTION_ARGS)
{
	GcModelData *d = PG_GETARG_GCMODEL_P(0);
	GcModel    *m = gcmodel_unpack(d);
	StringInfoData buf;
	int			p = m->p;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"version\": %d, \"kind\": \"%s\", \"p\": %d",
					 m->temporal ? GCMODEL_VERSION_TEMPORAL : GCMODEL_VERSION, m->kind == GC_MODEL_LOWRANK ? "low_rank" : "full", p);
	if (m->kind == GC_MODEL_LOWRANK)
		appendStringInfo(&buf, ", \"rank\": %d", m->rank);
	appendStringInfo(&buf, ", \"rows\": " INT64_FORMAT ", \"iterations\": %d, \"max_iter\": %d, \"converged\": %s, \"ridge_steps\": %d, \"tol\": ",
					 m->nrows, m->n_iter, m->max_iter, m->converged ? "true" : "false", m->ridge_steps);
	AppendDouble(&buf, m->tol);
	appendStringInfoString(&buf, ", \"delta\": ");
	AppendDouble(&buf, m->delta);
	appendStringInfoString(&buf, ", \"loglik\": ");
	AppendDouble(&buf, m->loglik);
	appendStringInfo(&buf, ", \"training\": \"%s\"", gc_training_name(m->training));
	if (m->kind == GC_MODEL_LOWRANK)
	{
		appendStringInfoString(&buf, ", \"sigma\": ");
		AppendDouble(&buf, m->sigma);
	}
	appendStringInfoString(&buf, ", \"columns\": [");
	for (int j = 0; j < p; j++)
	{
		const GcMarginal *g = &m->marg[j];

		if (j > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfo(&buf, "{\"type\": \"%s\", \"n\": ", gc_vartype_name(g->type));
		AppendDouble(&buf, g->n);
		appendStringInfo(&buf, ", \"exact\": %s, \"x\": ", g->exact ? "true" : "false");
		AppendDoubleArray(&buf, g->x, g->nknots, 1);
		appendStringInfoString(&buf, ", \"cum\": ");
		AppendDoubleArray(&buf, g->cum, g->nknots, 1);
		appendStringInfoString(&buf, ", \"mult\": ");
		AppendDoubleArray(&buf, g->mult, g->nknots, 1);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoString(&buf, "], \"correlation\": [");
	for (int a = 0; a < p; a++)
	{
		if (a > 0)
			appendStringInfoString(&buf, ", ");
		AppendDoubleArray(&buf, m->corr + a, p, p);
	}
	appendStringInfoChar(&buf, ']');
	if (m->kind == GC_MODEL_LOWRANK)
	{
		appendStringInfoString(&buf, ", \"W\": [");
		for (int a = 0; a < p; a++)
		{
			if (a > 0)
				appendStringInfoString(&buf, ", ");
			AppendDoubleArray(&buf, m->W + a, m->rank, p);
		}
		appendStringInfoChar(&buf, ']');
	}
	if (m->temporal)
	{
		appendStringInfo(&buf, ", \"lags\": %d, \"step\": ", m->lags);
		AppendDouble(&buf, m->step);
		appendStringInfoString(&buf, ", \"lag_correlation\": [");
		for (int h = 0; h < m->lags; h++)
		{
			appendStringInfoString(&buf, h ? ", [" : "[");
			for (int a = 0; a < p; a++)
			{
				if (a > 0)
					appendStringInfoString(&buf, ", ");
				AppendDoubleArray(&buf, m->lagcorr + (size_t) h * p * p + a, p, p);
			}
			appendStringInfoChar(&buf, ']');
		}
		appendStringInfoChar(&buf, ']');
	}
	appendStringInfoChar(&buf, '}');
	PG_RETURN_CSTRING(buf.data);
}

pg_noreturn static void
BadText(const char *fmt, const char *arg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type gcmodel"),
			 errdetail(fmt, arg)));
}

static JsonbValue *
GetKey(JsonbContainer *c, const char *key, bool required)
{
	JsonbValue *v = getKeyJsonValueFromContainer(c, key, strlen(key), NULL);

	if (v == NULL && required)
		BadText("Key \"%s\" is missing.", key);
	return v;
}

static double
NumVal(JsonbValue *v, const char *what)
{
	if (v == NULL || v->type != jbvNumeric)
		BadText("\"%s\" must be a number.", what);
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v->val.numeric)));
}

static int
IntVal(JsonbValue *v, const char *what)
{
	double		x = NumVal(v, what);

	if (x != rint(x) || x < INT_MIN || x > INT_MAX)
		BadText("\"%s\" must be an integer.", what);
	return (int) x;
}

static bool
BoolVal(JsonbValue *v, const char *what)
{
	if (v == NULL || v->type != jbvBool)
		BadText("\"%s\" must be true or false.", what);
	return v->val.boolean;
}

/* A JSON array of numbers into a palloc'd double array; its length goes to *n. */
static double *
NumArray(JsonbValue *v, const char *what, int *n)
{
	JsonbContainer *c;
	int			len;
	double	   *out;

	if (v == NULL || v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		BadText("\"%s\" must be an array of numbers.", what);
	c = v->val.binary.data;
	len = JsonContainerSize(c);
	out = palloc(sizeof(double) * (len > 0 ? len : 1));
	for (int i = 0; i < len; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(c, i);

		out[i] = NumVal(e, what);
	}
	*n = len;
	return out;
}

/* A JSON array of p arrays of ncol numbers, into a column-major p×ncol matrix. */
static double *
Matrix(JsonbValue *v, const char *what, int p, int ncol)
{
	JsonbContainer *c;
	double	   *out;

	if (v == NULL || v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data) ||
		JsonContainerSize(v->val.binary.data) != (uint32) p)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type gcmodel"),
				 errdetail("\"%s\" must be an array of %d rows.", what, p)));
	c = v->val.binary.data;
	out = palloc(sizeof(double) * p * ncol);
	for (int a = 0; a < p; a++)
	{
		int			len;
		double	   *row = NumArray(getIthJsonbValueFromContainer(c, a), what, &len);

		if (len != ncol)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type gcmodel"),
					 errdetail("Row %d of \"%s\" has %d entries, expected %d.", a + 1, what, len, ncol)));
		for (int b = 0; b < ncol; b++)
			out[a + (size_t) b * p] = row[b];
		pfree(row);
	}
	return out;
}

/* The keys of a temporal model (text version 2): lags, step, lag_correlation. */
static void
TemporalFromJson(JsonbContainer *root, GcModel *m)
{
	JsonbValue *v;
	JsonbContainer *c;
	size_t		pp = (size_t) m->p * m->p;

	m->temporal = 1;
	m->lags = IntVal(GetKey(root, "lags", true), "lags");
	m->step = NumVal(GetKey(root, "step", true), "step");
	if (m->lags < 0 || m->lags > GC_SERIES_MAX_LAGS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type gcmodel"),
				 errdetail("\"lags\" must be between 0 and %d.", GC_SERIES_MAX_LAGS)));
	v = GetKey(root, "lag_correlation", true);
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data) ||
		JsonContainerSize(v->val.binary.data) != (uint32) m->lags)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type gcmodel"),
				 errdetail("\"lag_correlation\" must be an array of %d matrices.", m->lags)));
	if (m->lags == 0)
		return;
	c = v->val.binary.data;
	m->lagcorr = palloc(sizeof(double) * pp * m->lags);
	for (int h = 0; h < m->lags; h++)
	{
		double	   *g = Matrix(getIthJsonbValueFromContainer(c, h), "lag_correlation", m->p, m->p);

		memcpy(m->lagcorr + h * pp, g, sizeof(double) * pp);
		pfree(g);
	}
}

Datum
gcmodel_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(str)));
	JsonbContainer *root = &jb->root;
	JsonbValue *v,
			   *cols;
	GcModel    *m = palloc0(sizeof(GcModel));
	char	   *kind;
	int			version;

	if (!JsonContainerIsObject(root))
		BadText("%s", "A gcmodel is a JSON object.");
	version = IntVal(GetKey(root, "version", true), "version");
	if (version != GCMODEL_VERSION && version != GCMODEL_VERSION_TEMPORAL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("unsupported gcmodel version %d", version),
				 errdetail("This build reads versions %d and %d.", GCMODEL_VERSION,
						   GCMODEL_VERSION_TEMPORAL)));
	v = GetKey(root, "kind", true);
	if (v->type != jbvString)
		BadText("%s", "\"kind\" must be \"full\" or \"low_rank\".");
	kind = pnstrdup(v->val.string.val, v->val.string.len);
	if (strcmp(kind, "full") == 0)
		m->kind = GC_MODEL_FULL;
	else if (strcmp(kind, "low_rank") == 0)
		m->kind = GC_MODEL_LOWRANK;
	else
		BadText("Unknown kind \"%s\"; valid kinds are full and low_rank.", kind);
	m->p = IntVal(GetKey(root, "p", true), "p");
	if (m->p < 1 || m->p > GCMODEL_MAX_COLUMNS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type gcmodel"),
				 errdetail("\"p\" must be between 1 and %d.", GCMODEL_MAX_COLUMNS)));
	if (m->kind == GC_MODEL_LOWRANK)
	{
		m->rank = IntVal(GetKey(root, "rank", true), "rank");
		m->sigma = NumVal(GetKey(root, "sigma", true), "sigma");
	}
	m->nrows = (int64) NumVal(GetKey(root, "rows", true), "rows");
	m->n_iter = IntVal(GetKey(root, "iterations", true), "iterations");
	m->max_iter = IntVal(GetKey(root, "max_iter", true), "max_iter");
	m->converged = BoolVal(GetKey(root, "converged", true), "converged");
	m->ridge_steps = IntVal(GetKey(root, "ridge_steps", true), "ridge_steps");
	m->tol = NumVal(GetKey(root, "tol", true), "tol");
	m->delta = NumVal(GetKey(root, "delta", true), "delta");
	m->loglik = NumVal(GetKey(root, "loglik", true), "loglik");
	v = GetKey(root, "training", false);
	m->training = GC_TRAIN_STANDARD;
	if (v != NULL)
	{
		char	   *tr;

		if (v->type != jbvString)
			BadText("%s", "\"training\" must be a string.");
		tr = pnstrdup(v->val.string.val, v->val.string.len);
		m->training = gc_training_from_name(tr);
		if (m->training < 0)
			BadText("Unknown training mode \"%s\".", tr);
	}

	cols = GetKey(root, "columns", true);
	if (cols->type != jbvBinary || !JsonContainerIsArray(cols->val.binary.data) ||
		JsonContainerSize(cols->val.binary.data) != (uint32) m->p)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type gcmodel"),
				 errdetail("\"columns\" must be an array of %d column objects.", m->p)));
	m->marg = palloc0(sizeof(GcMarginal) * m->p);
	for (int j = 0; j < m->p; j++)
	{
		JsonbValue *cv = getIthJsonbValueFromContainer(cols->val.binary.data, j);
		JsonbContainer *cc;
		GcMarginal *g = &m->marg[j];
		char	   *tname;
		int			n1,
					n2,
					n3;

		if (cv->type != jbvBinary || !JsonContainerIsObject(cv->val.binary.data))
			BadText("%s", "Each element of \"columns\" must be an object.");
		cc = cv->val.binary.data;
		v = GetKey(cc, "type", true);
		if (v->type != jbvString)
			BadText("%s", "A column's \"type\" must be a string.");
		tname = pnstrdup(v->val.string.val, v->val.string.len);
		g->type = gc_vartype_from_name(tname);
		if (g->type < 0 || g->type == GC_AUTO)
			BadText("Unknown column type \"%s\".", tname);
		g->n = NumVal(GetKey(cc, "n", true), "n");
		g->exact = BoolVal(GetKey(cc, "exact", true), "exact");
		g->x = NumArray(GetKey(cc, "x", true), "x", &n1);
		g->cum = NumArray(GetKey(cc, "cum", true), "cum", &n2);
		g->mult = NumArray(GetKey(cc, "mult", true), "mult", &n3);
		if (n1 != n2 || n1 != n3)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type gcmodel"),
					 errdetail("Column %d has %d knots but %d cumulative counts and %d multiplicities.",
							   j + 1, n1, n2, n3)));
		g->nknots = n1;
		gc_marginal_prepare(g);
	}
	m->corr = Matrix(GetKey(root, "correlation", true), "correlation", m->p, m->p);
	if (m->kind == GC_MODEL_LOWRANK)
	{
		if (m->rank < 1 || m->rank >= m->p)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("invalid input syntax for type gcmodel"),
					 errdetail("\"rank\" must be between 1 and p - 1.")));
		m->W = Matrix(GetKey(root, "W", true), "W", m->p, m->rank);
	}
	if (version == GCMODEL_VERSION_TEMPORAL)
		TemporalFromJson(root, m);
	PG_RETURN_GCMODEL_P(gcmodel_pack(m));
}

/* ---------- binary I/O ---------- */

Datum
gcmodel_send(PG_FUNCTION_ARGS)
{
	GcModelData *d = PG_GETARG_GCMODEL_P(0);
	GcModel    *m = gcmodel_unpack(d);
	StringInfoData buf;
	int			p = m->p;

	pq_begintypsend(&buf);
	pq_sendint16(&buf, m->temporal ? GCMODEL_VERSION_TEMPORAL : GCMODEL_VERSION);
	pq_sendint16(&buf, d->kind);
	pq_sendint32(&buf, p);
	pq_sendint32(&buf, d->rank);
	pq_sendint32(&buf, m->n_iter);
	pq_sendint32(&buf, m->max_iter);
	pq_sendint32(&buf, d->flags & GCMODEL_FLAG_CONVERGED);
	pq_sendint32(&buf, m->ridge_steps);
	pq_sendint32(&buf, m->training);
	pq_sendint64(&buf, m->nrows);
	pq_sendfloat8(&buf, m->tol);
	pq_sendfloat8(&buf, m->delta);
	pq_sendfloat8(&buf, m->loglik);
	pq_sendfloat8(&buf, m->sigma);
	for (int j = 0; j < p; j++)
	{
		pq_sendint32(&buf, m->marg[j].type);
		pq_sendint32(&buf, m->marg[j].nknots);
		pq_sendint32(&buf, m->marg[j].exact ? GCMODEL_COL_EXACT : 0);
		pq_sendfloat8(&buf, m->marg[j].n);
	}
	for (size_t k = 0; k < (size_t) p * p; k++)
		pq_sendfloat8(&buf, m->corr[k]);
	if (m->kind == GC_MODEL_LOWRANK)
		for (size_t k = 0; k < (size_t) p * m->rank; k++)
			pq_sendfloat8(&buf, m->W[k]);
	for (int j = 0; j < p; j++)
		for (int k = 0; k < m->marg[j].nknots; k++)
		{
			pq_sendfloat8(&buf, m->marg[j].x[k]);
			pq_sendfloat8(&buf, m->marg[j].cum[k]);
			pq_sendfloat8(&buf, m->marg[j].mult[k]);
		}
	if (m->temporal)
	{
		pq_sendfloat8(&buf, m->step);
		pq_sendint32(&buf, m->lags);
		for (size_t k = 0; k < (size_t) p * p * m->lags; k++)
			pq_sendfloat8(&buf, m->lagcorr[k]);
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/* bounds-checked count of doubles still to come, so a lying header cannot make us allocate */
static void
NeedBytes(StringInfo buf, Size n)
{
	if (n > (Size) (buf->len - buf->cursor))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary gcmodel: message too short")));
}

Datum
gcmodel_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	GcModel    *m = palloc0(sizeof(GcModel));
	int			version,
				p;
	uint32		flags;

	NeedBytes(buf, 2 * 2 + 7 * 4 + 8 * 5);
	version = pq_getmsgint(buf, 2);
	if (version != GCMODEL_VERSION && version != GCMODEL_VERSION_TEMPORAL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("unsupported binary gcmodel version %d", version)));
	m->kind = pq_getmsgint(buf, 2);
	p = m->p = pq_getmsgint(buf, 4);
	m->rank = pq_getmsgint(buf, 4);
	m->n_iter = pq_getmsgint(buf, 4);
	m->max_iter = pq_getmsgint(buf, 4);
	flags = (uint32) pq_getmsgint(buf, 4);
	m->converged = (flags & GCMODEL_FLAG_CONVERGED) != 0;
	m->ridge_steps = pq_getmsgint(buf, 4);
	m->training = pq_getmsgint(buf, 4);
	m->nrows = pq_getmsgint64(buf);
	m->tol = pq_getmsgfloat8(buf);
	m->delta = pq_getmsgfloat8(buf);
	m->loglik = pq_getmsgfloat8(buf);
	m->sigma = pq_getmsgfloat8(buf);
	if (p < 1 || p > GCMODEL_MAX_COLUMNS || (m->kind != GC_MODEL_FULL && m->kind != GC_MODEL_LOWRANK) ||
		(m->kind == GC_MODEL_LOWRANK && (m->rank < 1 || m->rank >= p)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary gcmodel: bad dimensions")));
	NeedBytes(buf, (Size) p * 20);
	m->marg = palloc0(sizeof(GcMarginal) * p);
	for (int j = 0; j < p; j++)
	{
		m->marg[j].type = pq_getmsgint(buf, 4);
		m->marg[j].nknots = pq_getmsgint(buf, 4);
		m->marg[j].exact = (pq_getmsgint(buf, 4) & GCMODEL_COL_EXACT) != 0;
		m->marg[j].n = pq_getmsgfloat8(buf);
		if (m->marg[j].nknots < 1 || m->marg[j].nknots > 100000000)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid binary gcmodel: column %d has %d knots", j + 1, m->marg[j].nknots)));
	}
	NeedBytes(buf, (Size) p * p * 8);
	m->corr = palloc(sizeof(double) * p * p);
	for (size_t k = 0; k < (size_t) p * p; k++)
		m->corr[k] = pq_getmsgfloat8(buf);
	if (m->kind == GC_MODEL_LOWRANK)
	{
		NeedBytes(buf, (Size) p * m->rank * 8);
		m->W = palloc(sizeof(double) * p * m->rank);
		for (size_t k = 0; k < (size_t) p * m->rank; k++)
			m->W[k] = pq_getmsgfloat8(buf);
	}
	for (int j = 0; j < p; j++)
	{
		int			K = m->marg[j].nknots;
		double	   *x,
				   *cum,
				   *mult;

		NeedBytes(buf, (Size) K * 24);
		x = palloc(sizeof(double) * K);
		cum = palloc(sizeof(double) * K);
		mult = palloc(sizeof(double) * K);
		for (int k = 0; k < K; k++)
		{
			x[k] = pq_getmsgfloat8(buf);
			cum[k] = pq_getmsgfloat8(buf);
			mult[k] = pq_getmsgfloat8(buf);
		}
		m->marg[j].x = x;
		m->marg[j].cum = cum;
		m->marg[j].mult = mult;
		gc_marginal_prepare(&m->marg[j]);
	}
	if (version == GCMODEL_VERSION_TEMPORAL)
	{
		NeedBytes(buf, 12);
		m->temporal = 1;
		m->step = pq_getmsgfloat8(buf);
		m->lags = pq_getmsgint(buf, 4);
		if (m->lags < 0 || m->lags > GC_SERIES_MAX_LAGS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
					 errmsg("invalid binary gcmodel: %d lags", m->lags)));
		if (m->lags > 0)
		{
			NeedBytes(buf, (Size) p * p * m->lags * 8);
			m->lagcorr = palloc(sizeof(double) * p * p * m->lags);
			for (size_t k = 0; k < (size_t) p * p * m->lags; k++)
				m->lagcorr[k] = pq_getmsgfloat8(buf);
		}
	}
	if (buf->cursor != buf->len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid binary gcmodel: %d trailing bytes", buf->len - buf->cursor)));
	PG_RETURN_GCMODEL_P(gcmodel_pack(m));
}

/* ---------- inspection ---------- */

Datum
gc_model_info(PG_FUNCTION_ARGS)
{
	GcModelData *d = PG_GETARG_GCMODEL_P(0);
	GcModel    *m = gcmodel_unpack(d);
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"version\": %d, \"kind\": \"%s\", \"columns\": %d",
					 m->temporal ? GCMODEL_VERSION_TEMPORAL : GCMODEL_VERSION, m->kind == GC_MODEL_LOWRANK ? "low_rank" : "full", m->p);
	if (m->kind == GC_MODEL_LOWRANK)
	{
		appendStringInfo(&buf, ", \"rank\": %d, \"sigma\": ", m->rank);
		AppendDouble(&buf, m->sigma);
	}
	appendStringInfo(&buf, ", \"rows\": " INT64_FORMAT ", \"iterations\": %d, \"max_iter\": %d, \"converged\": %s, \"ridge_steps\": %d, \"size_bytes\": %zu, \"tol\": ",
					 m->nrows, m->n_iter, m->max_iter, m->converged ? "true" : "false",
					 m->ridge_steps, (size_t) VARSIZE(d));
	AppendDouble(&buf, m->tol);
	appendStringInfoString(&buf, ", \"last_change\": ");
	AppendDouble(&buf, m->delta);
	appendStringInfoString(&buf, ", \"loglik\": ");
	AppendDouble(&buf, m->loglik);
	appendStringInfo(&buf, ", \"training\": \"%s\"", gc_training_name(m->training));
	if (m->temporal)
	{
		appendStringInfo(&buf, ", \"temporal\": true, \"lags\": %d, \"step\": ", m->lags);
		AppendDouble(&buf, m->step);
	}
	appendStringInfoString(&buf, ", \"types\": [");
	for (int j = 0; j < m->p; j++)
		appendStringInfo(&buf, "%s\"%s\"", j ? ", " : "", gc_vartype_name(m->marg[j].type));
	appendStringInfoString(&buf, "], \"observed\": [");
	for (int j = 0; j < m->p; j++)
	{
		if (j)
			appendStringInfoString(&buf, ", ");
		AppendDouble(&buf, m->marg[j].n);
	}
	appendStringInfoString(&buf, "], \"knots\": [");
	for (int j = 0; j < m->p; j++)
		appendStringInfo(&buf, "%s%d", j ? ", " : "", m->marg[j].nknots);
	appendStringInfoString(&buf, "]}");
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* A p×p column-major matrix as a 2-D float8 array (row-major element order). */
static ArrayType *
MatrixArray(const double *c, int p)
{
	Datum	   *elems = palloc(sizeof(Datum) * p * p);
	int			dims[2] = {p, p};
	int			lbs[2] = {1, 1};

	for (int a = 0; a < p; a++)
		for (int b = 0; b < p; b++)
			elems[a * p + b] = Float8GetDatum(c[a + (size_t) b * p]);
	return construct_md_array(elems, NULL, 2, dims, lbs, FLOAT8OID,
							  sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

Datum
gc_correlation(PG_FUNCTION_ARGS)
{
	GcModelData *d = PG_GETARG_GCMODEL_P(0);
	GcModel    *m = gcmodel_unpack(d);

	PG_RETURN_ARRAYTYPE_P(MatrixArray(m->corr, m->p));
}

/*
 * Γ(h) of a temporal model: entry [a][b] is the latent correlation of column a at time t
 * with column b at time t − h (h = 0 is gc_correlation). Lags beyond the fitted ones
 * continue the series as the model does in imputation.
 */
Datum
gc_lag_correlation(PG_FUNCTION_ARGS)
{
	GcModelData *d = PG_GETARG_GCMODEL_P(0);
	int32		h = PG_GETARG_INT32(1);
	GcModel    *m = gcmodel_unpack(d);
	int			p = m->p;
	double	   *C;
	double	   *g;
	GcAlloc		alloc = gc_pg_alloc(CurrentMemoryContext);
	GcStatus	st;

	if (!m->temporal)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_lag_correlation: the model is not temporal"),
				 errhint("Fit it with gc_fit_series.")));
	if (h < 0 || h > 2 * GC_SERIES_MAX_LAGS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gc_lag_correlation: the lag must be between 0 and %d, got %d",
						2 * GC_SERIES_MAX_LAGS, h)));
	C = palloc(sizeof(double) * (size_t) (h + 1) * p * (h + 1) * p);
	st = gc_temporal_window_corr(m, h, 0, &alloc, C);
	if (st != GC_OK)
		gc_report_status(st, "gc_lag_correlation", "the lag correlations cannot be continued");
	/* block (h, 0) of the window t−h..t is Cov(z_t, z_{t−h}) = Γ(h) */
	g = palloc(sizeof(double) * p * p);
	for (int b = 0; b < p; b++)
		for (int a = 0; a < p; a++)
			g[a + (size_t) b * p] = C[(h * p + a) + (size_t) b * (h + 1) * p];
	PG_RETURN_ARRAYTYPE_P(MatrixArray(g, p));
}
