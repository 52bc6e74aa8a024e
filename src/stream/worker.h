/*
 * worker.h — shared declarations of the stream ingest background workers.
 *
 * Process tree: a static launcher (no database) starts one manager per configured
 * database; the manager starts the workers of each enabled stream of gc_streams ("workers":
 * N of them, each owning a fixed part of the stream's partitions).  Status flows back
 * through the shared-memory slots declared here, one per worker.
 */
#ifndef GC_WORKER_H
#define GC_WORKER_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "storage/latch.h"
#include "storage/lwlock.h"

#define GC_STREAM_MAX_PARTS 128
/* the "workers" option's upper bound (docs/streaming.md says why) */
#define GC_STREAM_MAX_WORKERS 64
#define GC_LAT_BUCKETS 96
#define GC_ERRLEN 256

/* One running (or starting) stream worker. */
typedef struct GcStreamSlot
{
	bool		in_use;
	Oid			dboid;
	int32		stream_id;
	int32		worker;			/* which of the stream's workers: 0 .. nworkers - 1 */
	int32		nworkers;
	Oid			owner;			/* the stream's owner: who may read this slot */
	pid_t		pid;
	Latch	   *latch;
	TimestampTz started_at;
	char		state[16];
	int64		messages;
	int64		rows_written;
	int64		duplicates;
	int64		dead_letters;
	int64		imputed_cells;
	int64		late_updates;
	int64		entity_conflicts;	/* entities also seen by another worker of the stream */
	int32		pending_rows;
	double		rows_per_s;
	char		last_error[GC_ERRLEN];
	int			nparts;
	int32		parts[GC_STREAM_MAX_PARTS];
	int64		high_watermark[GC_STREAM_MAX_PARTS];
	/* end-to-end latency histogram, bucket b covers [2^(b/4) - 1, 2^((b+1)/4) - 1) ms */
	double		lat_hist[GC_LAT_BUCKETS];
} GcStreamSlot;

/*
 * Which worker of a stream first saw an entity (by a 64-bit hash of its name), so that a
 * worker can tell when an entity's messages reach two workers (docs/streaming.md, Several
 * workers).  A fixed open-addressing table shared by all streams: when it is full an
 * entity goes unchecked, never falsely reported.
 */
#define GC_ENTITY_SLOTS 16384
#define GC_ENTITY_PROBES 8

typedef struct GcEntityClaim
{
	Oid			dboid;			/* 0: free */
	int32		stream_id;
	int32		worker;
	int32		nworkers;		/* the worker set that made the claim */
	int32		partition;
	uint64		hash;
} GcEntityClaim;

typedef struct GcStreamShared
{
	LWLock	   *lock;
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	pid_t		manager_pid;
	Latch	   *manager_latch;
	Oid			manager_db;
	int			nslots;
	GcEntityClaim entities[GC_ENTITY_SLOTS];
	GcStreamSlot slots[FLEXIBLE_ARRAY_MEMBER];
} GcStreamShared;

/* GUCs (launcher.c) */
extern int	gc_max_streams;
extern int	gc_launcher_naptime;
extern char *gc_database;

/* stream_shmem.c */
extern GcStreamShared *GcShared;
extern void GcShmemRequest(void);
extern void GcShmemStartup(void);
extern int	GcLatencyBucket(double ms);
extern double GcLatencyQuantile(const double *hist, double q);
extern char *GcExtensionSchema(void);
extern Oid	GcExtensionNamespace(void);
extern bool GcWakeAtCommit(void);
extern bool GcCatalogHasColumn(const char *table, const char *column);
extern void gc_stream_check_worker_slots(int nworkers, const char *name);
extern bool gc_stream_claim_entity(int32 stream_id, int worker, int nworkers, uint64 hash,
								   int32 partition, int *other_worker, int32 *other_partition);
extern void gc_stream_forget_entities(int32 stream_id);

/* launcher.c */
extern void gc_worker_init(void);
extern PGDLLEXPORT void gc_launcher_main(Datum arg);
extern PGDLLEXPORT void gc_manager_main(Datum arg);

/* stream_worker.c */
extern PGDLLEXPORT void gc_stream_worker_main(Datum arg);

#endif
