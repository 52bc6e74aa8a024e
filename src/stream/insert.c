/*
 * insert.c — the batch writer's direct path: rows go from the worker's own values into
 * table slots and the table AM's multi-insert, without a COPY buffer that COPY would
 * parse again.
 *
 * It is used only for a target where COPY FROM would do nothing more than this: a plain
 * heap table (no partitioning, no triggers of any kind — foreign keys and deferrable
 * unique constraints are triggers too —, no row-level security, no stored generated
 * columns) whose stream columns still have the types (and no type modifier) the plan was
 * made for.  For such a table this file does what CopyFrom does in its
 * multi-insert mode: column defaults of the columns the stream does not fill, NOT NULL
 * and CHECK constraints (ExecConstraints), table_multi_insert in groups of at most 1000
 * rows or 64 kB with a bulk-insert state, then the index entries of each row
 * (ExecInsertIndexTuples: unique and exclusion constraints included).  Values are
 * checked as the binary receive functions would check them (text encoding, timestamp
 * range).  Every other target goes through COPY (writer.c), as before.
 *
 * Errors are ordinary ereports: the writer runs this in a subtransaction and unrolls a
 * failed batch row by row into dead letters, exactly as for COPY.
 */
#include "postgres.h"

#include <math.h>

#include "access/heapam.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "mb/pg_wchar.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "rewrite/rewriteHandler.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "stream/stream.h"

/* as COPY: flush the buffered rows at this many, or at this many bytes of tuples */
#define DIRECT_MAX_TUPLES 1000
#define DIRECT_MAX_BYTES 65535

/* bool[] flag arrays, one per pattern of imputed cells (for up to this many values) */
#define FLAG_CACHE_BITS 12

static MemoryContext flag_cxt = NULL;
static Datum *flag_cache = NULL;
static int	flag_cache_nv = -1;

/*
 * Can the rows of this stream go straight into rel?  Fills attno[c] (1-based) for every
 * planned column.  Checked at every flush: triggers, policies or column types may have
 * changed since the worker started.
 */
bool
DirectInsertUsable(StreamConfig *cfg, Relation rel, AttrNumber *attno)
{
	TupleDesc	td = RelationGetDescr(rel);

	if (!cfg->binary)
		return false;
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relispartition)
		return false;
	if (rel->trigdesc != NULL || rel->rd_rel->relrowsecurity)
		return false;
	if (td->constr && td->constr->has_generated_stored)
		return false;
	for (int c = 0; c < cfg->ncols; c++)
	{
		StreamColumn *col = &cfg->cols[c];
		int			a = attnameAttNum(rel, col->name, false);
		Form_pg_attribute att;

		if (a <= 0)
			return false;
		att = TupleDescAttr(td, a - 1);
		/* a type modifier (varchar(n), timestamptz(3)) is applied by COPY's input */
		if (att->attisdropped || att->atttypid != col->type || att->atttypmod != -1)
			return false;
		attno[c] = (AttrNumber) a;
	}
	return true;
}

/* A text value, checked as text_recv checks it: valid in the database encoding. */
static inline Datum
TextDatum(const char *s, Size *bytes)
{
	int			len = strlen(s);

	*bytes += len;
	pg_verify_mbstr(GetDatabaseEncoding(), s, len, false);
	return PointerGetDatum(cstring_to_text_with_len(s, len));
}

/* A number into an integer or float column, converted as the binary COPY writer does. */
static inline Datum
NumberDatum(Oid type, double v)
{
	switch (type)
	{
		case FLOAT8OID:
			return Float8GetDatum(v);
		case FLOAT4OID:
			return Float4GetDatum((float4) v);
		case INT2OID:
			return Int16GetDatum((int16) llrint(v));
		case INT4OID:
			return Int32GetDatum((int32) llrint(v));
		default:
			return Int64GetDatum((int64) llrint(v));
	}
}

/* Microseconds since the Unix epoch into a time column (checked as timestamp_recv does). */
static Datum
TimeDatum(Oid type, int64 unix_us)
{
	Timestamp	ts;

	if (type == FLOAT8OID)
		return Float8GetDatum(unix_us / 1e6);
	if (type == INT8OID)
		return Int64GetDatum(unix_us / 1000);
	ts = unix_us - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
	if (!IS_VALID_TIMESTAMP(ts))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return TimestampGetDatum(ts);
}

/* The imputed flags as bool[]: built once per pattern, in the worker's memory. */
static Datum
FlagsDatum(const bool *imp, int nv)
{
	Datum		el[64];
	Datum	   *e = nv <= 64 ? el : palloc(sizeof(Datum) * nv);
	uint32		mask = 0;
	bool		cacheable = nv <= FLAG_CACHE_BITS;

	if (cacheable)
	{
		for (int v = 0; v < nv; v++)
			mask |= (uint32) imp[v] << v;
		if (flag_cache_nv != nv)
		{
			if (flag_cxt == NULL)
				flag_cxt = AllocSetContextCreate(TopMemoryContext, "gcimpute stream flags",
												 ALLOCSET_SMALL_SIZES);
			else
				MemoryContextReset(flag_cxt);
			flag_cache = MemoryContextAllocZero(flag_cxt, sizeof(Datum) << nv);
			flag_cache_nv = nv;
		}
		if (flag_cache[mask] != (Datum) 0)
			return flag_cache[mask];
	}
	for (int v = 0; v < nv; v++)
		e[v] = BoolGetDatum(imp[v]);
	if (cacheable)
	{
		MemoryContext old = MemoryContextSwitchTo(flag_cxt);

		flag_cache[mask] = PointerGetDatum(construct_array(e, nv, BOOLOID, 1, true, TYPALIGN_CHAR));
		MemoryContextSwitchTo(old);
		return flag_cache[mask];
	}
	return PointerGetDatum(construct_array(e, nv, BOOLOID, 1, true, TYPALIGN_CHAR));
}

/* The received values as float8[] (NULL where a cell was missing). */
static Datum
RawDatum(PendingRow *r, int nv)
{
	Datum	   *e = palloc(sizeof(Datum) * Max(nv, 1));
	bool	   *n = palloc(sizeof(bool) * Max(nv, 1));
	int			dims[1] = {nv},
				lbs[1] = {1};

	for (int v = 0; v < nv; v++)
	{
		n[v] = !r->have[v];
		e[v] = n[v] ? (Datum) 0 : Float8GetDatum(r->vals[v]);
	}
	return PointerGetDatum(construct_md_array(e, n, 1, dims, lbs, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * The planned columns of one row into values/nulls (in the current memory context).
 * Returns about the size of the row's tuple: what COPY's 64 kB limit counts.
 */
static Size
FillRow(StreamWorker *w, PendingRow *r, const AttrNumber *attno, Datum *values, bool *nulls)
{
	StreamConfig *cfg = w->cfg;
	int			nv = cfg->nvalues;
	Size		bytes = 8 * cfg->ncols;

	for (int c = 0; c < cfg->ncols; c++)
	{
		StreamColumn *col = &cfg->cols[c];
		int			i = attno[c] - 1;

		nulls[i] = false;
		switch (col->role)
		{
			case ROLE_VALUE:
				if (r->have[col->value] || r->imp[col->value])
					values[i] = NumberDatum(col->type, r->vals[col->value]);
				else
					nulls[i] = true;
				break;
			case ROLE_TEXT:
				if (r->texts[c] == NULL)
					nulls[i] = true;
				else if (col->type == TEXTOID || col->type == VARCHAROID)
					values[i] = TextDatum(r->texts[c], &bytes);
				else
				{
					double		v;

					if (!DecodeNumber(r->texts[c], &v) ||
						(col->integral && !(v == rint(v) && fabs(v) < 9.2e18)))
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
								 errmsg("invalid input syntax for type %s: \"%s\"",
										format_type_be(col->type), r->texts[c]),
								 errdetail("Column \"%s\" of the target.", col->name)));
					values[i] = NumberDatum(col->type, v);
				}
				break;
			case ROLE_ENTITY:
				values[i] = TextDatum(r->entity, &bytes);
				break;
			case ROLE_TIME:
				values[i] = TimeDatum(col->type, cfg->row_time_window ? r->win_start : r->event_us);
				break;
			case ROLE_KEY:
				if (r->kkey)
					values[i] = TextDatum(r->kkey, &bytes);
				else
					nulls[i] = true;
				break;
			case ROLE_PARTITION:
				values[i] = NumberDatum(col->type, r->partition);
				break;
			case ROLE_OFFSET:
				values[i] = col->type == INT8OID ? Int64GetDatum(r->offset) : NumberDatum(col->type, (double) r->offset);
				break;
			case ROLE_TIMESTAMP:
				if (r->kafka_ts_ms > 0)
					values[i] = TimeDatum(col->type, r->kafka_ts_ms * 1000);
				else
					nulls[i] = true;
				break;
			case ROLE_IMPUTED:
				values[i] = FlagsDatum(r->imp, nv);
				break;
			case ROLE_RAW:
				values[i] = RawDatum(r, nv);
				break;
		}
	}
	return bytes;
}

/*
 * Start loading the rows a few places ahead: first the row's header (8 ahead), then,
 * from its pointers, its values, flags and strings (4 ahead).  A row of one message is
 * one block (assemble.c, NewRowExtra).  A batch's rows (20,000 of about 1 kB) are not
 * in the cache any more when the writer goes through them.
 */
void
DirectPrefetchRows(List *rows, int i)
{
#ifdef __GNUC__
	int			n = list_length(rows);

	if (i + 8 < n)
	{
		char	   *h = list_nth(rows, i + 8);

		for (Size o = 0; o < sizeof(PendingRow); o += 64)
			__builtin_prefetch(h + o);
	}
	if (i + 4 < n)
	{
		PendingRow *r = list_nth(rows, i + 4);
		char	   *p = (char *) r->vals;
		char	   *end = r->arena ? r->arena + r->arena_used : (char *) (r->imp + (r->imp - r->have));

		for (; p < end && p < (char *) r->vals + 2048; p += 64)
			__builtin_prefetch(p);
	}
#endif
}

/*
 * The range table of one entry, rel with INSERT permission on the stream's columns (the
 * columns an error detail may show), and rel as the result relation: COPY's set-up, in
 * each supported major's executor API.
 */
static void
InitResultRelation(EState *estate, ResultRelInfo *rri, ParseState *pstate,
				   ParseNamespaceItem *nsitem, const AttrNumber *attno, int ncols)
{
#if PG_VERSION_NUM >= 160000
	RTEPermissionInfo *perm = nsitem->p_perminfo;
#else
	RangeTblEntry *perm = nsitem->p_rte;
#endif

	for (int c = 0; c < ncols; c++)
		perm->insertedCols = bms_add_member(perm->insertedCols,
											attno[c] - FirstLowInvalidHeapAttributeNumber);
	perm->requiredPerms = ACL_INSERT;
#if PG_VERSION_NUM >= 180000
	ExecInitRangeTable(estate, pstate->p_rtable, pstate->p_rteperminfos, bms_make_singleton(1));
#elif PG_VERSION_NUM >= 160000
	ExecInitRangeTable(estate, pstate->p_rtable, pstate->p_rteperminfos);
#else
	ExecInitRangeTable(estate, pstate->p_rtable);
#endif
	ExecInitResultRelation(estate, rri, 1);
#if PG_VERSION_NUM >= 180000
	CheckValidResultRel(rri, CMD_INSERT, ONCONFLICT_NONE, NIL);
#elif PG_VERSION_NUM >= 170000
	CheckValidResultRel(rri, CMD_INSERT, NIL);
#else
	CheckValidResultRel(rri, CMD_INSERT);
#endif
}

/* The index entries of one inserted row; unique and exclusion constraints are checked. */
static List *
InsertIndexEntries(ResultRelInfo *rri, TupleTableSlot *slot, EState *estate)
{
#if PG_VERSION_NUM >= 160000
	return ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL, false);
#else
	return ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL);
#endif
}

/*
 * Insert rows (imputed already) into rel, which DirectInsertUsable accepted with attno.
 * The caller holds RowExclusiveLock on rel and has checked INSERT permission.
 */
void
DirectInsertRows(StreamWorker *w, Relation rel, const AttrNumber *attno, List *rows)
{
	StreamConfig *cfg = w->cfg;
	TupleDesc	td = RelationGetDescr(rel);
	int			natts = td->natts;
	EState	   *estate = CreateExecutorState();
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	ParseState *pstate = make_parsestate(NULL);
	ParseNamespaceItem *nsitem;
	ExprContext *econtext;
	ExprState **defexprs = palloc0(sizeof(ExprState *) * Max(natts, 1));
	bool	   *planned = palloc0(sizeof(bool) * Max(natts, 1));
	bool		volatile_defaults = false;
	int			maxbuf;
	TupleTableSlot **slots = palloc0(sizeof(TupleTableSlot *) * DIRECT_MAX_TUPLES);
	int			nused = 0;
	Size		nbytes = 0;
	BulkInsertState bistate = GetBulkInsertState();
	CommandId	mycid = GetCurrentCommandId(true);
	ListCell   *lc;

	/* the executor state COPY builds: one range table entry, the result relation */
	nsitem = addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, NULL, false, false);
	for (int c = 0; c < cfg->ncols; c++)
		planned[attno[c] - 1] = true;
	InitResultRelation(estate, rri, pstate, nsitem, attno, cfg->ncols);
	ExecOpenIndices(rri, false);
	econtext = GetPerTupleExprContext(estate);

	/* defaults of the columns the stream does not fill, as COPY evaluates them */
	for (int a = 0; a < natts; a++)
	{
		Node	   *defexpr;

		if (planned[a] || TupleDescAttr(td, a)->attisdropped)
			continue;
		defexpr = build_column_default(rel, a + 1);
		if (defexpr == NULL)
			continue;
		defexpr = (Node *) expression_planner((Expr *) defexpr);
		defexprs[a] = ExecInitExpr((Expr *) defexpr, NULL);
		/* a volatile default may look at the table: insert row by row, as COPY does */
		if (contain_volatile_functions_not_nextval(defexpr))
			volatile_defaults = true;
	}
	maxbuf = volatile_defaults ? 1 : DIRECT_MAX_TUPLES;

	foreach(lc, rows)
	{
		PendingRow *r = lfirst(lc);
		TupleTableSlot *slot;
		MemoryContext old;

		/* the rows were last touched before the batch was imputed: fetch ahead */
		DirectPrefetchRows(rows, foreach_current_index(lc));

		if (slots[nused] == NULL)
			slots[nused] = table_slot_create(rel, &estate->es_tupleTable);
		slot = slots[nused];
		ExecClearTuple(slot);

		old = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
		memset(slot->tts_isnull, true, sizeof(bool) * natts);
		nbytes += FillRow(w, r, attno, slot->tts_values, slot->tts_isnull);
		for (int a = 0; a < natts; a++)
			if (defexprs[a] != NULL)
				slot->tts_values[a] = ExecEvalExpr(defexprs[a], econtext, &slot->tts_isnull[a]);
		MemoryContextSwitchTo(old);
		ExecStoreVirtualTuple(slot);

		if (td->constr)
			ExecConstraints(rri, slot, estate);
		/* the row outlives the per-tuple memory until the group is inserted */
		ExecMaterializeSlot(slot);
		ResetPerTupleExprContext(estate);
		nused++;

		if (nused == maxbuf || nbytes > DIRECT_MAX_BYTES || lnext(rows, lc) == NULL)
		{
			/* table_multi_insert may leak into the current context */
			old = MemoryContextSwitchTo(GetPerTupleMemoryContext(estate));
			table_multi_insert(rel, slots, nused, mycid, 0, bistate);
			MemoryContextSwitchTo(old);
			for (int i = 0; i < nused; i++)
			{
				if (rri->ri_NumIndices > 0)
					list_free(InsertIndexEntries(rri, slots[i], estate));
				ExecClearTuple(slots[i]);
			}
			ResetPerTupleExprContext(estate);
			nused = 0;
			nbytes = 0;
		}
	}

	FreeBulkInsertState(bistate);
	table_finish_bulk_insert(rel, 0);
	ExecResetTupleTable(estate->es_tupleTable, false);
	ExecCloseResultRelations(estate);
	ExecCloseRangeTableRelations(estate);
	FreeExecutorState(estate);
	free_parsestate(pstate);
}
