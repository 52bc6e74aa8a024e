/*
 * fit_sql.h — the options of the fitting aggregates (gc_fit, gc_update, gc_fit_series), parsed
 * from their jsonb argument once per aggregate by fit_sql.c.
 */
#ifndef GC_FIT_SQL_H
#define GC_FIT_SQL_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "copula/copula.h"

typedef struct GcSqlFitOptions
{
	GcFitOptions core;
	bool		verbose;
	int			ntypes;			/* -1: no "types" option */
	int		   *types;			/* requested type per column (GC_AUTO to detect) */
	bool		types_by_index; /* "types" was an object {"3": "ordinal"} */
	int			max_index;		/* largest column number named in a "types" object */
	int			rank;			/* > 0: fit a low-rank model of this rank (em_lowrank.c) */
	int			lags;			/* gc_fit_series: lags, -1 for "auto" */
	int			max_lags;		/* gc_fit_series: the most lags "auto" considers; -1 not given */
	double		step;			/* gc_fit_series: seconds between rows, 0 for "auto" */
} GcSqlFitOptions;

/* which function's options: each accepts its own set of keys */
#define GC_FIT_OPTIONS_FIT 0
#define GC_FIT_OPTIONS_UPDATE 1
#define GC_FIT_OPTIONS_SERIES 2

/* Parse and validate an options object (NULL: the defaults); ereports on a bad option. */
extern void gc_fit_parse_options(Jsonb *jb, GcSqlFitOptions *o, int mode);

/* Check the "types" option against the row width p once it is known. */
extern void gc_fit_check_types_width(GcSqlFitOptions *o, int p);

/* The core's options, with progress NOTICEs (when verbose) and interrupt checks. */
extern GcFitOptions gc_fit_core_options(const GcSqlFitOptions *o);

#endif
