/*
 * xact.c — the worker's transaction bracket and the two kinds of work inside it.
 *
 * The worker is a session of the stream's owner and never has more rights than the
 * owner.  Two kinds of SQL still run in it, kept apart:
 *
 *  - the owner's code: the target's triggers, defaults, row-security policies and
 *    check constraints, fired by the rows it writes and the late updates, and the
 *    policies of the table a model is refitted on.  It runs as a security-restricted
 *    operation (no SET ROLE, no temporary objects, no prepared statements) in a GUC
 *    nest level that is rolled back after it, so nothing it sets (set_config, SET)
 *    outlives it;
 *  - the extension's bookkeeping (offsets, dedup keys, dead letters, errors, the model):
 *    schema-qualified SQL, functions and operators included, with search_path pinned to
 *    pg_catalog in its own GUC nest level.
 *
 * Neither needs a superuser: the bookkeeping tables let a role write the rows of its own
 * streams (row-level security), and the kafka_conf column is read from the heap.
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/lock.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

#include "stream/stream.h"

/* Start a transaction with SPI connected and a snapshot (activity NULL: leave it). */
void
StreamXactBegin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (activity)
		pgstat_report_activity(STATE_RUNNING, activity);
}

void
StreamXactCommit(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/* Bookkeeping: search_path pinned to pg_catalog until StreamBookkeepingEnd. */
int
StreamBookkeepingBegin(void)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

void
StreamBookkeepingEnd(int nest)
{
	AtEOXact_GUC(false, nest);
}

/* The owner's code: security-restricted, its GUC changes undone by StreamOwnerCodeEnd. */
void
StreamOwnerCodeBegin(StreamOwnerCode *oc)
{
	GetUserIdAndSecContext(&oc->userid, &oc->sec_context);
	SetUserIdAndSecContext(oc->userid, oc->sec_context | SECURITY_RESTRICTED_OPERATION);
	oc->nest = NewGUCNestLevel();
}

void
StreamOwnerCodeEnd(StreamOwnerCode *oc)
{
	AtEOXact_GUC(false, oc->nest);
	SetUserIdAndSecContext(oc->userid, oc->sec_context);
}

/*
 * StreamLockBatches: a stream's batches and the API functions that change the stream
 * exclude each other.  A batch holds the stream's lock in share mode from before it reads
 * gc_streams until it commits; gc_stream_stop, _start, _alter and _drop hold it
 * exclusively until theirs commits.  So a batch either commits before the change or sees
 * it (and writes nothing under options that no longer hold), and the workers of new
 * options never read the offsets while a batch of the old ones may still commit.  The
 * lock is an advisory tag of its own (field 4 is "GC"): no pg_advisory_lock() names it.
 */
void
StreamLockBatches(int32 stream_id, LOCKMODE mode)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) stream_id, 0, 0x4743);
	(void) LockAcquire(&tag, mode, false, false);
}
