/*
 * stream_shmem.c — shared-memory status of the stream workers, and the SQL functions that
 * read it (gc_stream_worker_status) or poke the manager (gc_stream_wake).
 *
 * Slots hold only plain values and latches of live processes (never process-local
 * pointers), so a worker that dies leaves nothing another process could trip over.
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "pg_compat.h"
#include "stream/worker.h"

GcStreamShared *GcShared = NULL;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static bool wake_registered = false;
static bool wake_at_commit = false;

static Size
GcShmemSize(void)
{
	return add_size(offsetof(GcStreamShared, slots),
					mul_size(sizeof(GcStreamSlot), gc_max_streams));
}

static void
GcShmemRequestHook(void)
{
#if PG_VERSION_NUM >= 150000
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
#endif
	RequestAddinShmemSpace(GcShmemSize());
	RequestNamedLWLockTranche("gcimpute_streams", 1);
}

static void
GcShmemStartupHook(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	GcShared = ShmemInitStruct("gcimpute streams", GcShmemSize(), &found);
	if (!found)
	{
		memset(GcShared, 0, GcShmemSize());
		GcShared->lock = &(GetNamedLWLockTranche("gcimpute_streams"))->lock;
		GcShared->nslots = gc_max_streams;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Called from _PG_init while shared_preload_libraries is processed. */
void
GcShmemRequest(void)
{
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = GcShmemRequestHook;
#else
	/* before 15 the requests are made from _PG_init itself */
	GcShmemRequestHook();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = GcShmemStartupHook;
}

int
GcLatencyBucket(double ms)
{
	int			b;

	if (!(ms > 0))
		return 0;
	b = (int) floor(4.0 * log2(ms + 1.0));
	return Min(Max(b, 0), GC_LAT_BUCKETS - 1);
}

/* Quantile of the histogram, interpolated inside the bucket (ms). */
double
GcLatencyQuantile(const double *hist, double q)
{
	double		total = 0,
				acc = 0;

	for (int b = 0; b < GC_LAT_BUCKETS; b++)
		total += hist[b];
	if (total <= 0)
		return NAN;
	for (int b = 0; b < GC_LAT_BUCKETS; b++)
	{
		if (acc + hist[b] >= q * total && hist[b] > 0)
		{
			double		lo = pow(2.0, b / 4.0) - 1.0;
			double		hi = pow(2.0, (b + 1) / 4.0) - 1.0;

			return lo + (hi - lo) * (q * total - acc) / hist[b];
		}
		acc += hist[b];
	}
	return pow(2.0, GC_LAT_BUCKETS / 4.0) - 1.0;
}

static void
WakeAtCommit(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT && wake_at_commit && GcShared != NULL)
	{
		Latch	   *latch;

		LWLockAcquire(GcShared->lock, LW_SHARED);
		latch = GcShared->manager_latch;
		if (latch && GcShared->manager_db == MyDatabaseId)
			SetLatch(latch);
		if (GcShared->launcher_latch)
			SetLatch(GcShared->launcher_latch);
		for (int i = 0; i < GcShared->nslots; i++)
			if (GcShared->slots[i].in_use && GcShared->slots[i].latch &&
				GcShared->slots[i].dboid == MyDatabaseId)
				SetLatch(GcShared->slots[i].latch);
		LWLockRelease(GcShared->lock);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT)
		wake_at_commit = false;
}

PG_FUNCTION_INFO_V1(gc_stream_wake);

/*
 * gc_stream_wake: make the manager and the workers of this database re-read the catalog
 * when the calling transaction commits (so they see its effect).
 */
Datum
gc_stream_wake(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(GcWakeAtCommit());
}

/* GcWakeAtCommit: gc_stream_wake for C callers; false without shared_preload_libraries. */
bool
GcWakeAtCommit(void)
{
	if (GcShared == NULL)
		return false;
	if (!wake_registered)
	{
		RegisterXactCallback(WakeAtCommit, NULL);
		wake_registered = true;
	}
	wake_at_commit = true;
	return true;
}

PG_FUNCTION_INFO_V1(gc_stream_worker_status);

/*
 * gc_stream_check_worker_slots: refuse a stream that needs more worker slots than the
 * server has (gcimpute.max_streams counts workers): it could never run.  Without
 * shared_preload_libraries nothing runs anyway, and gc_stream_start warns about that.
 */
void
gc_stream_check_worker_slots(int nworkers, const char *name)
{
	if (GcShared == NULL || nworkers <= GcShared->nslots)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("stream \"%s\" needs %d workers, but gcimpute.max_streams is %d",
					name, nworkers, GcShared->nslots),
			 errdetail("Each worker of a stream takes one of the gcimpute.max_streams worker slots."),
			 errhint("Lower the stream option \"workers\", or raise gcimpute.max_streams (needs a restart).")));
}

/* The probe sequence of an entity's hash in the claim table. */
static inline int
EntitySlot(uint64 hash, int probe)
{
	return (int) ((hash + (uint64) probe * 0x9E3779B97F4A7C15ULL) % GC_ENTITY_SLOTS);
}

/*
 * gc_stream_claim_entity: record that a worker of a stream sees an entity on a partition.
 * Returns false when another worker of the same worker set claimed the entity first (and
 * names it).  A claim of an earlier worker set (another worker count) is replaced.
 */
bool
gc_stream_claim_entity(int32 stream_id, int worker, int nworkers, uint64 hash,
					   int32 partition, int *other_worker, int32 *other_partition)
{
	bool		mine = true;

	LWLockAcquire(GcShared->lock, LW_EXCLUSIVE);
	for (int probe = 0; probe < GC_ENTITY_PROBES; probe++)
	{
		GcEntityClaim *c = &GcShared->entities[EntitySlot(hash, probe)];
		bool		same = c->dboid == MyDatabaseId && c->stream_id == stream_id && c->hash == hash;

		if (same && c->nworkers == nworkers)
		{
			mine = (c->worker == worker);
			*other_worker = c->worker;
			*other_partition = c->partition;
			break;
		}
		if (same || c->dboid == InvalidOid)
		{
			c->dboid = MyDatabaseId;
			c->stream_id = stream_id;
			c->hash = hash;
			c->worker = worker;
			c->nworkers = nworkers;
			c->partition = partition;
			break;
		}
	}
	LWLockRelease(GcShared->lock);
	return mine;
}

/* gc_stream_forget_entities: a stream's workers start afresh; call with the lock held. */
void
gc_stream_forget_entities(int32 stream_id)
{
	for (int i = 0; i < GC_ENTITY_SLOTS; i++)
		if (GcShared->entities[i].dboid == MyDatabaseId &&
			GcShared->entities[i].stream_id == stream_id)
			memset(&GcShared->entities[i], 0, sizeof(GcEntityClaim));
}

/*
 * gc_stream_worker_status: one row per live worker of the current database whose stream
 * the calling role owns (or is a member of the owner); superusers see all.  The
 * last_error of another role's stream may name its tables or hold its data.
 */
Datum
gc_stream_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	if (GcShared == NULL)
		return (Datum) 0;

	for (int i = 0; i < GcShared->nslots; i++)
	{
		GcStreamSlot s;
		Datum		values[20];
		bool		nulls[20] = {0};
		Datum	   *pd,
				   *hd;

		LWLockAcquire(GcShared->lock, LW_SHARED);
		memcpy(&s, &GcShared->slots[i], sizeof(GcStreamSlot));
		LWLockRelease(GcShared->lock);
		if (!s.in_use || s.dboid != MyDatabaseId || !has_privs_of_role(GetUserId(), s.owner))
			continue;

		values[0] = Int32GetDatum(s.stream_id);
		values[1] = Int32GetDatum(s.pid);
		nulls[1] = (s.pid == 0);
		values[2] = CStringGetTextDatum(s.state[0] ? s.state : "starting");
		values[3] = TimestampTzGetDatum(s.started_at);
		nulls[3] = (s.started_at == 0);
		values[4] = Int64GetDatum(s.rows_written);
		values[5] = Float8GetDatum(s.rows_per_s);
		values[6] = Int64GetDatum(s.messages);
		values[7] = Int64GetDatum(s.duplicates);
		values[8] = Int64GetDatum(s.dead_letters);
		values[9] = Int64GetDatum(s.imputed_cells);
		values[10] = Int64GetDatum(s.late_updates);
		values[11] = Int32GetDatum(s.pending_rows);
		s.last_error[GC_ERRLEN - 1] = '\0';
		values[12] = CStringGetTextDatum(s.last_error);
		nulls[12] = (s.last_error[0] == '\0');
		values[13] = Float8GetDatum(GcLatencyQuantile(s.lat_hist, 0.5));
		values[14] = Float8GetDatum(GcLatencyQuantile(s.lat_hist, 0.99));
		nulls[13] = nulls[14] = isnan(DatumGetFloat8(values[13]));
		s.nparts = Min(Max(s.nparts, 0), GC_STREAM_MAX_PARTS);
		pd = palloc(sizeof(Datum) * (s.nparts + 1));
		hd = palloc(sizeof(Datum) * (s.nparts + 1));
		for (int p = 0; p < s.nparts; p++)
		{
			pd[p] = Int32GetDatum(s.parts[p]);
			hd[p] = Int64GetDatum(s.high_watermark[p]);
		}
		values[15] = PointerGetDatum(construct_array(pd, s.nparts, INT4OID, 4, true, TYPALIGN_INT));
		values[16] = PointerGetDatum(construct_array(hd, s.nparts, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		/* columns of 0.2; a catalog of 0.1 asks for the first 17 only */
		values[17] = Int32GetDatum(s.worker);
		values[18] = Int32GetDatum(Max(s.nworkers, 1));
		values[19] = Int64GetDatum(s.entity_conflicts);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* The namespace of the gcimpute extension in this database, or InvalidOid (catalog scan, no SQL). */
Oid
GcExtensionNamespace(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			result = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("gcimpute"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		result = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/*
 * The quoted schema of the gcimpute extension, or NULL if it is not installed in this
 * database (PostgreSQL 15 keeps get_extension_schema static).
 */
char *
GcExtensionSchema(void)
{
	Oid			nsp = GcExtensionNamespace();
	char	   *name = OidIsValid(nsp) ? get_namespace_name(nsp) : NULL;

	return name ? pstrdup(quote_identifier(name)) : NULL;
}

/*
 * Whether the extension's table has a column: the library serves catalogs of every
 * version it can update from, and a column added by a later version may not exist yet.
 * Call inside a transaction.
 */
bool
GcCatalogHasColumn(const char *table, const char *column)
{
	Oid			nsp = GcExtensionNamespace();
	Oid			relid = OidIsValid(nsp) ? get_relname_relid(table, nsp) : InvalidOid;

	return OidIsValid(relid) && get_attnum(relid, column) != InvalidAttrNumber;
}
