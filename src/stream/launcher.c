/*
 * launcher.c — GUCs, the static launcher and the per-database stream manager.
 *
 * The launcher is registered from _PG_init (shared_preload_libraries) and connects to no
 * database, so DROP DATABASE of the stream database never fights with it: it only
 * checks that gcimpute.database exists and keeps one manager running there.  The manager
 * reads gc_streams and keeps the workers of every enabled stream running ("workers": N,
 * worker k in its own slot), restarting crashed ones with a back-off.  All children are BGW_NEVER_RESTART: their parent supervises them.  Every
 * wait is a latch wait followed by CHECK_FOR_INTERRUPTS, so SIGTERM, pg_ctl stop -m fast
 * and the ProcSignalBarrier of DROP DATABASE are served promptly.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "catalog/namespace.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "pg_compat.h"
#include "stream/worker.h"

int			gc_max_streams = 8;
int			gc_launcher_naptime = 1000;
char	   *gc_database = NULL;

/* manager-local view of the workers it started */
typedef struct ManagedWorker
{
	BackgroundWorkerHandle *handle;
} ManagedWorker;

void
gc_worker_init(void)
{
	BackgroundWorker worker;

	DefineCustomIntVariable("gcimpute.max_streams",
							"Maximum number of stream workers running at once.",
							"A stream with \"workers\": N takes N of them; each is a background worker (max_worker_processes).",
							&gc_max_streams, 8, 1, 1024,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("gcimpute.launcher_naptime",
							"Time between checks of the stream catalog by the stream manager.",
							NULL,
							&gc_launcher_naptime, 1000, 10, 600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomStringVariable("gcimpute.database",
							   "Database whose gc_streams the stream workers serve.",
							   NULL,
							   &gc_database, "postgres",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("gcimpute");

	GcShmemRequest();

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "gcimpute");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "gc_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "gcimpute stream launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "gcimpute stream launcher");
	RegisterBackgroundWorker(&worker);
}

/*
 * The oid of a connectable database by name, read with a plain heap scan of pg_database
 * (as autovacuum's launcher does): this process is connected to no database.
 */
static Oid
FindDatabase(const char *name)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	Oid			result = InvalidOid;

	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (strcmp(NameStr(db->datname), name) == 0 && db->datallowconn && !db->datistemplate)
		{
			result = db->oid;
			break;
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/* Wait on the latch for at most ms, then serve interrupts and config reloads. */
static void
NapOnLatch(long ms)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}

static void
LauncherShutdown(int code, Datum arg)
{
	if (GcShared == NULL)
		return;
	LWLockAcquire(GcShared->lock, LW_EXCLUSIVE);
	if (GcShared->launcher_pid == MyProcPid)
	{
		GcShared->launcher_pid = 0;
		GcShared->launcher_latch = NULL;
	}
	LWLockRelease(GcShared->lock);
}

/*
 * gc_launcher_main: keep one manager alive in gcimpute.database while it exists.
 */
void
gc_launcher_main(Datum arg)
{
	BackgroundWorkerHandle *manager = NULL;
	TimestampTz next_start = 0;
	bool		warned = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("gcimpute stream launcher");

	LWLockAcquire(GcShared->lock, LW_EXCLUSIVE);
	GcShared->launcher_pid = MyProcPid;
	GcShared->launcher_latch = MyLatch;
	LWLockRelease(GcShared->lock);
	before_shmem_exit(LauncherShutdown, 0);

	for (;;)
	{
		Oid			dboid;
		pid_t		pid;

		if (RecoveryInProgress())
		{
			NapOnLatch(gc_launcher_naptime);
			continue;
		}
		if (manager != NULL &&
			GetBackgroundWorkerPid(manager, &pid) == BGWH_STOPPED)
		{
			pfree(manager);
			manager = NULL;
			next_start = GetCurrentTimestamp() + (TimestampTz) 1000 * gc_launcher_naptime;
		}
		if (manager == NULL && GetCurrentTimestamp() >= next_start)
		{
			StartTransactionCommand();
			PushActiveSnapshot(GetTransactionSnapshot());
			dboid = FindDatabase(gc_database);
			PopActiveSnapshot();
			CommitTransactionCommand();
			if (OidIsValid(dboid))
			{
				BackgroundWorker w;

				memset(&w, 0, sizeof(w));
				w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
				w.bgw_start_time = BgWorkerStart_RecoveryFinished;
				w.bgw_restart_time = BGW_NEVER_RESTART;
				snprintf(w.bgw_library_name, BGW_MAXLEN, "gcimpute");
				snprintf(w.bgw_function_name, BGW_MAXLEN, "gc_manager_main");
				snprintf(w.bgw_name, BGW_MAXLEN, "gcimpute stream manager");
				snprintf(w.bgw_type, BGW_MAXLEN, "gcimpute stream manager");
				w.bgw_main_arg = ObjectIdGetDatum(dboid);
				w.bgw_notify_pid = MyProcPid;
				MemoryContextSwitchTo(TopMemoryContext);
				if (!RegisterDynamicBackgroundWorker(&w, &manager))
				{
					manager = NULL;
					if (!warned)
						ereport(WARNING,
								(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
								 errmsg("gcimpute could not start its stream manager: out of background worker slots"),
								 errhint("You might need to increase max_worker_processes.")));
					warned = true;
					next_start = GetCurrentTimestamp() + (TimestampTz) 1000 * gc_launcher_naptime;
				}
				else
					warned = false;
			}
		}
		NapOnLatch(manager ? 10L * gc_launcher_naptime : gc_launcher_naptime);
	}
}

static void
ManagerShutdown(int code, Datum arg)
{
	if (GcShared == NULL)
		return;
	LWLockAcquire(GcShared->lock, LW_EXCLUSIVE);
	if (GcShared->manager_pid == MyProcPid)
	{
		GcShared->manager_pid = 0;
		GcShared->manager_latch = NULL;
		GcShared->manager_db = InvalidOid;
	}
	LWLockRelease(GcShared->lock);
}

/* Find the slot of one worker of a stream of this database, or -1 (lock held). */
static int
FindSlot(int32 stream_id, int worker)
{
	for (int i = 0; i < GcShared->nslots; i++)
		if (GcShared->slots[i].in_use && GcShared->slots[i].dboid == MyDatabaseId &&
			GcShared->slots[i].stream_id == stream_id && GcShared->slots[i].worker == worker)
			return i;
	return -1;
}

/* One enabled stream as the manager reads it from gc_streams. */
typedef struct StreamToRun
{
	int32		id;
	Oid			owner;
	char	   *name;
	int			nworkers;
} StreamToRun;

/*
 * Reserve a slot for every worker of the stream that is not running, all or none: a
 * stream whose workers do not all fit waits (with a WARNING) rather than run a part of
 * its partitions.  Fills slot_of[k] for the workers to start, -1 for running ones;
 * returns how many to start, or -1 when they do not fit.
 */
static int
ReserveSlots(const StreamToRun *st, int *slot_of)
{
	int			missing = 0,
				running = 0,
				nfree = 0;

	LWLockAcquire(GcShared->lock, LW_EXCLUSIVE);
	for (int k = 0; k < st->nworkers; k++)
	{
		slot_of[k] = FindSlot(st->id, k) >= 0 ? -1 : -2;
		if (slot_of[k] == -2)
			missing++;
		else
			running++;
	}
	for (int i = 0; i < GcShared->nslots; i++)
		nfree += !GcShared->slots[i].in_use;
	if (missing > 0 && nfree >= missing)
	{
		int			i = 0;

		/* a new worker set: claims of entities by an earlier one no longer apply */
		if (running == 0)
			gc_stream_forget_entities(st->id);
		for (int k = 0; k < st->nworkers; k++)
		{
			GcStreamSlot *slot;

			if (slot_of[k] != -2)
				continue;
			while (GcShared->slots[i].in_use)
				i++;
			slot = &GcShared->slots[i];
			memset(slot, 0, sizeof(GcStreamSlot));
			slot->in_use = true;
			slot->dboid = MyDatabaseId;
			slot->stream_id = st->id;
			slot->worker = k;
			slot->nworkers = st->nworkers;
			slot->owner = st->owner;
			strlcpy(slot->state, "starting", sizeof(slot->state));
			slot_of[k] = i;
		}
	}
	LWLockRelease(GcShared->lock);
	return (missing > 0 && nfree < missing) ? -1 : missing;
}

/* Start the worker of a reserved slot; false (slot freed) when the postmaster has none. */
static bool
RegisterStreamWorker(const StreamToRun *st, int worker, int slot, ManagedWorker *mw)
{
	BackgroundWorker w;
	MemoryContext old;
	bool		registered;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(w.bgw_library_name, BGW_MAXLEN, "gcimpute");
	snprintf(w.bgw_function_name, BGW_MAXLEN, "gc_stream_worker_main");
	if (st->nworkers > 1)
		snprintf(w.bgw_name, BGW_MAXLEN, "gcimpute stream %s worker %d", st->name, worker);
	else
		snprintf(w.bgw_name, BGW_MAXLEN, "gcimpute stream %s", st->name);
	snprintf(w.bgw_type, BGW_MAXLEN, "gcimpute stream worker");
	w.bgw_main_arg = Int32GetDatum(slot);
	memcpy(w.bgw_extra, &MyDatabaseId, sizeof(Oid));
	memcpy(w.bgw_extra + sizeof(Oid), &st->owner, sizeof(Oid));
	w.bgw_notify_pid = MyProcPid;
	/* the handle outlives this transaction */
	old = MemoryContextSwitchTo(TopMemoryContext);
	registered = RegisterDynamicBackgroundWorker(&w, &mw->handle);
	MemoryContextSwitchTo(old);
	if (registered)
		return true;
	LWLockAcquire(GcShared->lock, LW_EXCLUSIVE);
	GcShared->slots[slot].in_use = false;
	LWLockRelease(GcShared->lock);
	mw->handle = NULL;
	return false;
}

/*
 * Start the workers of one stream that are not running; false when they do not fit in
 * the free slots (of ours or of the postmaster).  *warned keeps the WARNING to one per
 * shortage.
 */
static bool
StartStreamWorkers(const StreamToRun *st, ManagedWorker *workers, bool *warned)
{
	int			slot_of[GC_STREAM_MAX_WORKERS];
	int			n = ReserveSlots(st, slot_of);

	if (n == 0)
		return true;			/* all running: a WARNING for another stream stays given */
	if (n < 0)
	{
		if (!*warned)
			ereport(WARNING,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("stream \"%s\" cannot start: all %d gcimpute stream slots are in use", st->name, gc_max_streams),
					 st->nworkers > 1 ? errdetail("The stream has %d workers; each takes a slot.", st->nworkers) : 0,
					 errhint("Increase gcimpute.max_streams (needs a restart) or stop another stream.")));
		*warned = true;
		return false;
	}
	for (int k = 0; k < st->nworkers; k++)
	{
		if (slot_of[k] < 0)
			continue;
		if (!RegisterStreamWorker(st, k, slot_of[k], &workers[slot_of[k]]))
		{
			if (!*warned)
				ereport(WARNING,
						(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
						 errmsg("stream \"%s\" cannot start: out of background worker slots", st->name),
						 errhint("You might need to increase max_worker_processes.")));
			*warned = true;
			return false;
		}
	}
	*warned = false;
	return true;
}

/*
 * gc_manager_main: keep the workers of every enabled stream of this database running.
 */
void
gc_manager_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);
	ManagedWorker *workers;
	bool		warned = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("gcimpute stream manager");

	/*
	 * A superuser session: the owner of the database may have set search_path for it
	 * (ALTER DATABASE ... SET).  Its SQL is schema-qualified; pin the path all the same.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	workers = MemoryContextAllocZero(TopMemoryContext, sizeof(ManagedWorker) * GcShared->nslots);

	LWLockAcquire(GcShared->lock, LW_EXCLUSIVE);
	GcShared->manager_pid = MyProcPid;
	GcShared->manager_latch = MyLatch;
	GcShared->manager_db = MyDatabaseId;
	/* slots of a previous manager of this database whose workers never registered */
	for (int i = 0; i < GcShared->nslots; i++)
		if (GcShared->slots[i].in_use && GcShared->slots[i].dboid == MyDatabaseId &&
			GcShared->slots[i].pid == 0)
			GcShared->slots[i].in_use = false;
	LWLockRelease(GcShared->lock);
	before_shmem_exit(ManagerShutdown, 0);

	for (;;)
	{
		/* forget workers that stopped; their slot is freed by the worker itself */
		for (int i = 0; i < GcShared->nslots; i++)
		{
			pid_t		pid;

			if (workers[i].handle &&
				GetBackgroundWorkerPid(workers[i].handle, &pid) == BGWH_STOPPED)
			{
				pfree(workers[i].handle);
				workers[i].handle = NULL;
				LWLockAcquire(GcShared->lock, LW_EXCLUSIVE);
				/* a worker that died before it could clean up */
				if (GcShared->slots[i].in_use && GcShared->slots[i].dboid == MyDatabaseId)
					GcShared->slots[i].in_use = false;
				LWLockRelease(GcShared->lock);
			}
		}

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		if (GcExtensionSchema() == NULL)
		{
			CommitTransactionCommand();
			NapOnLatch(10L * gc_launcher_naptime);
			continue;
		}
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "gcimpute: reading gc_streams");
		{
			char	   *nsp = GcExtensionSchema();
			char	   *sql;
			int			ret;

			/*
			 * Only streams last started in this cluster and database start by themselves;
			 * a catalog not yet updated from 0.1 has no such record and runs every
			 * enabled stream, as 0.1 did.
			 */
			sql = psprintf("SELECT s.id, s.owner::pg_catalog.oid, s.name, "
						   "COALESCE((s.options OPERATOR(pg_catalog.->>) 'workers')::pg_catalog.int4, 1) "
						   "FROM %s.gc_streams s "
						   "WHERE s.enabled AND NOT EXISTS "
						   "(SELECT 1 FROM %s.gc_stream_errors e WHERE e.stream_id OPERATOR(pg_catalog.=) s.id) %s "
						   "ORDER BY s.id",
						   nsp, nsp,
						   GcCatalogHasColumn("gc_streams", "started_system") ?
						   psprintf("AND s.started_system OPERATOR(pg_catalog.=) " INT64_FORMAT
									" AND s.started_database OPERATOR(pg_catalog.=) %u::pg_catalog.oid",
									(int64) GetSystemIdentifier(), MyDatabaseId) : "");
			ret = SPI_execute(sql, true, 0);
			if (ret != SPI_OK_SELECT)
				elog(ERROR, "could not read gc_streams: %d", ret);
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				HeapTuple	tup = SPI_tuptable->vals[r];
				TupleDesc	desc = SPI_tuptable->tupdesc;
				bool		isnull;
				StreamToRun st;

				st.id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
				st.owner = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
				st.name = SPI_getvalue(tup, desc, 3);
				st.nworkers = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
				/* the catalog was validated; a row that was not cannot start more */
				st.nworkers = Min(Max(st.nworkers, 1), GC_STREAM_MAX_WORKERS);
				if (!StartStreamWorkers(&st, workers, &warned))
					break;
			}
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_stat(false);
		pgstat_report_activity(STATE_IDLE, NULL);
		NapOnLatch(gc_launcher_naptime);
	}
}
