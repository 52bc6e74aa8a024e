/*
 * temporal_history.h — causal imputation with a temporal model in the stream worker: each
 * entity's latest rows, kept so that a new row can be imputed from them (docs/temporal.md).
 */
#ifndef GC_STREAM_TEMPORAL_HISTORY_H
#define GC_STREAM_TEMPORAL_HISTORY_H

#include "postgres.h"

#include "copula/copula.h"

typedef struct TemporalHistory TemporalHistory;

/*
 * History and window imputer for a temporal model (model must outlive it), in a memory
 * context of its own under parent. ereports when the model's window cannot be built.
 */
extern TemporalHistory *gc_stream_history_create(const GcModel *model, MemoryContext parent);
extern void gc_stream_history_free(TemporalHistory *h);

/*
 * Impute the row of entity at time t_us (microseconds; NaN marks a missing cell) from its
 * observed cells and those of the entity's rows recorded before t within the model's span
 * — what gc_impute_series(..., '{"mode": "causal"}') computes over the same rows — into
 * out, then record the row's observed cells. Returns false when the row has no missing
 * cell (out is then a copy of in).
 */
extern bool gc_stream_history_impute(TemporalHistory *h, const char *entity, int64 t_us,
									 const double *in, double *out);

/* Record a row written earlier (a restart refills the history from the target). */
extern void gc_stream_history_record(TemporalHistory *h, const char *entity, int64 t_us,
									 const double *row);

/* Rows kept per entity: what a refill needs to read back. */
extern int	gc_stream_history_depth(const TemporalHistory *h);

#endif
