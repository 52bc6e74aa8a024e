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
extern TemporalHistory *gc_stream_history_create(const GcModel *model, bool refine,
												 MemoryContext parent);
extern void gc_stream_history_free(TemporalHistory *h);

/*
 * Impute the row of entity at time t_us (microseconds; NaN marks a missing cell) from its
 * observed cells and those of the entity's rows recorded before t within the model's span
 * — what gc_impute_series(..., '{"mode": "causal"}') computes over the same rows — into
 * out, then record the row's observed cells (replacing a row recorded at the same time)
 * with the caller's tag. Returns false when the row has no missing cell (out is then a
 * copy of in).
 */
extern bool gc_stream_history_impute(TemporalHistory *h, const char *entity, int64 t_us,
									 const double *in, double *out, void *tag);

/*
 * A revised row: its time, its tag when recorded in the current generation (else NULL),
 * its observed cells and the new imputation (observed cells unchanged).
 */
typedef void (*HistoryReviseFn) (void *arg, int64 t_us, void *tag, const double *observed,
								 const double *imputed);

/*
 * After the row of entity at t_us was recorded (new, out of time order, or completed by a
 * late message): impute again each recorded row with missing cells whose imputation depends
 * on it — the later rows within the span, and with refine also the earlier ones and the
 * row itself, from both sides — and hand each to fn. Returns how many.
 */
extern int	gc_stream_history_revise(TemporalHistory *h, const char *entity, int64 t_us,
									 HistoryReviseFn fn, void *arg);

/*
 * The same around a late row, from rows read back from the target: reset the scratch
 * series, add the rows within gc_stream_history_reach steps of it (in time order) and the
 * row itself, then revise them and the row itself. Independent of what the history still
 * holds in memory.
 */
extern void gc_stream_history_scratch_reset(TemporalHistory *h);
extern void gc_stream_history_scratch_add(TemporalHistory *h, int64 t_us, const double *row,
										  void *tag);
extern int	gc_stream_history_scratch_revise(TemporalHistory *h, int64 t_us,
											 HistoryReviseFn fn, void *arg);
extern int	gc_stream_history_reach(const TemporalHistory *h);
extern double gc_stream_history_step(const TemporalHistory *h);

/* Start a generation: tags recorded before it are no longer handed out. */
extern void gc_stream_history_new_batch(TemporalHistory *h);

/* Record a row written earlier (a restart refills the history from the target). */
extern void gc_stream_history_record(TemporalHistory *h, const char *entity, int64 t_us,
									 const double *row);

/* Rows kept per entity: what a refill needs to read back. */
extern int	gc_stream_history_depth(const TemporalHistory *h);

#endif
