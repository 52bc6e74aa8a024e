/*
 * status.h — the status codes every PostgreSQL-free module returns.
 *
 * The numerics report failures by value and leave the wording to their caller: the glue
 * turns a status into an ereport with the right SQLSTATE, the unit tests compare it.
 */
#ifndef GC_STATUS_H
#define GC_STATUS_H

#include <stddef.h>

typedef enum GcStatus
{
	GC_OK = 0,
	GC_ENOMEM,					/* allocation failed */
	GC_EINVAL,					/* invalid or mismatched argument (message says which) */
	GC_ENOTPD,					/* a matrix that must be positive definite is not */
	GC_ELAPACK,					/* LAPACK reported an argument error */
	GC_EDEGENERATE,				/* the data cannot identify the model */
	GC_EFORMAT,					/* serialized input is malformed */
	GC_ETOOFEW,					/* too few samples to fit */
	GC_ENOCONV					/* an iteration did not converge */
} GcStatus;

/*
 * Why serialized input is malformed, formatted into errbuf (errlen bytes; nothing when
 * errbuf is NULL) for the glue to report. Returns GC_EFORMAT.
 */
extern int	gc_format_error(char *errbuf, size_t errlen, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

#endif							/* GC_STATUS_H */
