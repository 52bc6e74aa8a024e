/*
 * stream_worker.c — the per-stream background worker: configuration, start-up state and
 * the main loop (poll, assemble, flush, wait).
 *
 * The loop never blocks: rd_kafka_consumer_poll() is called with a zero timeout in a
 * bounded loop (the batch APIs of librdkafka 2.0.2 can lose messages), and waiting is a
 * WaitLatchOrSocket on the latch plus a pipe that librdkafka writes to when its queue
 * gets a message, followed by CHECK_FOR_INTERRUPTS.  A crash or restart loses nothing:
 * offsets are only ever stored together with the rows they produced.
 */
#include "postgres.h"

#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "stream/stream.h"


/* identities kept in memory at most (16-byte hashes: about 50 bytes each with the table) */
#define GC_DEDUP_MAX_KEYS 8000000

static int	my_slot = -1;

static void
ReleaseSlot(int code, Datum arg)
{
	if (GcShared == NULL || my_slot < 0)
		return;
	LWLockAcquire(GcShared->lock, LW_EXCLUSIVE);
	if (GcShared->slots[my_slot].pid == MyProcPid)
	{
		GcShared->slots[my_slot].in_use = false;
		GcShared->slots[my_slot].pid = 0;
		GcShared->slots[my_slot].latch = NULL;
	}
	LWLockRelease(GcShared->lock);
}

static int64
NowUnixUs(void)
{
	return GetCurrentTimestamp() + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
}

/* SPI results die with SPI_finish; the configuration lives as long as the worker. */
static char *
GetText(int row, int col)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);

	return v ? MemoryContextStrdup(TopMemoryContext, v) : NULL;
}

static void *
CfgAlloc(Size size)
{
	return MemoryContextAllocZero(TopMemoryContext, size);
}

static int
AddField(StreamConfig *cfg, const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i < cfg->nfields; i++)
		if (strcmp(cfg->fields[i], name) == 0)
			return i;
	cfg->fields = repalloc(cfg->fields, sizeof(char *) * (cfg->nfields + 1));
	cfg->fields[cfg->nfields] = MemoryContextStrdup(TopMemoryContext, name);
	return cfg->nfields++;
}

/*
 * Read the stream's row and re-validate its options against the target table as it is
 * now.  Runs inside a transaction with SPI connected, as superuser.  Errors propagate.
 */
void
StreamLoadConfig(StreamWorker *w, int32 stream_id)
{
	StreamConfig *cfg = CfgAlloc(sizeof(StreamConfig));
	const char *qnsp = GcExtensionSchema();
	Oid			t1[1] = {INT4OID};
	Oid			tj[1] = {TEXTOID};
	Datum		a1[1];
	Datum		aj[1];
	char	   *plan;
	char	   *s;
	int			ret;

	cfg->id = stream_id;
	cfg->ext_schema = MemoryContextStrdup(TopMemoryContext, qnsp);
	a1[0] = Int32GetDatum(stream_id);
	ret = SPI_execute_with_args(psprintf("SELECT name, owner::oid, brokers, topic, target::oid FROM %s.gc_streams WHERE id = $1", qnsp),
								1, t1, a1, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
	{
		w->stop = true;
		w->cfg = cfg;
		cfg->name = "?";
		return;
	}
	cfg->name = GetText(0, 1);
	cfg->owner = atooid(GetText(0, 2));
	cfg->brokers = GetText(0, 3);
	cfg->topic = GetText(0, 4);
	cfg->target = atooid(GetText(0, 5));
	w->cfg = cfg;
	if (get_rel_name(cfg->target) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("target table of stream \"%s\" (oid %u) no longer exists", cfg->name, cfg->target)));
	cfg->target_sql = MemoryContextStrdup(TopMemoryContext,
										  quote_qualified_identifier(get_namespace_name(get_rel_namespace(cfg->target)),
																	 get_rel_name(cfg->target)));

	ret = SPI_execute_with_args(psprintf("SELECT %s.gc_stream_plan(target, options)::text FROM %s.gc_streams WHERE id = $1", qnsp, qnsp),
								1, t1, a1, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not plan stream %d", stream_id);
	plan = GetText(0, 1);
	aj[0] = CStringGetTextDatum(plan);

	ret = SPI_execute_with_args("SELECT o->>'format', o->>'csv_delimiter', o->>'entity_column', o->>'time_column', "
								"o->>'time_unit', o->>'window', o->>'lateness', o->>'publisher_id_field', o->>'data_id_field', "
								"o->>'dedup', o->>'dedup_retention', o->>'batch_size', o->>'flush_interval', "
								"o->>'max_message_bytes', o->>'start', o->>'model', o->>'model_refresh', o->>'model_window', "
								"o->>'row_time' "
								"FROM (SELECT $1::jsonb AS o) x", 1, tj, aj, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read options of stream %d", stream_id);
	cfg->csv = strcmp(GetText(0, 1), "csv") == 0;
	cfg->delim = GetText(0, 2)[0];
	cfg->assemble = GetText(0, 3) != NULL;
	s = GetText(0, 5);
	cfg->time_unit = strcmp(s, "ms") == 0 ? 1e-3 : strcmp(s, "us") == 0 ? 1e-6 : 1.0;
	s = GetText(0, 6);
	cfg->window = strcmp(s, "auto") == 0 ? 0 : strtod(s, NULL);
	s = GetText(0, 7);
	cfg->lateness_auto = strcmp(s, "auto") == 0;
	cfg->lateness = cfg->lateness_auto ? 1.0 : strtod(s, NULL);
	cfg->dedup = strcmp(GetText(0, 10), "true") == 0;
	cfg->dedup_retention = strtod(GetText(0, 11), NULL);
	cfg->batch_size = atoi(GetText(0, 12));
	cfg->flush_interval = strtod(GetText(0, 13), NULL);
	cfg->max_message_bytes = atoi(GetText(0, 14));
	s = GetText(0, 15);
	cfg->start = strcmp(s, "earliest") == 0 ? -2 : strcmp(s, "latest") == 0 ? -1 : strtoll(s, NULL, 10);
	cfg->model = GetText(0, 16);
	cfg->model_refresh = strtod(GetText(0, 17), NULL);
	cfg->model_window = atoi(GetText(0, 18));
	cfg->row_time_window = strcmp(GetText(0, 19), "window") == 0;
	cfg->fields = CfgAlloc(sizeof(char *));
	{
		char	   *pub = GetText(0, 8),
				   *dat = GetText(0, 9);

		/* columns first, so that plan fields get the low indexes */
		ret = SPI_execute_with_args("SELECT p->>'column', (p->>'type')::regtype::oid, p->>'role', p->>'field' "
									"FROM jsonb_array_elements($1::jsonb->'plan') p ORDER BY (p->>'attnum')::int",
									1, tj, aj, NULL, true, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not read the plan of stream %d", stream_id);
		cfg->ncols = (int) SPI_processed;
		cfg->cols = CfgAlloc(sizeof(StreamColumn) * Max(cfg->ncols, 1));
		cfg->c_entity = cfg->c_time = cfg->c_imputed = cfg->c_raw = -1;
		cfg->f_entity = cfg->f_time = -1;
		for (int c = 0; c < cfg->ncols; c++)
		{
			StreamColumn *col = &cfg->cols[c];
			char	   *role = GetText(c, 3);

			col->name = GetText(c, 1);
			col->type = atooid(GetText(c, 2));
			col->field = AddField(cfg, GetText(c, 4));
			col->value = -1;
			col->integral = (col->type == INT2OID || col->type == INT4OID || col->type == INT8OID);
			if (strcmp(role, "value") == 0)
			{
				col->role = ROLE_VALUE;
				col->value = cfg->nvalues++;
			}
			else if (strcmp(role, "text") == 0)
				col->role = ROLE_TEXT;
			else if (strcmp(role, "entity") == 0)
			{
				col->role = ROLE_ENTITY;
				cfg->c_entity = c;
				cfg->f_entity = col->field;
			}
			else if (strcmp(role, "time") == 0)
			{
				col->role = ROLE_TIME;
				cfg->c_time = c;
				cfg->f_time = col->field;
			}
			else if (strcmp(role, "key") == 0)
				col->role = ROLE_KEY;
			else if (strcmp(role, "partition") == 0)
				col->role = ROLE_PARTITION;
			else if (strcmp(role, "offset") == 0)
				col->role = ROLE_OFFSET;
			else if (strcmp(role, "timestamp") == 0)
				col->role = ROLE_TIMESTAMP;
			else if (strcmp(role, "imputed") == 0)
			{
				col->role = ROLE_IMPUTED;
				cfg->c_imputed = c;
			}
			else
			{
				col->role = ROLE_RAW;
				cfg->c_raw = c;
			}
		}
		cfg->f_publisher = AddField(cfg, pub);
		cfg->f_data = AddField(cfg, dat);
	}
	ret = SPI_execute_with_args("SELECT jsonb_array_elements_text($1::jsonb->'csv_fields')", 1, tj, aj, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read csv_fields of stream %d", stream_id);
	cfg->ncsv = (int) SPI_processed;
	cfg->csv_field = CfgAlloc(sizeof(int) * Max(cfg->ncsv, 1));
	for (int i = 0; i < cfg->ncsv; i++)
	{
		char	   *f = GetText(i, 1);

		cfg->csv_field[i] = -1;
		for (int k = 0; k < cfg->nfields; k++)
			if (strcmp(cfg->fields[k], f) == 0)
				cfg->csv_field[i] = k;
	}
	ret = SPI_execute_with_args(psprintf("SELECT key, value FROM %s.gc_streams s, jsonb_each_text(s.kafka_conf) WHERE s.id = $1", qnsp),
								1, t1, a1, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read the kafka settings of stream %d", stream_id);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	  **kv = CfgAlloc(sizeof(char *) * 2);

		kv[0] = GetText(i, 1);
		kv[1] = GetText(i, 2);
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			cfg->kafka_conf = lappend(cfg->kafka_conf, kv);
			MemoryContextSwitchTo(old);
		}
	}

	/* rows go to COPY in binary when every column type allows it (no float text round trip) */
	cfg->binary = true;
	for (int c = 0; c < cfg->ncols; c++)
	{
		Oid			t = cfg->cols[c].type;
		bool		num = (t == FLOAT8OID || t == FLOAT4OID || t == INT2OID || t == INT4OID || t == INT8OID);
		bool		txt = (t == TEXTOID || t == VARCHAROID);
		bool		okb;

		switch (cfg->cols[c].role)
		{
			case ROLE_VALUE:
				okb = num;
				break;
			case ROLE_TEXT:
				okb = num || txt;
				break;
			case ROLE_ENTITY:
			case ROLE_KEY:
				okb = txt;
				break;
			case ROLE_TIME:
				okb = (t == TIMESTAMPTZOID || t == TIMESTAMPOID || t == FLOAT8OID || t == INT8OID);
				break;
			case ROLE_PARTITION:
			case ROLE_OFFSET:
				okb = (t == INT4OID || t == INT8OID);
				break;
			case ROLE_TIMESTAMP:
				okb = (t == TIMESTAMPTZOID || t == TIMESTAMPOID);
				break;
			default:
				okb = true;		/* bool[] and float8[] */
		}
		cfg->binary &= okb;
	}

	/* imputation through the SQL-level function, looked up once */
	if (cfg->model)
	{
		Oid			fn = DatumGetObjectId(DirectFunctionCall1(to_regprocedure,
															  CStringGetTextDatum(psprintf("%s.gc_impute(%s.gcmodel, float8[])", qnsp, qnsp))));

		if (OidIsValid(fn))
		{
			fmgr_info_cxt(fn, &w->impute_fn, TopMemoryContext);
			w->have_impute = true;
		}
	}
	WriterSetColumns(cfg);
}

/* Stored offsets for partitions seen for the first time. */
void
StreamLoadOffsets(StreamWorker *w)
{
	Oid			t1[1] = {INT4OID};
	Datum		a1[1];
	int			ret;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	AsSuperuser(true);
	a1[0] = Int32GetDatum(w->cfg->id);
	ret = SPI_execute_with_args(psprintf("SELECT partition, next_offset, seen_offset FROM %s.gc_stream_offsets WHERE stream_id = $1", w->cfg->ext_schema),
								1, t1, a1, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read offsets: %d", ret);
	for (int i = 0; i < w->nparts; i++)
	{
		if (w->committed[i] != -1)
			continue;
		w->committed[i] = -2;	/* loaded: nothing stored */
		for (uint64 r = 0; r < SPI_processed; r++)
			if (atoi(GetText(r, 1)) == w->parts[i])
			{
				w->pos[i] = strtoll(GetText(r, 2), NULL, 10);
				w->committed[i] = w->pos[i];
				w->seen[i] = strtoll(GetText(r, 3), NULL, 10);
			}
	}
	AsSuperuser(false);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/* Durable dedup keys from before the restart, and pruning of old ones. */
static void
DedupLoadOrPrune(StreamWorker *w, bool load)
{
	Oid			t[2] = {INT4OID, FLOAT8OID};
	Datum		a[2];
	int64		now_us = NowUnixUs();

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	AsSuperuser(true);
	a[0] = Int32GetDatum(w->cfg->id);
	a[1] = Float8GetDatum(w->cfg->dedup_retention);
	if (load)
	{
		Portal		portal;

		portal = SPI_cursor_open_with_args(NULL,
										   psprintf("SELECT unnest(keys) FROM %s.gc_stream_dedup WHERE stream_id = $1 "
													"AND at > now() - make_interval(secs => $2)", w->cfg->ext_schema),
										   2, t, a, NULL, true, 0);
		for (;;)
		{
			SPI_cursor_fetch(portal, true, 10000);
			if (SPI_processed == 0)
				break;
			for (uint64 r = 0; r < SPI_processed; r++)
				DedupAdd(w->dedup, GetText(r, 1), now_us);
			SPI_freetuptable(SPI_tuptable);
			CHECK_FOR_INTERRUPTS();
		}
		SPI_cursor_close(portal);
	}
	else
		SPI_execute_with_args(psprintf("DELETE FROM %s.gc_stream_dedup WHERE stream_id = $1 "
									   "AND at < now() - make_interval(secs => $2)", w->cfg->ext_schema),
							  2, t, a, NULL, false, 0);
	AsSuperuser(false);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	if (!load)
		DedupPrune(w->dedup, now_us - (int64) (w->cfg->dedup_retention * 1e6));
}

static void
SetState(StreamWorker *w, const char *state)
{
	LWLockAcquire(GcShared->lock, LW_EXCLUSIVE);
	strlcpy(w->slot->state, state, sizeof(w->slot->state));
	strlcpy(w->slot->last_error, w->last_error, GC_ERRLEN);
	LWLockRelease(GcShared->lock);
}

static bool
NeedFlush(StreamWorker *w)
{
	int64		next[GC_STREAM_MAX_PARTS];

	if (w->ready != NIL || w->dead != NIL)
		return true;
	AssembleCommitOffsets(w, next);
	for (int i = 0; i < w->nparts; i++)
		if (next[i] >= 0 && next[i] != w->committed[i])
			return true;
	return false;
}

/* Assemble a message held by the poll loop, and let it go. */
static void
AssembleHeld(StreamWorker *w, rd_kafka_message_t *m, int64 now_us)
{
	rd_kafka_timestamp_type_t tstype;
	int64		ts = rd_kafka_message_timestamp(m, &tstype);

	AssembleMessage(w, m->partition, m->offset, m->payload, m->len,
					m->key, m->key_len, ts, now_us);
	rd_kafka_message_destroy(m);
}

void
gc_stream_worker_main(Datum arg)
{
	StreamWorker *w;
	Oid			dboid,
				owner;
	int32		stream_id;

	my_slot = DatumGetInt32(arg);
	memcpy(&dboid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	memcpy(&owner, MyBgworkerEntry->bgw_extra + sizeof(Oid), sizeof(Oid));

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

#ifdef __GLIBC__

	/*
	 * This process allocates and frees the same large buffers at every batch (librdkafka's
	 * decompressed message sets, the batch's rows, transaction memory).  By default glibc
	 * maps the large ones anew and gives freed memory back, so that each batch pays page
	 * faults again; keep it instead (the worker's memory stays at its peak).
	 */
	mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
#endif

	LWLockAcquire(GcShared->lock, LW_EXCLUSIVE);
	GcShared->slots[my_slot].pid = MyProcPid;
	GcShared->slots[my_slot].latch = MyLatch;
	GcShared->slots[my_slot].started_at = GetCurrentTimestamp();
	stream_id = GcShared->slots[my_slot].stream_id;
	LWLockRelease(GcShared->lock);
	before_shmem_exit(ReleaseSlot, 0);

	/* write the target as the stream's owner */
	BackgroundWorkerInitializeConnectionByOid(dboid, owner, 0);
	if (RecoveryInProgress())
		proc_exit(0);

	w = MemoryContextAllocZero(TopMemoryContext, sizeof(StreamWorker));
	w->slot = &GcShared->slots[my_slot];
	w->rows_cxt = AllocSetContextCreate(TopMemoryContext, "gcimpute stream rows", ALLOCSET_DEFAULT_SIZES);
	w->batch_cxt = AllocSetContextCreate(TopMemoryContext, "gcimpute stream batch", ALLOCSET_DEFAULT_SIZES);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (GcExtensionSchema() == NULL)
		proc_exit(0);			/* extension dropped meanwhile */
	PG_TRY();
	{
		MemoryContext old;

		AsSuperuser(true);
		old = MemoryContextSwitchTo(TopMemoryContext);
		StreamLoadConfig(w, stream_id);
		MemoryContextSwitchTo(old);
		AsSuperuser(false);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(TopMemoryContext);
		ed = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		if (w->cfg == NULL)
			proc_exit(1);
		WriterSetStreamError(w, ed->message);
		proc_exit(0);
	}
	PG_END_TRY();
	if (w->stop)
		proc_exit(0);

	pgstat_report_appname(psprintf("gcimpute stream %s", w->cfg->name));
	initStringInfo(&w->scratch);
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(&w->scratch);
		w->dec = DecodedCreate(w->cfg);
		MemoryContextSwitchTo(old);
	}
	w->dedup = DedupCreate(w->rows_cxt);
	AssembleInit(w);
	DedupLoadOrPrune(w, true);
	w->last_prune = GetCurrentTimestamp();
	PG_TRY();
	{
		ConsumerCreate(w);
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(TopMemoryContext);
		ed = CopyErrorData();
		FlushErrorState();
		WriterSetStreamError(w, ed->message);
		proc_exit(0);
	}
	PG_END_TRY();
	SetState(w, "connecting");
	w->last_flush = GetCurrentTimestamp();

	for (;;)
	{
		TimestampTz now;
		int64		now_us;
		int			got = 0;
		bool		drained = true;
		bool		empty = !w->assigned;
		rd_kafka_message_t *held;
		int64		held_us = 0;
		long		timeout;
		int			rc;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		ConsumerDrainLogs(w);
		now = GetCurrentTimestamp();
		if (!w->assigned || TimestampDifferenceExceeds(w->last_metadata, now, 5000))
		{
			if (ConsumerRefreshPartitions(w, w->assigned ? 250 : 1000))
				SetState(w, "running");
			else if (!w->assigned)
				SetState(w, "waiting");
			w->last_metadata = GetCurrentTimestamp();
			ConsumerUpdateWatermarks(w);
		}

		/*
		 * A bounded poll loop; consumer_poll(0) never waits.  A message is held for one
		 * turn: the next one is decoded before the held one is assembled, so that the
		 * dedup lookup of the next finds its slot already loaded (AssemblePrepare).
		 */
		held = NULL;
		while (w->assigned && got < w->cfg->batch_size)
		{
			rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, 0);
			bool		regular = m != NULL && !m->err && !(w->cfg->assemble && w->window == 0);

			if (regular)
				AssemblePrepare(w, m->payload, m->len);
			if (held)
			{
				AssembleHeld(w, held, held_us);
				held = NULL;
			}
			if (m == NULL)
			{
				empty = true;
				break;
			}
			now_us = NowUnixUs();
			if (!m->err)
				ConsumerCheckPosition(w, m);
			if (regular)
			{
				held = m;
				held_us = now_us;
			}
			else
			{
				if (m->err)
				{
					if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
						snprintf(w->last_error, GC_ERRLEN, "kafka error: %s", rd_kafka_message_errstr(m));
				}
				else
					AssembleWarmupMessage(w, m, now_us);
				rd_kafka_message_destroy(m);
			}
			got++;
			if ((got & 1023) == 0)
			{
				CHECK_FOR_INTERRUPTS();
				if (TimestampDifferenceExceeds(w->last_flush, GetCurrentTimestamp(),
											   (int) (w->cfg->flush_interval * 1000)))
					break;
			}
		}
		if (held)
			AssembleHeld(w, held, held_us);
		/* nothing decoded ahead may outlive its message */
		w->prep[0].payload = w->prep[1].payload = NULL;
		/* only an empty queue may be waited on: its pipe event fires on the next message */
		drained = empty;
		now_us = NowUnixUs();
		AssembleCloseWindows(w, now_us, false);

		now = GetCurrentTimestamp();
		if (NeedFlush(w))
		{
			if (drained || list_length(w->ready) >= w->cfg->batch_size ||
				TimestampDifferenceExceeds(w->last_flush, now, (int) (w->cfg->flush_interval * 1000)))
			{
				if (!WriterFlush(w) && !w->stop)
				{
					/* back off before retrying a failed batch */
					(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
									 Min(100L << Min(w->failures, 6), 5000L), PG_WAIT_EXTENSION);
					ResetLatch(MyLatch);
				}
			}
		}
		else if (TimestampDifferenceExceeds(w->last_flush, now, 1000))
			(void) WriterFlush(w);	/* checks that the stream is enabled and its target exists */
		if (w->stop)
			break;
		if (w->cfg->model && w->cfg->model_refresh > 0 && !w->stop &&
			TimestampDifferenceExceeds(w->last_model_refresh, now, (int) (w->cfg->model_refresh * 1000)))
		{
			if (w->last_model_refresh == 0)
				w->last_model_refresh = now;	/* first refit one period after start */
			else
				WriterRefreshModel(w);
		}
		if (DedupCount(w->dedup) > GC_DEDUP_MAX_KEYS)
		{
			/* bound memory at high rates: forget the oldest half of the retention, repeatedly */
			int64		prune_us = NowUnixUs();
			int64		cutoff = prune_us - (int64) (w->cfg->dedup_retention * 1e6);

			while (DedupCount(w->dedup) > GC_DEDUP_MAX_KEYS / 2 && cutoff < prune_us)
			{
				cutoff += Max((prune_us - cutoff) / 2, 1);
				DedupPrune(w->dedup, cutoff);
			}
			ereport(LOG, (errmsg("stream \"%s\": dedup memory full, forgot message identities older than %.1f s",
								 w->cfg->name, (prune_us - cutoff) / 1e6)));
		}
		if (TimestampDifferenceExceeds(w->last_prune, now, 60000))
		{
			DedupLoadOrPrune(w, false);
			w->last_prune = GetCurrentTimestamp();
		}
		if (!drained)
			continue;

		ConsumerUpdateWatermarks(w);
		timeout = (w->pending && hash_get_num_entries(w->pending) > 0) || w->warmup != NIL
			? Max((long) (w->cfg->flush_interval * 1000), 10L) : 1000L;
		rc = WaitLatchOrSocket(MyLatch,
							   WL_LATCH_SET | WL_SOCKET_READABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							   w->pipefd[0], timeout, PG_WAIT_EXTENSION);
		if (rc & WL_SOCKET_READABLE)
		{
			char		buf[256];

			while (read(w->pipefd[0], buf, sizeof(buf)) > 0)
				;
		}
		if (rc & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			/* the catalog may have changed (stop/drop): check at once */
			w->last_flush = 0;
		}
	}
	SetState(w, "stopped");
	ConsumerDestroy(w);
	proc_exit(0);
}
