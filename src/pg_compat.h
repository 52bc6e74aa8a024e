/*
 * pg_compat.h — the few server APIs that differ between the PostgreSQL majors gcimpute
 * supports (14 to 18), each given its newest spelling so that the rest of the source is
 * written once.  The executor calls of the stream's direct insert path differ in their
 * argument lists; they are guarded where they are called (stream/insert.c).
 */
#ifndef GC_PG_COMPAT_H
#define GC_PG_COMPAT_H

#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"

/* 16 moved the varlena macros out of postgres.h */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/* 18 replaced the pg_attribute_noreturn() suffix with the C11 pg_noreturn specifier */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

#if PG_VERSION_NUM < 150000

/* 15 renamed EmitWarningsOnPlaceholders: both warn about and reserve the prefix */
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)

/*
 * 15 added InitMaterializedSRF: a set-returning function's tuple store and result
 * descriptor in the per-query context, returned in materialize mode.
 */
#define MAT_SRF_USE_EXPECTED_DESC	0x01
#define MAT_SRF_BLESS				0x02
extern void InitMaterializedSRF(FunctionCallInfo fcinfo, bits32 flags);

#endif

#endif
