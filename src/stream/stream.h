/*
 * stream.h — the pieces of one stream worker: configuration, decoded messages, the
 * dedup set, row assembly and the batch writer.
 */
#ifndef GC_STREAM_H
#define GC_STREAM_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"

typedef enum ColRole
{
	ROLE_VALUE,
	ROLE_TEXT,
	ROLE_ENTITY,
	ROLE_TIME,
	ROLE_KEY,
	ROLE_PARTITION,
	ROLE_OFFSET,
	ROLE_TIMESTAMP,
	ROLE_IMPUTED,
	ROLE_RAW
} ColRole;

typedef struct StreamColumn
{
	char	   *name;
	Oid			type;
	ColRole		role;
	int			field;			/* index into StreamConfig.fields, or -1 */
	int			value;			/* index among value columns, or -1 */
	bool		integral;		/* value column of an integer type */
} StreamColumn;

typedef struct StreamConfig
{
	int32		id;
	char	   *name;
	Oid			owner;
	char	   *brokers;
	char	   *topic;
	Oid			target;
	char	   *target_sql;		/* schema-qualified, quoted */
	char	   *ext_schema;		/* quoted schema of the extension */
	bool		csv;
	char		delim;
	bool		binary;			/* every column has a type the binary COPY writer knows */
	int			ncols;
	StreamColumn *cols;
	int			nvalues;
	int			nfields;
	char	  **fields;			/* message fields we look at */
	int			ncsv;
	int		   *csv_field;		/* CSV position -> field index or -1 */
	int			f_publisher;
	int			f_data;
	int			f_entity;
	int			f_time;
	int			c_entity;		/* column indexes or -1 */
	int			c_time;
	int			c_imputed;
	int			c_raw;
	bool		assemble;
	bool		row_time_window;	/* time column = window start (else earliest event) */
	double		window;			/* seconds; 0 = auto */
	double		lateness;		/* seconds */
	bool		lateness_auto;
	double		time_unit;		/* seconds per numeric unit */
	bool		dedup;
	bool		refine_previous;	/* temporal model: re-impute earlier rows as later ones come */
	double		dedup_retention;
	int			batch_size;
	double		flush_interval;
	int			max_message_bytes;
	int64		start;			/* -2 earliest, -1 latest, else offset */
	/* the share of the topic ("partitions"): a list, or modulus/remainder; neither: all */
	int			nshare;
	int32	   *share;
	int			share_modulus;	/* 0: no modulus form */
	int			share_remainder;
	/* "workers": this worker owns the share's partitions whose index % nworkers = worker */
	int			nworkers;
	int			worker;
	char	   *options_text;	/* gc_streams.options as loaded: a change restarts the worker */
	char	   *model;
	double		model_refresh;
	int			model_window;
	List	   *kafka_conf;		/* list of pairs of char* (key, value) */
} StreamConfig;

/* decoded fields of one message */
#define FK_ABSENT 0
#define FK_NULL 1
#define FK_NUMBER 2
#define FK_STRING 3
#define FK_BOOL 4
#define FK_OTHER 5

typedef struct Decoded
{
	int			nfields;
	char	   *kind;
	char	  **val;			/* NUL-terminated copies in scratch memory */
	int		   *len;			/* their lengths */
	double	   *num;			/* JSON numbers: the value, when numok */
	bool	   *numok;
	int			hint;			/* the field expected next */
	int		   *hintlen;		/* strlen of each field name */
	StringInfoData key;			/* the current object key (reused) */
} Decoded;

/* decode.c */
extern Decoded *DecodedCreate(StreamConfig *cfg);
extern bool DecodeMessage(StreamConfig *cfg, const char *payload, size_t len,
						  Decoded *d, StringInfo scratch, char **error);
extern bool DecodeEventTime(StreamConfig *cfg, char kind, const char *s, int64 *us, char **error);
extern bool DecodeNumber(const char *s, double *v);

/* kafka_conf.c */
extern List *StreamKafkaConfList(Jsonb *j);
extern void StreamCheckKafkaConf(List *conf, bool superuser);
extern void StreamValidateKafkaConf(Jsonb *j, bool superuser);

/* dedup.c */
typedef struct DedupSet DedupSet;
extern DedupSet *DedupCreate(MemoryContext mcxt);
extern bool DedupSeen(DedupSet *ds, const char *key, int64 now_us);
extern bool DedupSeenLen(DedupSet *ds, const char *key, size_t len, int64 now_us);
extern void DedupAdd(DedupSet *ds, const char *key, int64 now_us);
extern void DedupPrune(DedupSet *ds, int64 older_than_us);
extern long DedupCount(DedupSet *ds);
extern void DedupHashPrefetch(DedupSet *ds, const char *key, size_t len, uint64 *h);
extern bool DedupSeenHash(DedupSet *ds, const uint64 *h, int64 now_us);

/* one output row (assembled or one message), waiting to be written */
typedef struct PartMin
{
	int32		partition;
	int64		offset;
} PartMin;

typedef struct PendingRow
{
	char		hkey[128];		/* hash key: window start + entity */
	char	   *entity;
	int64		win_start;		/* microseconds since the Unix epoch */
	int64		event_us;		/* earliest event time of its messages: the time column */
	double	   *vals;
	bool	   *have;
	bool	   *imp;			/* filled by the model at write time */
	int			ncols;
	char	  **texts;			/* per column, for ROLE_TEXT */
	char	   *kkey;			/* Kafka key of the last message */
	int32		partition;
	int64		offset;
	int64		kafka_ts_ms;	/* largest producer timestamp among its messages */
	int			nparts;
	PartMin		parts[4];		/* lowest offset per partition among its messages */
	List	   *keys;			/* dedup keys (char *) to persist when written */
	char	   *key1;			/* or the one key of a row of one message (in arena) */
	int			key1_len;
	char	   *arena;			/* a row of one message: its strings, in its own block */
	Size		arena_size;
	Size		arena_used;
	int			nmsgs;
	bool		late;			/* for an already written window: update it */
	bool		merged;			/* a late piece moved into an earlier row of its batch */
	char	   *payload;		/* append mode: the raw message, for dead letters */
	int			payload_len;
} PendingRow;

#endif

/* ---- one running stream worker ---- */

/* How long a stream's last_error stands: by its origin, not its text. */
typedef enum StreamErrorKind
{
	STREAM_ERR_NONE,
	STREAM_ERR_TRANSIENT,		/* a failed batch, metadata: cleared by the next good batch */
	STREAM_ERR_KAFKA,			/* reported by librdkafka: stands until the next one */
	STREAM_ERR_MODEL,			/* the model is missing or its refresh failed */
	STREAM_ERR_ENTITY			/* an entity reached two workers: stands until the next error */
} StreamErrorKind;

#include <librdkafka/rdkafka.h>

#include "access/attnum.h"
#include "fmgr.h"
#include "utils/relcache.h"
#include "stream/worker.h"

/*
 * A message decoded ahead of its turn (assemble.c, AssemblePrepare): while the message
 * before it is assembled, the dedup set's slot for its key is already on its way.
 */
typedef struct Prepared
{
	const char *payload;		/* the message it is for (NULL: free) */
	size_t		len;
	Decoded    *d;
	StringInfoData scratch;
	bool		ok;
	char	   *error;
	bool		has_hash;		/* the dedup key's hash, when the key looked valid */
	size_t		dklen;
	uint64		h[2];
} Prepared;

typedef struct DeadLetter
{
	int32		partition;
	int64		offset;
	char	   *payload;
	int			len;
	char	   *error;
} DeadLetter;

typedef struct StreamWorker
{
	StreamConfig *cfg;
	GcStreamSlot *slot;
	MemoryContext rows_cxt;		/* pending rows, dedup keys */
	MemoryContext batch_cxt;	/* reset after each flush */
	rd_kafka_t *rk;
	rd_kafka_queue_t *queue;
	int			pipefd[2];
	bool		assigned;
	int			nparts;
	int32		parts[GC_STREAM_MAX_PARTS];
	int64		pos[GC_STREAM_MAX_PARTS];	/* next offset to process */
	int64		committed[GC_STREAM_MAX_PARTS];
	int64		seen[GC_STREAM_MAX_PARTS];	/* offsets below were handled before a restart */
	/* per partition, messages first handled (and of them duplicates), stored with seen */
	int64		pmessages[GC_STREAM_MAX_PARTS];
	int64		pduplicates[GC_STREAM_MAX_PARTS];
	int64		hw[GC_STREAM_MAX_PARTS];	/* cached high watermark, -1 unknown */
	int64		pmax[GC_STREAM_MAX_PARTS];	/* largest event time per partition */
	int64		plast[GC_STREAM_MAX_PARTS]; /* wall time of its last message, 0 none */
	bool		heard[GC_STREAM_MAX_PARTS]; /* delivered a message, or its end */
	int64		pclosed[GC_STREAM_MAX_PARTS];	/* closed_until stored for it (PG_INT64_MIN: none) */
	bool		adopted[GC_STREAM_MAX_PARTS];	/* pmax/plast lent by another partition */
	int			nempty;			/* heard empty, waiting for the stream's first reading */
	bool		initial_assign_done;
	DedupSet   *dedup;
	HTAB	   *pending;		/* PendingRow by hkey */
	List	   *ready;			/* PendingRow *: to write at the next flush */
	List	   *dead;			/* DeadLetter * */
	Decoded    *dec;
	Prepared	prep[2];		/* decoded ahead (two: the held message and the next) */
	int			prep_next;
	StringInfoData scratch;
	double	   *msg_vals;		/* one message's values (scratch) */
	bool	   *msg_have;
	/* event-time progress */
	int64		max_event_us;
	int64		eff_high;		/* highest event time used to close windows */
	int64		last_arrival_us;
	double		window;			/* effective window (s) */
	/* auto window warm-up */
	HTAB	   *last_seen;		/* entity -> last event time */
	HTAB	   *entities;		/* hashes of entities checked against the other workers */
	double	   *gaps;
	int			ngaps;
	List	   *warmup;			/* copies of rd_kafka messages waiting for the window */
	/* auto lateness: recent producer delays (s), refitted every GC_DELAY_REFIT samples */
	double		delays[512];
	int			ndelays;		/* samples seen in total */
	int			delays_at_fit;
	double		lateness;
	/* model */
	bool		have_impute;
	FmgrInfo	impute_fn;
	Datum		model;
	bool		have_model;
	MemoryContext model_cxt;	/* holds the detoasted model across batches */
	char		model_version[64];
	TimestampTz last_model_refresh;
	/* counters since start */
	int64		messages;
	int64		rows_written;
	int64		duplicates;
	int64		dead_letters;
	int64		imputed_cells;
	int64		late_updates;
	int64		entity_conflicts;
	double		lat_hist[GC_LAT_BUCKETS];
	TimestampTz last_flush;
	TimestampTz last_rate_at;
	int64		last_rate_rows;
	TimestampTz last_prune;
	TimestampTz last_metadata;
	int			failures;
	char		last_error[GC_ERRLEN];
	StreamErrorKind last_error_kind;
	bool		stop;
} StreamWorker;

/* consumer.c */
extern void ConsumerCreate(StreamWorker *w);
extern bool ConsumerOwnsPartition(StreamConfig *cfg, int32 partition);
extern int	ConsumerShareIndex(StreamConfig *cfg, int32 partition);
extern void ConsumerCheckPosition(StreamWorker *w, rd_kafka_message_t *m);
extern void ConsumerHeardFrom(StreamWorker *w, rd_kafka_message_t *m);
extern void ConsumerCacheWatermarks(StreamWorker *w);
extern void ConsumerDestroy(StreamWorker *w);
extern bool ConsumerRefreshPartitions(StreamWorker *w, int timeout_ms);
extern void ConsumerDrainLogs(StreamWorker *w);
extern void ConsumerUpdateWatermarks(StreamWorker *w);
extern int	ConsumerPartIndex(StreamWorker *w, int32 partition);

/* assemble.c */
extern void AssembleInit(StreamWorker *w);
extern void AssembleInitEntities(StreamWorker *w);
extern void AssemblePrepare(StreamWorker *w, const char *payload, size_t len);
extern void AssembleMessage(StreamWorker *w, int32 partition, int64 offset,
							const char *payload, size_t len, const char *key, size_t keylen,
							int64 kafka_ts_ms, int64 now_us);
extern void AssembleWarmupMessage(StreamWorker *w, rd_kafka_message_t *m, int64 now_us);
extern int	AssembleCloseWindows(StreamWorker *w, int64 now_us, bool all);
extern void AssembleCommitOffsets(StreamWorker *w, int64 *next);
extern void AssembleFreeRow(PendingRow *r);
extern void AssembleMergeRow(PendingRow *dst, PendingRow *src, int nvalues);
extern void AssembleDeadLetter(StreamWorker *w, int32 partition, int64 offset,
						  const char *payload, size_t len, const char *error);

/* writer.c */
extern bool WriterFlush(StreamWorker *w);
extern void WriterSetStreamError(StreamWorker *w, const char *msg);
extern void WriterRefreshModel(StreamWorker *w);
extern void WriterSetColumns(StreamConfig *cfg);

/* insert.c */
extern bool DirectInsertUsable(StreamConfig *cfg, Relation rel, AttrNumber *attno);
extern void DirectInsertRows(StreamWorker *w, Relation rel, const AttrNumber *attno, List *rows);
extern void DirectPrefetchRows(List *rows, int i);

/* config.c */
extern void StreamLoadConfig(StreamWorker *w, int32 stream_id);

/* xact.c */
typedef struct StreamOwnerCode
{
	Oid			userid;
	int			sec_context;
	int			nest;
} StreamOwnerCode;
extern void StreamXactBegin(const char *activity);
extern void StreamXactCommit(void);
extern int	StreamBookkeepingBegin(void);
extern void StreamBookkeepingEnd(int nest);
extern void StreamOwnerCodeBegin(StreamOwnerCode *oc);
extern void StreamOwnerCodeEnd(StreamOwnerCode *oc);
extern void StreamLockBatches(int32 stream_id, int mode);

/* stream_worker.c */
extern void StreamLoadOffsets(StreamWorker *w);
extern void StreamSetError(StreamWorker *w, StreamErrorKind kind, const char *fmt,...) pg_attribute_printf(3, 4);
