/*
 * gcimpute.h — declarations shared by the PostgreSQL glue files of gcimpute.
 */
#ifndef GCIMPUTE_H
#define GCIMPUTE_H

#include "postgres.h"

#include "utils/array.h"

extern void _PG_init(void);

/* rowarray.c: float8[] rows <-> C arrays (NULL and NaN both mean "missing") */
extern int	gc_row_length(ArrayType *a, const char *fn);
extern void gc_row_values(ArrayType *a, double *out, int n, const char *fn, int64 rowno);
extern ArrayType *gc_row_build(const double *v, int n, bool nan_as_null);

#endif
