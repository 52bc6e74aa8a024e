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
 */
#ifndef GCMODEL_H
#define GCMODEL_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/memutils.h"

#include "copula/copula.h"
#include "pg_compat.h"

/* version of the text (JSON) and binary (send/recv) forms */
#define GCMODEL_VERSION 1
/*
 * Layout of the stored varlena: 1 = correlation always stored; 2 = a low-rank model whose
 * correlation is implicit (GCMODEL_FLAG_IMPLICIT_CORR). Version 2 is written only when the
 * correlation is left out, so a build that knows only layout 1 refuses such a datum with
 * a clear error instead of reading W and the knots as the correlation.
 */
#define GCMODEL_DISK_VERSION_STORED_CORR 1
#define GCMODEL_DISK_VERSION_IMPLICIT_CORR 2
#define GCMODEL_MAX_COLUMNS 4096
#define GCMODEL_FLAG_CONVERGED 0x0001
/* on disk only: a low-rank model whose corr is exactly gc_lowrank_corr(W, σ), not stored */
#define GCMODEL_FLAG_IMPLICIT_CORR 0x0002
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
