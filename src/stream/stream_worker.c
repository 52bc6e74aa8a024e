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

/* SPI results die with SPI_finish: copy what outlives the transaction. */
static char *
GetText(int row, int col)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);

	return v ? MemoryContextStrdup(TopMemoryContext, v) : NULL;
}

/* Stored offsets for partitions seen for the first time. */
void
StreamLoadOffsets(StreamWorker *w)
{
	Oid			t1[1] = {INT4OID};
	Datum		a1[1];
	int			ret;

	int			nest;

	StreamXactBegin(NULL);
	nest = StreamBookkeepingBegin();
	a1[0] = Int32GetDatum(w->cfg->id);
	/* the counters only where the catalog has them (not before 0.2) */
	ret = SPI_execute_with_args(psprintf("SELECT partition, next_offset, seen_offset, %s FROM %s.gc_stream_offsets "
										 "WHERE stream_id OPERATOR(pg_catalog.=) $1",
										 GcCatalogHasColumn("gc_stream_offsets", "messages") ?
										 "messages, duplicates, closed_until" : "0, 0, NULL::pg_catalog.int8", w->cfg->ext_schema),
								1, t1, a1, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read offsets: %d", ret);
	/*
	 * Windows closed before the restart stay closed: late values update their rows.  Event
	 * time is this worker's own: only its partitions' rows say how far it had closed.
	 */
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 6, &isnull);
		int			i = ConsumerPartIndex(w, atoi(GetText(r, 1)));

		if (!isnull && i >= 0)
		{
			w->eff_high = Max(w->eff_high, DatumGetInt64(d));
			w->pclosed[i] = DatumGetInt64(d);
		}
	}
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
				w->pmessages[i] = strtoll(GetText(r, 4), NULL, 10);
				w->pduplicates[i] = strtoll(GetText(r, 5), NULL, 10);
			}
	}
	StreamBookkeepingEnd(nest);
	StreamXactCommit();
}

/* Durable dedup keys from before the restart, and pruning of old ones. */
static void
DedupLoadOrPrune(StreamWorker *w, bool load)
{
	Oid			t[2] = {INT4OID, FLOAT8OID};
	Datum		a[2];
	int64		now_us = NowUnixUs();
	int			nest;

	StreamXactBegin(NULL);
	nest = StreamBookkeepingBegin();
	a[0] = Int32GetDatum(w->cfg->id);
	a[1] = Float8GetDatum(w->cfg->dedup_retention);
	if (load)
	{
		Portal		portal;

		portal = SPI_cursor_open_with_args(NULL,
										   psprintf("SELECT pg_catalog.unnest(keys) FROM %s.gc_stream_dedup "
													"WHERE stream_id OPERATOR(pg_catalog.=) $1 AND at OPERATOR(pg_catalog.>) "
													"(pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $2))",
													w->cfg->ext_schema),
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
		SPI_execute_with_args(psprintf("DELETE FROM %s.gc_stream_dedup WHERE stream_id OPERATOR(pg_catalog.=) $1 "
									   "AND at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) "
									   "pg_catalog.make_interval(secs => $2))", w->cfg->ext_schema),
							  2, t, a, NULL, false, 0);
	StreamBookkeepingEnd(nest);
	StreamXactCommit();
	if (!load)
		DedupPrune(w->dedup, now_us - (int64) (w->cfg->dedup_retention * 1e6));
}

/* StreamSetError: the stream's last_error, and how long it stands (StreamErrorKind). */
void
StreamSetError(StreamWorker *w, StreamErrorKind kind, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(w->last_error, GC_ERRLEN, fmt, ap);
	va_end(ap);
	w->last_error_kind = kind;
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

/*
 * The place of this worker among the stream's workers, from its slot.  The manager read
 * the worker count a moment before the configuration was loaded: when they differ, the
 * options changed in between, and the manager starts the right workers again.
 */
static bool
StreamTakeWorkerPlace(StreamWorker *w, int worker, int nworkers)
{
	if (nworkers != w->cfg->nworkers || worker >= nworkers)
	{
		ereport(LOG,
				(errmsg("stream \"%s\": the worker count changed to %d while worker %d of %d started; restarting",
						w->cfg->name, w->cfg->nworkers, worker, nworkers)));
		return false;
	}
	w->cfg->worker = worker;
	return true;
}

void
gc_stream_worker_main(Datum arg)
{
	StreamWorker *w;
	Oid			dboid,
				owner;
	int32		stream_id;
	int			worker,
				nworkers;

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
	worker = GcShared->slots[my_slot].worker;
	nworkers = GcShared->slots[my_slot].nworkers;
	LWLockRelease(GcShared->lock);
	before_shmem_exit(ReleaseSlot, 0);

	/*
	 * The worker is a session of the stream's owner, with the owner's rights and no more
	 * (xact.c): it writes the target and its bookkeeping as the owner.
	 */
	BackgroundWorkerInitializeConnectionByOid(dboid, owner, 0);
	if (RecoveryInProgress())
		proc_exit(0);

	w = MemoryContextAllocZero(TopMemoryContext, sizeof(StreamWorker));
	w->slot = &GcShared->slots[my_slot];
	w->rows_cxt = AllocSetContextCreate(TopMemoryContext, "gcimpute stream rows", ALLOCSET_DEFAULT_SIZES);
	w->batch_cxt = AllocSetContextCreate(TopMemoryContext, "gcimpute stream batch", ALLOCSET_DEFAULT_SIZES);

	StreamXactBegin(NULL);
	if (GcExtensionSchema() == NULL)
		proc_exit(0);			/* extension dropped meanwhile */
	PG_TRY();
	{
		int			nest = StreamBookkeepingBegin();

		StreamLoadConfig(w, stream_id);
		StreamBookkeepingEnd(nest);
		StreamXactCommit();
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
	if (w->stop || !StreamTakeWorkerPlace(w, worker, nworkers))
		proc_exit(0);

	pgstat_report_appname(nworkers > 1 ? psprintf("gcimpute stream %s worker %d", w->cfg->name, worker)
						  : psprintf("gcimpute stream %s", w->cfg->name));
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
		if (w->assigned && w->cfg->assemble)
			ConsumerCacheWatermarks(w);
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
			ConsumerHeardFrom(w, m);
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
						StreamSetError(w, STREAM_ERR_KAFKA, "kafka error: %s", rd_kafka_message_errstr(m));
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
		/* one model, refitted by one worker: worker 0 */
		if (w->cfg->model && w->cfg->model_refresh > 0 && w->cfg->worker == 0 && !w->stop &&
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
