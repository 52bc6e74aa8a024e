/*
 * gcmodel_sql.h — the on-disk form of a fitted Gaussian copula (SQL type gcmodel) and the
 * conversions between it and the core's in-memory GcModel.
 *
 * Layout (version 1), all in one varlena, 8-byte aligned:
 *   GcModelData header
 *   int32 types[p], int32 nknots[p], int32 colflags[p]      (padded to 8 bytes)
 *   float8 n[p]
 *   float8 corr[p*p]            (column-major; left out when GCMODEL_FLAG_IMPLICIT_CORR)
 *   float8 W[p*rank]            (kind low rank)
 *   per column j: float8 x[nknots[j]], cum[nknots[j]], mult[nknots[j]]
 *   temporal (version 3): float8 step, float8 lags, float8 lagcorr[lags*p*p]
 */
#ifndef GCMODEL_H
#define GCMODEL_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/memutils.h"

#include "copula/copula.h"
#include "pg_compat.h"

/*
 * Version of the text (JSON) and binary (send/recv) forms: 1, or 2 for a temporal model
 * (which adds lags, step and the lag correlations). Version 2 is written only for temporal
 * models, so a build that reads only version 1 refuses them instead of dropping the lags.
 */
#define GCMODEL_VERSION 1
#define GCMODEL_VERSION_TEMPORAL 2
/*
 * Layout of the stored varlena: 1 = correlation always stored; 2 = a low-rank model whose
 * correlation is implicit (GCMODEL_FLAG_IMPLICIT_CORR). Version 2 is written only when the
 * correlation is left out, so a build that knows only layout 1 refuses such a datum with
 * a clear error instead of reading W and the knots as the correlation.
 */
#define GCMODEL_DISK_VERSION_STORED_CORR 1
#define GCMODEL_DISK_VERSION_IMPLICIT_CORR 2
/* 3 = a temporal model: layout 1 followed by step, lags and the lag correlations */
#define GCMODEL_DISK_VERSION_TEMPORAL 3
#define GCMODEL_MAX_COLUMNS 4096
#define GCMODEL_FLAG_CONVERGED 0x0001
/* on disk only: a low-rank model whose corr is exactly gc_lowrank_corr(W, σ), not stored */
#define GCMODEL_FLAG_IMPLICIT_CORR 0x0002
/* a temporal model (copula/temporal.h) */
#define GCMODEL_FLAG_TEMPORAL 0x0004
#define GCMODEL_COL_EXACT 0x0001

typedef struct GcModelData
{
	int32		vl_len_;		/* varlena header (do not touch directly!) */
	uint16		version;		/* GCMODEL_DISK_VERSION_* */
	uint16		kind;			/* GC_MODEL_FULL or GC_MODEL_LOWRANK */
	int32		p;
	int32		rank;			/* 0 for a full model */
	int32		n_iter;
	int32		max_iter;
	uint32		flags;
	int32		ridge_steps;
	int32		training;		/* GC_TRAIN_* the model was fitted with */
	int32		reserved;		/* zero */
	int64		nrows;
	float8		tol;
	float8		delta;
	float8		loglik;
	float8		sigma;
	uint64		fingerprint;	/* hash of everything after the header, for caches */
	char		data[FLEXIBLE_ARRAY_MEMBER];
} GcModelData;

#define DatumGetGcModelP(x)		((GcModelData *) PG_DETOAST_DATUM(x))
#define PG_GETARG_GCMODEL_P(n)	DatumGetGcModelP(PG_GETARG_DATUM(n))
#define PG_RETURN_GCMODEL_P(x)	PG_RETURN_POINTER(x)

/*
 * The identity of a gcmodel argument as passed (a TOAST pointer, compressed bytes, or a
 * plain datum's fingerprint), so that a per-query cache can tell the same model without
 * detoasting it for every row.
 */
typedef struct GcModelKey
{
	bool		have_key;
	bool		key_external;
	struct varatt_external key_ext; /* a TOAST pointer */
	Size		key_len;
	char	   *key_bytes;		/* or the raw (possibly compressed) bytes */
	uint64		fingerprint;
	int32		size;
} GcModelKey;

/* Is raw (not detoasted) the argument the key was taken from? */
extern bool gc_model_key_matches(const GcModelKey *key, struct varlena *raw);
/* Is the detoasted d the model the key was taken from (fingerprint and size)? */
extern bool gc_model_key_same_model(const GcModelKey *key, const GcModelData *d);
/* Take the key of raw, whose detoasted form is d; bytes are copied into cxt. */
extern void gc_model_key_remember(GcModelKey *key, struct varlena *raw, const GcModelData *d,
								  MemoryContext cxt);

/* An allocator for the core that pallocs in cxt (NULL on out-of-memory). */
extern GcAlloc gc_pg_alloc(MemoryContext cxt);

/*
 * Large buffers of the glue (a fit's rows) placed like the core's on transparent huge pages
 * (hugemem.h): allocated in cxt (out of memory is an error), freed by gc_pfree_big or with
 * cxt, grown by gc_prealloc_big (a copy; never repalloc or pfree such a pointer).
 */
extern void *gc_palloc_big(MemoryContext cxt, Size size);
extern void gc_pfree_big(void *ptr);
extern void *gc_prealloc_big(MemoryContext cxt, void *ptr, Size oldsize, Size newsize);

/* Report a core failure as an ERROR with a fitting errcode. */
pg_noreturn extern void gc_report_status(GcStatus st, const char *what, const char *msg);

/* Validate a core model (from a fit, text or binary input) and pack it. */
extern GcModelData *gcmodel_pack(const GcModel *m);

/* View a packed model as a core model; the marginals point into the varlena. */
extern GcModel *gcmodel_unpack(const GcModelData *d);

/* Check a core model for consistency; ereports on failure. */
extern void gcmodel_check(const GcModel *m);

#endif
