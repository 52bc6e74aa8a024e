/*
 * writer.c — the batch writer: one transaction writes the ready rows (imputed), the
 * late-value updates, the dead letters, the dedup keys and the new partition offsets,
 * in named phases: check the stream, write the rows (late updates, insert, unroll), then
 * the bookkeeping (dead letters, keys, offsets).
 *
 * Everything runs as the stream's owner (xact.c): the rows as the owner's code
 * (security-restricted, its GUC changes undone), the bookkeeping with search_path
 * pinned.  A target is written as an INSERT by the owner would write it: a plain heap
 * table straight from the worker's values (insert.c: the table AM's multi-insert,
 * constraints and indexes as COPY does them); a target whose row-level security applies
 * to the owner by an INSERT, so that its WITH CHECK policies hold; every other target
 * through PostgreSQL's COPY machinery fed from memory (BeginCopyFrom with a data-source
 * callback), so triggers, partitioned targets and typmods behave exactly as for COPY.
 * The whole batch is tried in one subtransaction; if it fails, the batch is "unrolled"
 * (as Kafka Connect's JDBC sink does): each row in its own subtransaction, failing rows
 * become dead letters, and the rest commits.
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/copy.h"
#include "common/shortest_dec.h"
#include "nodes/makefuncs.h"
#include "port/pg_bswap.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "pgstat.h"
#include "utils/acl.h"
#include "utils/rls.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/datum.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "copula/gcmodel_sql.h"
#include "gcimpute.h"
#include "stream/temporal_history.h"
#include "stream/stream.h"

static const char *copy_data;
static int	copy_len,
			copy_pos;

static int
CopyReadCb(void *outbuf, int minread, int maxread)
{
	int			n = Min(maxread, copy_len - copy_pos);

	if (n > 0)
	{
		memcpy(outbuf, copy_data + copy_pos, n);
		copy_pos += n;
	}
	return n;
}

static void
AppendCopyText(StringInfo s, const char *v)
{
	for (const char *p = v; *p; p++)
	{
		switch (*p)
		{
			case '\\':
				appendStringInfoString(s, "\\\\");
				break;
			case '\t':
				appendStringInfoString(s, "\\t");
				break;
			case '\n':
				appendStringInfoString(s, "\\n");
				break;
			case '\r':
				appendStringInfoString(s, "\\r");
				break;
			default:
				appendStringInfoChar(s, *p);
		}
	}
}

static void
AppendDouble(StringInfo s, double v, bool integral)
{
	char		buf[64];

	if (integral)
		appendStringInfo(s, "%lld", (long long) llrint(v));
	else
	{
		double_to_shortest_decimal_buf(v, buf);
		appendStringInfoString(s, buf);
	}
}

/* microseconds since the Unix epoch as an ISO timestamp in UTC */
static void
AppendTimestamp(StringInfo s, int64 us)
{
	int64		days = us >= 0 ? us / USECS_PER_DAY : -((-us + USECS_PER_DAY - 1) / USECS_PER_DAY);
	int64		rem = us - days * USECS_PER_DAY;
	int			y,
				m,
				d;

	/* PostgreSQL's own calendar (event times are within ±1e11 s of the epoch) */
	j2date((int) (days + UNIX_EPOCH_JDATE), &y, &m, &d);
	appendStringInfo(s, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00",
					 y, m, d,
					 (int) (rem / USECS_PER_HOUR), (int) (rem / USECS_PER_MINUTE % 60),
					 (int) (rem / USECS_PER_SEC % 60), (int) (rem % USECS_PER_SEC));
}

static void
AppendTime(StringInfo s, Oid type, int64 us)
{
	if (type == FLOAT8OID)
		appendStringInfo(s, "%.6f", us / 1e6);
	else if (type == INT8OID)
		appendStringInfo(s, INT64_FORMAT, us / 1000);
	else
		AppendTimestamp(s, us);
}

/*
 * The model's imputer, built once per model version (the precision matrix factored once;
 * consecutive rows with one missingness pattern share that pattern's factorisation) and
 * called directly: the SQL function gc_impute would cost an array in and an array out per
 * row.  Same computation as gc_impute(model, row), GC_IMPUTE_ORD_UPDATES included.
 */

static GcImputer *imputer = NULL;
static GcModel *imputer_model = NULL;
static TemporalHistory *history = NULL;	/* a temporal model's per-entity rows */

static void RestoreHistory(StreamWorker *w);
static char *TimeUsExpr(StreamConfig *cfg);
static void AppendReceivedValues(StreamConfig *cfg, StringInfo sql);
static double *imp_in = NULL,
		   *imp_out = NULL;

/* (Re)build the imputer for w->model, in w->model_cxt; ereports on a bad model. */
static void
BuildImputer(StreamWorker *w)
{
	MemoryContext old = MemoryContextSwitchTo(w->model_cxt);
	GcAlloc		alloc = gc_pg_alloc(w->model_cxt);
	GcStatus	st;
	char		msg[256];

	imputer = NULL;
	history = NULL;				/* its memory went with model_cxt */
	imputer_model = gcmodel_unpack((GcModelData *) DatumGetPointer(w->model));
	if (imputer_model->temporal && (w->cfg->c_entity < 0 || w->cfg->c_time < 0))
	{
		MemoryContextSwitchTo(old);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" is temporal but stream \"%s\" has no entity and time columns",
						w->cfg->model, w->cfg->name),
				 errhint("Give the stream \"entity_column\" and \"time_column\", or use a model fitted by gc_fit.")));
	}
	if (imputer_model->temporal)
		history = gc_stream_history_create(imputer_model, w->cfg->refine_previous, w->model_cxt);
	st = gc_imputer_create(imputer_model, &alloc, &imputer, msg, sizeof(msg));
	imp_in = palloc(sizeof(double) * Max(imputer_model->p, 1));
	imp_out = palloc(sizeof(double) * Max(imputer_model->p, 1));
	MemoryContextSwitchTo(old);
	if (st != GC_OK)
	{
		imputer = NULL;
		gc_report_status(st, "gc_impute", msg);
	}
}

/* The time a row is written with, in microseconds: its window's start or earliest event. */
static int64
RowTime(StreamConfig *cfg, PendingRow *r)
{
	return cfg->row_time_window ? r->win_start : r->event_us;
}

/* Rows in time order (window start, then earliest event), for list_sort. */
static int
CmpRowTime(const ListCell *a, const ListCell *b)
{
	const PendingRow *x = lfirst(a),
			   *y = lfirst(b);

	if (x->win_start != y->win_start)
		return x->win_start < y->win_start ? -1 : 1;
	return (x->event_us > y->event_us) - (x->event_us < y->event_us);
}

/* The imputed values of a row's missing cells into the row. */
static void
StoreImputed(StreamWorker *w, PendingRow *r, const double *out)
{
	for (int v = 0; v < w->cfg->nvalues; v++)
		if (!r->have[v] && !isnan(out[v]))
		{
			r->vals[v] = out[v];
			r->imp[v] = true;
			w->imputed_cells++;
		}
}

/*
 * Fill the missing cells of a row from the model (a temporal one: and the entity's earlier
 * rows). pending: the row is still to be inserted by this batch, so a revision of it
 * (ReviseRow) changes it in memory.
 */
static void
ImputeRow(StreamWorker *w, PendingRow *r, bool pending)
{
	int			n = w->cfg->nvalues;
	bool		missing = false;
	GcStatus	st;

	memset(r->imp, 0, sizeof(bool) * n);
	for (int v = 0; v < n; v++)
		if (!r->have[v])
			missing = true;
	/* a temporal model records every row: later rows are imputed from it */
	if (history != NULL && w->have_model && imputer != NULL && imputer_model->p == n)
	{
		for (int v = 0; v < n; v++)
			imp_in[v] = r->have[v] ? r->vals[v] : get_float8_nan();
		if (gc_stream_history_impute(history, r->entity, RowTime(w->cfg, r), imp_in, imp_out,
									 pending ? r : NULL))
			StoreImputed(w, r, imp_out);
		return;
	}
	if (!missing || !w->have_model || imputer == NULL)
		return;
	if (imputer_model->p != n)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("model \"%s\" returned %d values for a row of %d columns", w->cfg->model, imputer_model->p, n),
				 errhint("Fit the model on the stream's %d value columns, in table order.", n)));
	for (int v = 0; v < n; v++)
		imp_in[v] = r->have[v] ? r->vals[v] : get_float8_nan();
	st = gc_impute_row(imputer, imp_in, imp_out, GC_IMPUTE_ORD_UPDATES);
	if (st != GC_OK)
		gc_report_status(st, "gc_impute", "conditional distribution is degenerate");
	StoreImputed(w, r, imp_out);
}

/* A scalar that needs no escaping: bare in COPY text, a string in json. */
#define OPEN_SCALAR(s, json) do { if (json) appendStringInfoChar(s, '"'); } while (0)
#define CLOSE_SCALAR(s, json) OPEN_SCALAR(s, json)

static void
AppendTextCell(StringInfo s, const char *v, bool json)
{
	if (v == NULL)
		appendStringInfoString(s, json ? "null" : "\\N");
	else if (json)
		escape_json(s, v);
	else
		AppendCopyText(s, v);
}

/*
 * One row (after imputation): a COPY text line, or with json a json object by column
 * name whose scalars are strings for the columns' input functions (the row-security
 * path, SqlInsertRows).
 */
static void
FormatRow(StreamWorker *w, PendingRow *r, StringInfo s, bool json)
{
	StreamConfig *cfg = w->cfg;
	const char *null = json ? "null" : "\\N";

	if (json)
		appendStringInfoChar(s, '{');
	for (int c = 0; c < cfg->ncols; c++)
	{
		StreamColumn *col = &cfg->cols[c];

		if (c > 0)
			appendStringInfoChar(s, json ? ',' : '\t');
		if (json)
		{
			escape_json(s, col->name);
			appendStringInfoChar(s, ':');
		}
		switch (col->role)
		{
			case ROLE_VALUE:
				if (r->have[col->value] || r->imp[col->value])
				{
					OPEN_SCALAR(s, json);
					AppendDouble(s, r->vals[col->value], col->integral);
					CLOSE_SCALAR(s, json);
				}
				else
					appendStringInfoString(s, null);
				break;
			case ROLE_TEXT:
				AppendTextCell(s, r->texts[c], json);
				break;
			case ROLE_ENTITY:
				AppendTextCell(s, r->entity, json);
				break;
			case ROLE_TIME:
				OPEN_SCALAR(s, json);
				AppendTime(s, col->type, cfg->row_time_window ? r->win_start : r->event_us);
				CLOSE_SCALAR(s, json);
				break;
			case ROLE_KEY:
				AppendTextCell(s, r->kkey, json);
				break;
			case ROLE_PARTITION:
				OPEN_SCALAR(s, json);
				appendStringInfo(s, "%d", r->partition);
				CLOSE_SCALAR(s, json);
				break;
			case ROLE_OFFSET:
				OPEN_SCALAR(s, json);
				appendStringInfo(s, INT64_FORMAT, r->offset);
				CLOSE_SCALAR(s, json);
				break;
			case ROLE_TIMESTAMP:
				if (r->kafka_ts_ms > 0)
				{
					OPEN_SCALAR(s, json);
					AppendTimestamp(s, r->kafka_ts_ms * 1000);
					CLOSE_SCALAR(s, json);
				}
				else
					appendStringInfoString(s, null);
				break;
			case ROLE_IMPUTED:
				appendStringInfoChar(s, json ? '[' : '{');
				for (int v = 0; v < cfg->nvalues; v++)
				{
					if (v)
						appendStringInfoChar(s, ',');
					appendStringInfoString(s, json ? (r->imp[v] ? "true" : "false") : (r->imp[v] ? "t" : "f"));
				}
				appendStringInfoChar(s, json ? ']' : '}');
				break;
			case ROLE_RAW:
				appendStringInfoChar(s, json ? '[' : '{');
				for (int v = 0; v < cfg->nvalues; v++)
				{
					if (v)
						appendStringInfoChar(s, ',');
					if (r->have[v])
					{
						OPEN_SCALAR(s, json);
						AppendDouble(s, r->vals[v], false);
						CLOSE_SCALAR(s, json);
					}
					else
						appendStringInfoString(s, json ? "null" : "NULL");
				}
				appendStringInfoChar(s, json ? ']' : '}');
				break;
		}
	}
	appendStringInfoChar(s, json ? '}' : '\n');
}

/* ---- binary COPY rows ---- */

static const char copy_signature[11] = "PGCOPY\n\377\r\n\0";

/*
 * Binary COPY output, appended in place: these run for every field of every row, so
 * they grow the buffer only when needed and copy without a function call per field.
 */
static inline void
PutRaw(StringInfo s, const void *p, int n)
{
	if (s->len + n >= s->maxlen)
		enlargeStringInfo(s, n);
	memcpy(s->data + s->len, p, n);
	s->len += n;
	s->data[s->len] = '\0';
}

static inline void
PutInt16(StringInfo s, int16 v)
{
	uint16		n = pg_hton16((uint16) v);

	PutRaw(s, &n, 2);
}

static inline void
PutInt32(StringInfo s, int32 v)
{
	uint32		n = pg_hton32((uint32) v);

	PutRaw(s, &n, 4);
}

static inline void
PutInt64(StringInfo s, int64 v)
{
	uint64		n = pg_hton64((uint64) v);

	PutRaw(s, &n, 8);
}

static inline void
PutFloat8(StringInfo s, double v)
{
	uint64		u;

	memcpy(&u, &v, 8);
	PutInt64(s, (int64) u);
}

static inline void
PutBytes(StringInfo s, const char *v, int len)
{
	PutInt32(s, len);
	PutRaw(s, v, len);
}

/* A number into an integer or float column; bad text makes the receive function fail. */
static inline void
PutNumber(StringInfo s, Oid type, double v)
{
	switch (type)
	{
		case FLOAT8OID:
			PutInt32(s, 8);
			PutFloat8(s, v);
			break;
		case FLOAT4OID:
			{
				float4		f = (float4) v;
				uint32		u;

				memcpy(&u, &f, 4);
				PutInt32(s, 4);
				PutInt32(s, (int32) u);
				break;
			}
		case INT2OID:
			PutInt32(s, 2);
			PutInt16(s, (int16) llrint(v));
			break;
		case INT4OID:
			PutInt32(s, 4);
			PutInt32(s, (int32) llrint(v));
			break;
		default:
			PutInt32(s, 8);
			PutInt64(s, (int64) llrint(v));
	}
}

static void
PutTime(StringInfo s, Oid type, int64 unix_us)
{
	if (type == FLOAT8OID)
	{
		PutInt32(s, 8);
		PutFloat8(s, unix_us / 1e6);
	}
	else if (type == INT8OID)
	{
		PutInt32(s, 8);
		PutInt64(s, unix_us / 1000);
	}
	else
	{
		PutInt32(s, 8);
		PutInt64(s, unix_us - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY);
	}
}

static void
CopyBinaryHeader(StringInfo s)
{
	appendBinaryStringInfo(s, copy_signature, 11);
	PutInt32(s, 0);
	PutInt32(s, 0);
}

static void
CopyBinaryTrailer(StringInfo s)
{
	PutInt16(s, -1);
}

/* One binary COPY tuple for a row (after imputation). */
static void
FormatRowBinary(StreamWorker *w, PendingRow *r, StringInfo s)
{
	StreamConfig *cfg = w->cfg;
	int			nv = cfg->nvalues;

	PutInt16(s, (int16) cfg->ncols);
	for (int c = 0; c < cfg->ncols; c++)
	{
		StreamColumn *col = &cfg->cols[c];

		switch (col->role)
		{
			case ROLE_VALUE:
				if (r->have[col->value] || r->imp[col->value])
					PutNumber(s, col->type, r->vals[col->value]);
				else
					PutInt32(s, -1);
				break;
			case ROLE_TEXT:
				if (r->texts[c] == NULL)
					PutInt32(s, -1);
				else if (col->type == TEXTOID || col->type == VARCHAROID)
					PutBytes(s, r->texts[c], strlen(r->texts[c]));
				else
				{
					double		v;

					if (DecodeNumber(r->texts[c], &v) &&
						(!col->integral || (v == rint(v) && fabs(v) < 9.2e18)))
						PutNumber(s, col->type, v);
					else		/* wrong length: the column's receive function rejects it */
						PutBytes(s, r->texts[c], strlen(r->texts[c]) == 8 ? 7 : strlen(r->texts[c]));
				}
				break;
			case ROLE_ENTITY:
				PutBytes(s, r->entity, strlen(r->entity));
				break;
			case ROLE_TIME:
				PutTime(s, col->type, cfg->row_time_window ? r->win_start : r->event_us);
				break;
			case ROLE_KEY:
				if (r->kkey)
					PutBytes(s, r->kkey, strlen(r->kkey));
				else
					PutInt32(s, -1);
				break;
			case ROLE_PARTITION:
				PutNumber(s, col->type, r->partition);
				break;
			case ROLE_OFFSET:
				if (col->type == INT8OID)
				{
					PutInt32(s, 8);
					PutInt64(s, r->offset);
				}
				else
					PutNumber(s, col->type, (double) r->offset);
				break;
			case ROLE_TIMESTAMP:
				if (r->kafka_ts_ms > 0)
					PutTime(s, col->type, r->kafka_ts_ms * 1000);
				else
					PutInt32(s, -1);
				break;
			case ROLE_IMPUTED:
				PutInt32(s, 20 + 5 * nv);
				PutInt32(s, 1);		/* ndim */
				PutInt32(s, 0);		/* no nulls */
				PutInt32(s, BOOLOID);
				PutInt32(s, nv);
				PutInt32(s, 1);		/* lower bound */
				for (int v = 0; v < nv; v++)
				{
					char		e[5] = {0, 0, 0, 1, r->imp[v] ? 1 : 0};

					PutRaw(s, e, 5);
				}
				break;
			case ROLE_RAW:
				{
					int			len = 20,
								nulls = 0;

					for (int v = 0; v < nv; v++)
					{
						len += r->have[v] ? 12 : 4;
						nulls += !r->have[v];
					}
					PutInt32(s, len);
					PutInt32(s, 1);
					PutInt32(s, nulls > 0);
					PutInt32(s, FLOAT8OID);
					PutInt32(s, nv);
					PutInt32(s, 1);
					for (int v = 0; v < nv; v++)
					{
						if (r->have[v])
						{
							PutInt32(s, 8);
							PutFloat8(s, r->vals[v]);
						}
						else
							PutInt32(s, -1);
					}
					break;
				}
		}
	}
}

static List *copy_attnames = NIL;
static List *copy_options = NIL;

/* The COPY column list: every planned column, in table order. */
void
WriterSetColumns(StreamConfig *cfg)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	copy_attnames = NIL;
	for (int c = 0; c < cfg->ncols; c++)
		copy_attnames = lappend(copy_attnames, makeString(pstrdup(cfg->cols[c].name)));
	copy_options = cfg->binary ? list_make1(makeDefElem("format", (Node *) makeString("binary"), -1)) : NIL;
	MemoryContextSwitchTo(old);
}

static uint64
RunCopy(Relation rel, const char *data, int len)
{
	CopyFromState cstate;
	ParseState *pstate = make_parsestate(NULL);
	uint64		n;

	copy_data = data;
	copy_len = len;
	copy_pos = 0;
	/* CopyFrom builds its executor state from the parse state's range table */
	addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, NULL, false, false);
	cstate = BeginCopyFrom(pstate, rel, NULL, NULL, false, CopyReadCb, copy_attnames, copy_options);
	n = CopyFrom(cstate);
	EndCopyFrom(cstate);
	free_parsestate(pstate);
	return n;
}

/* Run fn in a subtransaction; on error, return false with the message in *err. */
typedef void (*SubFn) (void *arg);

static bool
InSubxact(SubFn fn, void *arg, char **err)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(oldcxt);
		ed = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		*err = ed->detail ? psprintf("%s: %s", ed->message, ed->detail) : pstrdup(ed->message);
		if (ed->context)
		{
			/* keep the COPY context line ("COPY x, line 3, column y") short */
			char	   *nl = strchr(ed->context, '\n');

			if (nl)
				*nl = '\0';
			*err = psprintf("%s (%s)", *err, ed->context);
		}
		FreeErrorData(ed);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/* the first late row of a window in a batch (MergeLatePieces) */
typedef struct LateFirst
{
	char		hkey[128];
	PendingRow *row;
} LateFirst;

/* The context of ReviseRow: the row whose arrival caused the revision (its entity). */
typedef struct ReviseArg
{
	StreamWorker *w;
	PendingRow *r;
} ReviseArg;

/* A revised row still to be inserted by this batch: its imputed cells in memory. */
static void
ReviseInMemory(StreamConfig *cfg, PendingRow *r, const double *imputed)
{
	for (int v = 0; v < cfg->nvalues; v++)
		if (!r->have[v] && r->imp[v] && !isnan(imputed[v]))
			r->vals[v] = imputed[v];
}

/* A revised row already written: an UPDATE of its imputed value columns. */
static void
ReviseInTarget(StreamConfig *cfg, const char *entity, int64 t_us, const double *observed,
			   const double *imputed)
{
	StreamColumn *ec = &cfg->cols[cfg->c_entity],
			   *tc = &cfg->cols[cfg->c_time];
	StringInfoData sql,
				tbuf;
	Datum		args[2];
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	bool		any = false;

	initStringInfo(&sql);
	initStringInfo(&tbuf);
	appendStringInfo(&sql, "UPDATE %s SET ", cfg->target_sql);
	for (int c = 0; c < cfg->ncols; c++)
	{
		StreamColumn *col = &cfg->cols[c];

		if (col->role != ROLE_VALUE || !isnan(observed[col->value]) || isnan(imputed[col->value]))
			continue;
		resetStringInfo(&tbuf);
		AppendDouble(&tbuf, imputed[col->value], col->integral);
		appendStringInfo(&sql, "%s%s = CAST(%s AS %s)", any ? ", " : "", quote_identifier(col->name),
						 quote_literal_cstr(tbuf.data), format_type_be_qualified(col->type));
		any = true;
	}
	if (!any)
		return;
	resetStringInfo(&tbuf);
	AppendTime(&tbuf, tc->type, t_us);
	args[0] = CStringGetTextDatum(entity);
	args[1] = CStringGetTextDatum(tbuf.data);
	appendStringInfo(&sql, " WHERE %s OPERATOR(pg_catalog.=) CAST($1 AS %s) AND %s OPERATOR(pg_catalog.=) CAST($2 AS %s)",
					 quote_identifier(ec->name), format_type_be_qualified(ec->type),
					 quote_identifier(tc->name), format_type_be_qualified(tc->type));
	if (SPI_execute_with_args(sql.data, 2, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "revising a row of stream \"%s\" failed", cfg->name);
}

/*
 * A row of the entity revised by the history (HistoryReviseFn): its imputed cells get the
 * new values; its observed cells, imputed flags and raw cells stay.
 */
static void
ReviseRow(void *arg, int64 t_us, void *tag, const double *observed, const double *imputed)
{
	ReviseArg  *ra = arg;

	if (tag != NULL)
		ReviseInMemory(ra->w->cfg, (PendingRow *) tag, imputed);
	else
		ReviseInTarget(ra->w->cfg, ra->r->entity, t_us, observed, imputed);
}

/*
 * The rows of r's entity within the history's reach of r, as received, read back from the
 * target into the history's scratch series, and r itself.
 */
static void
ScratchFromTarget(StreamWorker *w, PendingRow *r)
{
	StreamConfig *cfg = w->cfg;
	StreamColumn *ec = &cfg->cols[cfg->c_entity],
			   *tc = &cfg->cols[cfg->c_time];
	int64		t = RowTime(cfg, r),
				reach = (int64) ceil((gc_stream_history_reach(history) + 0.5) *
									 gc_stream_history_step(history) * 1e6);
	StringInfoData sql,
				lo,
				hi;
	Datum		args[3];
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	double	   *vals = palloc(sizeof(double) * cfg->nvalues);

	initStringInfo(&lo);
	initStringInfo(&hi);
	AppendTime(&lo, tc->type, t - reach);
	AppendTime(&hi, tc->type, t + reach);
	args[0] = CStringGetTextDatum(r->entity);
	args[1] = CStringGetTextDatum(lo.data);
	args[2] = CStringGetTextDatum(hi.data);
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s, ARRAY[", TimeUsExpr(cfg));
	AppendReceivedValues(cfg, &sql);
	appendStringInfo(&sql, "]::pg_catalog.float8[] FROM %s WHERE %s OPERATOR(pg_catalog.=) CAST($1 AS %s) "
					 "AND %s OPERATOR(pg_catalog.>=) CAST($2 AS %s) AND %s OPERATOR(pg_catalog.<=) CAST($3 AS %s) ORDER BY 1",
					 cfg->target_sql, quote_identifier(ec->name), format_type_be_qualified(ec->type),
					 quote_identifier(tc->name), format_type_be_qualified(tc->type),
					 quote_identifier(tc->name), format_type_be_qualified(tc->type));
	/* read-write: the rows this batch inserted must be visible */
	if (SPI_execute_with_args(sql.data, 3, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the rows around a late row of stream \"%s\"", cfg->name);
	gc_stream_history_scratch_reset(history);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		n1,
					n2;
		Datum		tu = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &n1),
					v = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &n2);

		if (n1 || n2)
			continue;
		gc_row_values(DatumGetArrayTypeP(v), vals, cfg->nvalues, "gcimpute stream", -1);
		gc_stream_history_scratch_add(history, DatumGetInt64(tu), vals, NULL);
	}
	for (int v = 0; v < cfg->nvalues; v++)
		vals[v] = r->have[v] ? r->vals[v] : get_float8_nan();
	gc_stream_history_scratch_add(history, t, vals, NULL);
	pfree(vals);
}

/*
 * After a row of a temporal model's stream was imputed or completed: the rows of its entity
 * whose imputation depended on it (gc_stream_history_revise) are imputed again. A late row
 * may lie before everything the history holds in memory, so its neighbours are read back
 * from the target instead (FlushReviseLate, once every row of the batch is written).
 */
static void
ReviseAround(StreamWorker *w, PendingRow *r)
{
	ReviseArg	ra = {w, r};

	if (history == NULL || !w->have_model || imputer_model->p != w->cfg->nvalues)
		return;
	if (r->late)
	{
		ScratchFromTarget(w, r);
		gc_stream_history_scratch_revise(history, RowTime(w->cfg, r), ReviseRow, &ra);
	}
	else
		gc_stream_history_revise(history, r->entity, RowTime(w->cfg, r), ReviseRow, &ra);
}

/*
 * The statements the worker runs again and again, planned once per worker and kept
 * (SPI_keepplan): the batch's bookkeeping, the late-row lookup and update, the model
 * refresh.  Their text depends only on the stream's configuration, which is fixed for the
 * worker's life; values travel as parameters.  The plan cache replans a kept statement
 * when an object it uses changes (an ALTER TABLE of the target, say) or when it runs
 * under another search_path.
 */
typedef enum KeptPlan
{
	KEPT_CHECK,
	KEPT_MODEL,
	KEPT_DEAD_LETTER,
	KEPT_DEAD_LETTER_BY_NAME,
	KEPT_KEYS,
	KEPT_OFFSETS,
	KEPT_OFFSETS_COUNTS,
	KEPT_LATE_FIND,
	KEPT_LATE_UPDATE,
	KEPT_REFIT,
	KEPT_REFIT_SERIES,
	KEPT_STORE_MODEL,
	KEPT_NPLANS
} KeptPlan;

static SPIPlanPtr kept_plans[KEPT_NPLANS];

/* Whether statement id is planned already (its text need not be built again). */
static inline bool
KeptPlanReady(KeptPlan id)
{
	return kept_plans[id] != NULL;
}

/* The kept plan of id; sql and types are read only the first time. */
static SPIPlanPtr
KeptPlanFor(KeptPlan id, const char *sql, int nargs, Oid *types)
{
	if (kept_plans[id] == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		kept_plans[id] = plan;
	}
	return kept_plans[id];
}

static int
RunKept(KeptPlan id, const char *sql, int nargs, Oid *types, Datum *values, bool read_only, long count)
{
	return SPI_execute_plan(KeptPlanFor(id, sql, nargs, types), values, NULL, read_only, count);
}

/* RunKept of a writing statement with NULL arguments (nulls as SPI_execute_plan takes them) */
static int
RunKeptNulls(KeptPlan id, const char *sql, int nargs, Oid *types, Datum *values, const char *nulls)
{
	return SPI_execute_plan(KeptPlanFor(id, sql, nargs, types), values, nulls, false, 0);
}

typedef struct LateArg
{
	StreamWorker *w;
	PendingRow *r;
	bool		found;
} LateArg;

/* The written row a late row belongs to: its value cells and imputed flags. */
typedef struct LateCells
{
	Datum		ctid;
	double	   *val;
	bool	   *isnull;
	bool	   *imputed;
} LateCells;

/*
 * The lookup of a window's written row: its value columns, imputed flags and ctid, locked.
 * $1 entity, $2 window start, $3 window end, as text in the columns' input syntax.
 */
static char *
LateFindSql(StreamConfig *cfg)
{
	StreamColumn *ec = &cfg->cols[cfg->c_entity],
			   *tc = &cfg->cols[cfg->c_time];
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int c = 0; c < cfg->ncols; c++)
		if (cfg->cols[c].role == ROLE_VALUE)
			appendStringInfo(&sql, "%s::pg_catalog.float8, ", quote_identifier(cfg->cols[c].name));
	if (cfg->c_imputed >= 0)
		appendStringInfo(&sql, "%s", quote_identifier(cfg->cols[cfg->c_imputed].name));
	else
		appendStringInfoString(&sql, "NULL::pg_catalog.bool[]");
	/* the row of the window: its time column lies in [window start, window end) */
	appendStringInfo(&sql, ", ctid FROM %s WHERE %s OPERATOR(pg_catalog.=) CAST($1 AS %s) "
					 "AND %s OPERATOR(pg_catalog.>=) CAST($2 AS %s) AND %s OPERATOR(pg_catalog.<) CAST($3 AS %s) "
					 "ORDER BY %s LIMIT 1 FOR UPDATE",
					 cfg->target_sql,
					 quote_identifier(ec->name), format_type_be_qualified(ec->type),
					 quote_identifier(tc->name), format_type_be_qualified(tc->type),
					 quote_identifier(tc->name), format_type_be_qualified(tc->type),
					 quote_identifier(tc->name));
	return sql.data;
}

/* Find and lock the written row of r's window into cur; false when there is none. */
static bool
LateFindRow(StreamWorker *w, PendingRow *r, LateCells *cur)
{
	StreamConfig *cfg = w->cfg;
	StreamColumn *tc = &cfg->cols[cfg->c_time];
	StringInfoData tbuf;
	Datum		args[3];
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	int			ret,
				nv = cfg->nvalues;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Datum		x;

	initStringInfo(&tbuf);
	AppendTime(&tbuf, tc->type, r->win_start);
	args[0] = CStringGetTextDatum(r->entity);
	args[1] = CStringGetTextDatum(tbuf.data);
	resetStringInfo(&tbuf);
	AppendTime(&tbuf, tc->type, r->win_start + (int64) (w->window * 1e6));
	args[2] = CStringGetTextDatum(tbuf.data);
	ret = RunKept(KEPT_LATE_FIND, KeptPlanReady(KEPT_LATE_FIND) ? NULL : LateFindSql(cfg),
				  3, argtypes, args, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "late row lookup failed: %d", ret);
	if (SPI_processed == 0)
		return false;

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	cur->ctid = datumCopy(SPI_getbinval(tup, desc, nv + 2, &isnull), false, 6);
	cur->val = palloc(sizeof(double) * nv);
	cur->isnull = palloc(sizeof(bool) * nv);
	cur->imputed = palloc0(sizeof(bool) * nv);
	for (int v = 0; v < nv; v++)
	{
		x = SPI_getbinval(tup, desc, v + 1, &cur->isnull[v]);
		cur->val[v] = cur->isnull[v] ? 0 : DatumGetFloat8(x);
	}
	x = SPI_getbinval(tup, desc, nv + 1, &isnull);
	if (!isnull)
	{
		Datum	   *el;
		bool	   *eln;
		int			n;

		deconstruct_array(DatumGetArrayTypeP(x), BOOLOID, 1, true, TYPALIGN_CHAR, &el, &eln, &n);
		for (int v = 0; v < Min(n, nv); v++)
			cur->imputed[v] = !eln[v] && DatumGetBool(el[v]);
	}
	return true;
}

/*
 * Merge r's new values with the written row and impute the rest: raw values are the new
 * ones, then the written cells that were not imputed; a cell that stays imputed without a
 * model keeps its old value.
 */
static void
LateMerge(StreamWorker *w, PendingRow *r, const LateCells *cur)
{
	int			nv = w->cfg->nvalues;

	for (int v = 0; v < nv; v++)
		if (!r->have[v] && !cur->isnull[v] && !cur->imputed[v])
		{
			r->vals[v] = cur->val[v];
			r->have[v] = true;
		}
	ImputeRow(w, r, false);
	for (int v = 0; v < nv; v++)
		if (!r->have[v] && !r->imp[v] && !cur->isnull[v] && cur->imputed[v])
		{
			r->vals[v] = cur->val[v];
			r->imp[v] = true;
		}
}

/* Whether the late update writes column col (value, imputed-flags and raw columns). */
static inline bool
LateUpdates(const StreamColumn *col)
{
	return col->role == ROLE_VALUE || col->role == ROLE_IMPUTED || col->role == ROLE_RAW;
}

/*
 * The update of a written row: $1 its ctid, then one text parameter per written column in
 * the column's input syntax (NULL for none), cast to the column's type.  *nargs receives
 * the number of parameters.
 */
static char *
LateUpdateSql(StreamConfig *cfg, int *nargs)
{
	StringInfoData sql;
	int			k = 1;

	initStringInfo(&sql);
	appendStringInfo(&sql, "UPDATE %s SET ", cfg->target_sql);
	for (int c = 0; c < cfg->ncols; c++)
	{
		StreamColumn *col = &cfg->cols[c];

		if (!LateUpdates(col))
			continue;
		k++;
		appendStringInfo(&sql, "%s%s = CAST($%d AS %s)", k > 2 ? ", " : "", quote_identifier(col->name),
						 k, format_type_be_qualified(col->type));
	}
	appendStringInfoString(&sql, " WHERE ctid OPERATOR(pg_catalog.=) $1");
	*nargs = k;
	return sql.data;
}

/* Text of column col's new cell for r into val (left empty for NULL). */
static void
LateCellText(StreamWorker *w, PendingRow *r, const StreamColumn *col, StringInfo val)
{
	int			nv = w->cfg->nvalues;

	resetStringInfo(val);
	if (col->role == ROLE_VALUE)
	{
		if (r->have[col->value] || r->imp[col->value])
			AppendDouble(val, r->vals[col->value], col->integral);
		return;
	}
	appendStringInfoChar(val, '{');
	for (int v = 0; v < nv; v++)
	{
		if (v)
			appendStringInfoChar(val, ',');
		if (col->role == ROLE_IMPUTED)
			appendStringInfoChar(val, r->imp[v] ? 't' : 'f');
		else if (r->have[v])
			AppendDouble(val, r->vals[v], false);
		else
			appendStringInfoString(val, "NULL");
	}
	appendStringInfoChar(val, '}');
}

/* Write r's cells into the written row at ctid. */
static void
LateUpdateRow(StreamWorker *w, PendingRow *r, Datum ctid)
{
	StreamConfig *cfg = w->cfg;
	int			nargs = 1;
	char	   *sql = KeptPlanReady(KEPT_LATE_UPDATE) ? NULL : LateUpdateSql(cfg, &nargs);
	Oid		   *types = palloc(sizeof(Oid) * (cfg->ncols + 1));
	Datum	   *args = palloc(sizeof(Datum) * (cfg->ncols + 1));
	char	   *nulls = palloc(cfg->ncols + 1);
	StringInfoData val;
	int			k = 1,
				ret;

	initStringInfo(&val);
	types[0] = TIDOID;
	args[0] = ctid;
	nulls[0] = ' ';
	for (int c = 0; c < cfg->ncols; c++)
	{
		StreamColumn *col = &cfg->cols[c];

		if (!LateUpdates(col))
			continue;
		LateCellText(w, r, col, &val);
		types[k] = TEXTOID;
		args[k] = val.len ? CStringGetTextDatum(val.data) : (Datum) 0;
		nulls[k] = val.len ? ' ' : 'n';
		k++;
	}
	Assert(sql == NULL || k == nargs);
	ret = RunKeptNulls(KEPT_LATE_UPDATE, sql, k, types, args, nulls);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "late row update failed: %d", ret);
}

/*
 * A late row: values for a window that was already written.  Re-impute the row from its
 * raw values plus the new ones, replace the cells, clear their imputed flags.
 */
static void
LateSub(void *arg)
{
	LateArg    *a = arg;
	LateCells	cur;

	a->found = LateFindRow(a->w, a->r, &cur);
	if (!a->found)
		return;
	LateMerge(a->w, a->r, &cur);
	LateUpdateRow(a->w, a->r, cur.ctid);
	a->w->late_updates++;
}

/* A dead letter of this batch, kept in the batch context until the bookkeeping phase. */
static void
AddBatchDeadLetter(List **dead, PendingRow *r, const char *payload, int len, const char *error)
{
	DeadLetter *d = palloc(sizeof(DeadLetter));

	d->partition = r->partition;
	d->offset = r->offset;
	d->payload = pnstrdup(payload, len);
	d->len = len;
	d->error = pstrdup(error);
	*dead = lappend(*dead, d);
}

/* Bookkeeping: a dead letter belongs to the stream's id and owner, not to its name. */
static void
InsertDeadLetter(StreamWorker *w, const DeadLetter *d)
{
	Oid			types[8] = {INT4OID, OIDOID, TEXTOID, TEXTOID, INT4OID, INT8OID, BYTEAOID, TEXTOID};
	Datum		args[8];
	bytea	   *b = palloc(VARHDRSZ + d->len);
	int			ret;

	SET_VARSIZE(b, VARHDRSZ + d->len);
	if (d->len > 0)
		memcpy(VARDATA(b), d->payload, d->len);
	args[0] = Int32GetDatum(w->cfg->id);
	args[1] = ObjectIdGetDatum(w->cfg->owner);
	args[2] = CStringGetTextDatum(w->cfg->name);
	args[3] = CStringGetTextDatum(w->cfg->topic);
	args[4] = Int32GetDatum(d->partition);
	args[5] = Int64GetDatum(d->offset);
	args[6] = PointerGetDatum(b);
	args[7] = CStringGetTextDatum(d->error);
	if (GcCatalogHasColumn("gc_dead_letters", "stream_id"))
		ret = RunKept(KEPT_DEAD_LETTER,
					  psprintf("INSERT INTO %s.gc_dead_letters (stream_id, owner, stream, topic, partition, \"offset\", payload, error) "
							   "VALUES ($1, $2::pg_catalog.regrole, $3, $4, $5, $6, $7, $8)", w->cfg->ext_schema),
					  8, types, args, false, 0);
	else
	{
		/* a catalog not yet updated from 0.1: letters by stream name, as 0.1 kept them */
		ret = RunKept(KEPT_DEAD_LETTER_BY_NAME,
					  psprintf("INSERT INTO %s.gc_dead_letters (stream, topic, partition, \"offset\", payload, error) "
							   "VALUES ($1, $2, $3, $4, $5, $6)", w->cfg->ext_schema),
					  6, types + 2, args + 2, false, 0);
	}
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not insert a dead letter: %d", ret);
	w->dead_letters++;
}

/* Record the stream-level error and stop the stream's worker (gc_stream_start clears it). */
void
WriterSetStreamError(StreamWorker *w, const char *msg)
{
	Oid			types[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum		args[3];
	int			nest;

	/* the stream stops as a whole; the error says which of its workers met it */
	if (w->cfg->nworkers > 1)
		msg = psprintf("worker %d: %s", w->cfg->worker, msg);
	ereport(WARNING,
			(errmsg("stream \"%s\" stopped: %s", w->cfg->name, msg),
			 errhint("Fix the cause, then call gc_stream_start('%s').", w->cfg->name)));
	StreamXactBegin(NULL);
	nest = StreamBookkeepingBegin();
	args[0] = Int32GetDatum(w->cfg->id);
	args[1] = CStringGetTextDatum(msg);
	args[2] = CStringGetTextDatum(w->cfg->name);
	SPI_execute_with_args(psprintf("INSERT INTO %s.gc_stream_errors (stream_id, state, last_error) "
								   "SELECT $1, 'error', $2 WHERE EXISTS (SELECT 1 FROM %s.gc_streams "
								   "WHERE id OPERATOR(pg_catalog.=) $1 AND name OPERATOR(pg_catalog.=) $3) "
								   "ON CONFLICT (stream_id) DO UPDATE SET state = 'error', last_error = excluded.last_error, "
								   "at = pg_catalog.now()",
								   w->cfg->ext_schema, w->cfg->ext_schema),
						  3, types, args, NULL, false, 0);
	StreamBookkeepingEnd(nest);
	StreamXactCommit();
	StreamSetError(w, STREAM_ERR_TRANSIENT, "%s", msg);
	w->stop = true;
}

/* Fetch the model of this flush (a copy in the batch context). */
static void
LoadModel(StreamWorker *w)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	int			ret;
	char	   *sql;

	w->have_model = false;
	if (w->cfg->model == NULL || !w->have_impute)
		return;
	/* the row version (xmin, ctid) tells whether the model changed since the last batch */
	sql = psprintf("SELECT xmin::pg_catalog.text OPERATOR(pg_catalog.||) ctid::pg_catalog.text, model "
				   "FROM %s.gc_models WHERE name OPERATOR(pg_catalog.=) $1", w->cfg->ext_schema);
	args[0] = CStringGetTextDatum(w->cfg->model);
	ret = RunKept(KEPT_MODEL, sql, 1, types, args, true, 1);
	if (ret == SPI_OK_SELECT && SPI_processed == 1)
	{
		bool		isnull;
		char	   *version = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		Datum		m = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);

		if (isnull)
			return;
		if (w->model_cxt == NULL || strcmp(version, w->model_version) != 0)
		{
			MemoryContext old;

			if (w->model_cxt == NULL)
				w->model_cxt = AllocSetContextCreate(TopMemoryContext, "gcimpute stream model",
													 ALLOCSET_DEFAULT_SIZES);
			else
				MemoryContextReset(w->model_cxt);
			old = MemoryContextSwitchTo(w->model_cxt);
			/* detoast once, not per row or batch */
			w->model = PointerGetDatum(PG_DETOAST_DATUM_COPY(m));
			w->model_version[0] = '\0';
			imputer = NULL;
			MemoryContextSwitchTo(old);
			BuildImputer(w);
			if (history != NULL)
				RestoreHistory(w);
			strlcpy(w->model_version, version, sizeof(w->model_version));
		}
		w->have_model = true;
	}
	else
		StreamSetError(w, STREAM_ERR_MODEL, "model \"%s\" not found in gc_models: missing values are written as NULL", w->cfg->model);
}

static void
UpdateStatus(StreamWorker *w, List *written)
{
	TimestampTz now = GetCurrentTimestamp();
	int64		now_ms = (int64) ((now / 1000) + ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000));
	ListCell   *lc;
	int			npending = w->pending ? (int) hash_get_num_entries(w->pending) : 0;

	foreach(lc, written)
	{
		PendingRow *r = lfirst(lc);

		if (r->kafka_ts_ms > 0)
			w->lat_hist[GcLatencyBucket((double) (now_ms - r->kafka_ts_ms))] += r->nmsgs;
	}
	if (TimestampDifferenceExceeds(w->last_rate_at, now, 2000))
	{
		double		secs = (now - w->last_rate_at) / 1e6;

		if (w->last_rate_at != 0)
			w->slot->rows_per_s = (w->rows_written - w->last_rate_rows) / secs;
		w->last_rate_at = now;
		w->last_rate_rows = w->rows_written;
		/* forget old latencies slowly: a half-life of about 20 s */
		for (int b = 0; b < GC_LAT_BUCKETS; b++)
			w->lat_hist[b] *= 0.933;
	}
	LWLockAcquire(GcShared->lock, LW_EXCLUSIVE);
	w->slot->messages = w->messages;
	w->slot->rows_written = w->rows_written;
	w->slot->duplicates = w->duplicates;
	w->slot->dead_letters = w->dead_letters;
	w->slot->imputed_cells = w->imputed_cells;
	w->slot->late_updates = w->late_updates;
	w->slot->entity_conflicts = w->entity_conflicts;
	w->slot->pending_rows = npending;
	memcpy(w->slot->lat_hist, w->lat_hist, sizeof(w->lat_hist));
	strlcpy(w->slot->last_error, w->last_error, GC_ERRLEN);
	strlcpy(w->slot->state, w->stop ? "stopping" : "running", sizeof(w->slot->state));
	LWLockRelease(GcShared->lock);
}

/*
 * The batch's COPY data, kept across batches: a batch of 20,000 rows is a few MB, and
 * building it in fresh transaction memory each time costs page faults and regrowth.
 * A buffer grown past 64 MB by an unusual batch is given back.
 */
static StringInfo
CopyBuffer(void)
{
	static StringInfoData b;

	if (b.data != NULL && b.maxlen > 64 * 1024 * 1024)
	{
		pfree(b.data);
		b.data = NULL;
	}
	if (b.data == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(&b);
		MemoryContextSwitchTo(old);
	}
	resetStringInfo(&b);
	return &b;
}

/* ---- the batch: check the stream, write the rows, unroll, store keys and offsets ---- */

typedef enum WritePath
{
	WRITE_DIRECT,				/* insert.c: a plain heap table */
	WRITE_COPY,					/* COPY's machinery: triggers, partitions, typmods */
	WRITE_SQL					/* an INSERT: row-level security applies to the owner */
} WritePath;

typedef struct WriteArg
{
	StreamWorker *w;
	Relation	rel;
	WritePath	path;
	const AttrNumber *attno;
	List	   *rows;
} WriteArg;

typedef struct Batch
{
	List	   *rows;			/* w->ready */
	List	   *written;		/* the rows that reached the target */
	List	   *dead;			/* DeadLetter *: rows the target refused */
	int64		next[GC_STREAM_MAX_PARTS];	/* offsets to store */
} Batch;

/*
 * Rows for a target whose row-level security applies to the owner: an INSERT, so that
 * the policies' WITH CHECK clauses hold (COPY FROM refuses such a table, and the direct
 * path knows nothing of policies).  jsonb_populate_recordset turns the rows into the
 * target's row type through the columns' input functions, as COPY's text format does.
 */
static void
SqlInsertRows(StreamWorker *w, List *rows)
{
	StreamConfig *cfg = w->cfg;
	StringInfo	json = CopyBuffer();
	StringInfoData sql,
				cols;
	ListCell   *lc;
	Datum		arg;
	int			ret;

	appendStringInfoChar(json, '[');
	foreach(lc, rows)
	{
		if (foreach_current_index(lc) > 0)
			appendStringInfoChar(json, ',');
		FormatRow(w, lfirst(lc), json, true);
	}
	appendStringInfoChar(json, ']');
	initStringInfo(&cols);
	for (int c = 0; c < cfg->ncols; c++)
		appendStringInfo(&cols, "%s%s", c ? ", " : "", quote_identifier(cfg->cols[c].name));
	initStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO %s (%s) SELECT %s FROM pg_catalog.jsonb_populate_recordset(NULL::%s, $1)",
					 cfg->target_sql, cols.data, cols.data, cfg->target_sql);
	arg = DirectFunctionCall1(jsonb_in, CStringGetDatum(json->data));
	ret = SPI_execute_with_args(sql.data, 1, (Oid[]) {JSONBOID}, &arg, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not insert into %s: %d", cfg->target_sql, ret);
}

static void
WriteSub(void *arg)
{
	WriteArg   *a = arg;
	StringInfo	buf;
	ListCell   *lc;

	switch (a->path)
	{
		case WRITE_DIRECT:
			DirectInsertRows(a->w, a->rel, a->attno, a->rows);
			break;
		case WRITE_SQL:
			SqlInsertRows(a->w, a->rows);
			break;
		case WRITE_COPY:
			buf = CopyBuffer();
			if (a->w->cfg->binary)
			{
				CopyBinaryHeader(buf);
				foreach(lc, a->rows)
					FormatRowBinary(a->w, lfirst(lc), buf);
				CopyBinaryTrailer(buf);
			}
			else
				foreach(lc, a->rows)
					FormatRow(a->w, lfirst(lc), buf, false);
			RunCopy(a->rel, buf->data, buf->len);
			break;
	}
}

/*
 * The owner's right to INSERT the stream's columns, as the executor checks it for an
 * INSERT that names them: on the table, or on every one of the columns.
 */
static void
CheckTargetInsert(StreamWorker *w)
{
	StreamConfig *cfg = w->cfg;
	Oid			user = GetUserId();

	if (pg_class_aclcheck(cfg->target, user, ACL_INSERT) == ACLCHECK_OK)
		return;
	for (int c = 0; c < cfg->ncols; c++)
	{
		AttrNumber	a = get_attnum(cfg->target, cfg->cols[c].name);

		if (a == InvalidAttrNumber || pg_attribute_aclcheck(cfg->target, a, user, ACL_INSERT) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for table %s", cfg->target_sql),
					 errdetail("The stream's owner %s lost INSERT on column \"%s\" of the target.",
							   GetUserNameFromId(user, false), cfg->cols[c].name)));
	}
}

/*
 * Phase 1 (bookkeeping): is the stream still there, enabled, free of a stream error (one
 * of its other workers may have set one) and with the options this worker loaded?  Then
 * the batch's model.  A stopped stream gets the batch in flight written.  Changed options (a stop, gc_stream_alter and a start in quick
 * succession) end the worker before it writes: the manager starts the workers of the new
 * options, which may divide the partitions differently.
 */
static bool
FlushCheckStream(StreamWorker *w)
{
	StreamConfig *cfg = w->cfg;
	bool		isnull;
	int			ret;

	/* same id, name and target: a dropped and re-created stream is another stream */
	ret = RunKept(KEPT_CHECK,
				  psprintf("SELECT s.enabled, s.options OPERATOR(pg_catalog.=) CAST($4 AS pg_catalog.jsonb) "
						   "AND NOT EXISTS (SELECT 1 FROM %s.gc_stream_errors e WHERE e.stream_id OPERATOR(pg_catalog.=) s.id) "
						   "FROM %s.gc_streams s WHERE s.id OPERATOR(pg_catalog.=) $1 "
						   "AND s.name OPERATOR(pg_catalog.=) $2 AND s.target OPERATOR(pg_catalog.=) $3",
						   cfg->ext_schema, cfg->ext_schema),
				  4, (Oid[]) {INT4OID, TEXTOID, REGCLASSOID, TEXTOID},
				  (Datum[]) {Int32GetDatum(cfg->id), CStringGetTextDatum(cfg->name), ObjectIdGetDatum(cfg->target),
				  CStringGetTextDatum(cfg->options_text)},
				  true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
	{
		w->stop = true;			/* dropped: nothing to keep */
		return false;
	}
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
	{
		w->stop = true;
		return false;			/* write nothing more under the old options */
	}
	/* stopped: this batch is written, then the worker ends */
	if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		w->stop = true;
	LoadModel(w);
	return true;
}

/*
 * Phase 2a (owner's code): the batch's rows to insert, imputed: with late false the new
 * rows, with late true the late rows whose window has no row yet, after the values for
 * windows already written have updated those rows in place.  The new rows are inserted
 * before the late rows are looked up, so a late value for a row of the same batch (a batch
 * retried after a failure holds both) updates that row instead of adding a second one.
 */
/*
 * Late pieces of one window that the poll loop read in different rounds of one batch are
 * separate late rows: merge them first, so that a window the target does not hold yet
 * gets one row, not one per piece.
 */
static void
MergeLatePieces(StreamWorker *w, List *rows)
{
	HASHCTL		ctl;
	HTAB	   *first;
	ListCell   *lc;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(((PendingRow *) NULL)->hkey);
	ctl.entrysize = sizeof(LateFirst);
	ctl.hcxt = CurrentMemoryContext;
	first = hash_create("gcimpute late pieces", 256, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	foreach(lc, rows)
	{
		PendingRow *r = lfirst(lc);
		LateFirst  *e;
		bool		found;

		if (!r->late || r->merged)
			continue;
		e = hash_search(first, r->hkey, HASH_ENTER, &found);
		if (found)
			AssembleMergeRow(e->row, r, w->cfg->nvalues);
		else
			e->row = r;
	}
	hash_destroy(first);
}

static List *
FlushRowsToInsert(StreamWorker *w, Batch *b, bool late)
{
	List	   *insert = NIL;
	ListCell   *lc;

	if (late)
		MergeLatePieces(w, b->rows);

	/* a temporal model imputes a row from the entity's earlier rows: those first */
	if (history != NULL)
	{
		list_sort(b->rows, CmpRowTime);
		/* rows of an earlier pass are in the table now: revise them there */
		gc_stream_history_new_batch(history);
	}
	foreach(lc, b->rows)
	{
		PendingRow *r = lfirst(lc);
		char	   *err;

		if (r->late != late || r->merged)
			continue;
		DirectPrefetchRows(b->rows, foreach_current_index(lc));
		if (r->late)
		{
			LateArg		la = {w, r, false};

			if (!InSubxact(LateSub, &la, &err))
			{
				StringInfoData one;

				initStringInfo(&one);
				FormatRow(w, r, &one, false);
				AddBatchDeadLetter(&b->dead, r, one.data, one.len, err);
				continue;
			}
			if (la.found)
			{
				b->written = lappend(b->written, r);
				continue;
			}
			/* nothing written for that window (e.g. older than the table): insert */
		}
		ImputeRow(w, r, true);
		if (!r->late)
			ReviseAround(w, r);
		insert = lappend(insert, r);
	}
	return insert;
}

/*
 * Phase 2c (owner's code), temporal models: the late rows of the batch, completed or
 * inserted, in time order, and the rows of their entities whose imputation depends on
 * them, imputed again from the target as it now is.
 */
static void
FlushReviseLate(StreamWorker *w, Batch *b)
{
	ListCell   *lc;

	if (history == NULL)
		return;
	foreach(lc, b->rows)
	{
		PendingRow *r = lfirst(lc);

		if (r->late)
			ReviseAround(w, r);
	}
}

/*
 * Phase 2b (owner's code): the rows in one subtransaction; if it fails, unroll: each row
 * in its own, and the rows the target refuses become dead letters.
 */
static void
FlushInsertRows(StreamWorker *w, Relation rel, List *rows, Batch *b)
{
	AttrNumber *attno = palloc(sizeof(AttrNumber) * Max(w->cfg->ncols, 1));
	WriteArg	wa = {w, rel, WRITE_COPY, attno, rows};
	ListCell   *lc;
	char	   *err;

	if (rows == NIL)
		return;
	if (check_enable_rls(w->cfg->target, InvalidOid, false) == RLS_ENABLED)
		wa.path = WRITE_SQL;
	else if (DirectInsertUsable(w->cfg, rel, attno))
		wa.path = WRITE_DIRECT;
	if (InSubxact(WriteSub, &wa, &err))
	{
		w->rows_written += list_length(rows);
		b->written = list_concat(b->written, rows);
		return;
	}
	foreach(lc, rows)
	{
		PendingRow *r = lfirst(lc);

		wa.rows = list_make1(r);
		if (InSubxact(WriteSub, &wa, &err))
		{
			w->rows_written++;
			b->written = lappend(b->written, r);
		}
		else if (r->payload)
			AddBatchDeadLetter(&b->dead, r, r->payload, r->payload_len, err);
		else
		{
			/* an assembled row: its text form */
			StringInfoData one;

			initStringInfo(&one);
			FormatRow(w, r, &one, false);
			AddBatchDeadLetter(&b->dead, r, one.data, one.len, err);
		}
	}
}

/* Phase 3a (bookkeeping): the dedup keys of the batch's messages, one row per batch. */
static void
FlushStoreKeys(StreamWorker *w, Batch *b)
{
	ListCell   *lc;
	Datum	   *kd;
	int			nkeys = 0,
				i = 0;
	Datum		ka[2];

	foreach(lc, b->rows)
	{
		PendingRow *r = lfirst(lc);

		nkeys += list_length(r->keys) + (r->key1 != NULL);
	}
	if (nkeys == 0)
		return;
	kd = palloc(sizeof(Datum) * nkeys);
	foreach(lc, b->rows)
	{
		PendingRow *r = lfirst(lc);
		ListCell   *kc;

		if (r->key1)
			kd[i++] = PointerGetDatum(cstring_to_text_with_len(r->key1, r->key1_len));
		foreach(kc, r->keys)
			kd[i++] = CStringGetTextDatum(lfirst(kc));
	}
	ka[0] = Int32GetDatum(w->cfg->id);
	ka[1] = PointerGetDatum(construct_array(kd, i, TEXTOID, -1, false, TYPALIGN_INT));
	if (RunKept(KEPT_KEYS, psprintf("INSERT INTO %s.gc_stream_dedup (stream_id, keys) VALUES ($1, $2)", w->cfg->ext_schema),
				2, (Oid[]) {INT4OID, TEXTARRAYOID}, ka, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store dedup keys");
}

/* An int8[] of n values, for the arguments of FlushStoreOffsets. */
static Datum
Int8Array(const int64 *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * (n + 1));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * Phase 3b (bookkeeping): the new offsets of the partitions that moved, their message
 * counts and the stream's closed-window event time, in the batch's transaction (so the
 * rows, the positions and the counts commit or roll back together; a restart resumes
 * all three).  A catalog not yet updated from 0.1 has no counter columns.
 */
static void
FlushStoreOffsets(StreamWorker *w, Batch *b)
{
	Datum	   *pd = palloc(sizeof(Datum) * (w->nparts + 1));
	int64	   *od = palloc(sizeof(int64) * (w->nparts + 1));
	int64	   *sd = palloc(sizeof(int64) * (w->nparts + 1));
	int64	   *md = palloc(sizeof(int64) * (w->nparts + 1));
	int64	   *dd = palloc(sizeof(int64) * (w->nparts + 1));
	Datum		args[7];
	char		nulls[8] = "       ";
	int			n = 0;
	int			ret;

	/*
	 * Every partition whose stored closed_until is behind gets it too: the worker that
	 * reads a partition next (after a restart, or another worker after the "workers"
	 * option changed) takes its event time from its partitions' rows, and must not
	 * reopen a window this worker closed.
	 */
	for (int i = 0; i < w->nparts; i++)
		if (b->next[i] >= 0 && (b->next[i] != w->committed[i] || w->pos[i] > w->seen[i] ||
								w->eff_high > w->pclosed[i]))
		{
			pd[n] = Int32GetDatum(w->parts[i]);
			od[n] = b->next[i];
			sd[n] = Max(w->pos[i], w->seen[i]);
			md[n] = w->pmessages[i];
			dd[n] = w->pduplicates[i];
			n++;
		}
	if (n == 0)
		return;
	args[0] = Int32GetDatum(w->cfg->id);
	args[1] = PointerGetDatum(construct_array(pd, n, INT4OID, 4, true, TYPALIGN_INT));
	args[2] = Int8Array(od, n);
	args[3] = Int8Array(sd, n);
	args[4] = Int8Array(md, n);
	args[5] = Int8Array(dd, n);
	/* the windows closed so far: a restart classifies late values as before it */
	args[6] = Int64GetDatum(w->eff_high);
	if (w->eff_high == PG_INT64_MIN)
		nulls[6] = 'n';
	if (GcCatalogHasColumn("gc_stream_offsets", "messages"))
		ret = RunKeptNulls(KEPT_OFFSETS_COUNTS,
						   psprintf("INSERT INTO %s.gc_stream_offsets AS o "
									"(stream_id, partition, next_offset, seen_offset, messages, duplicates, closed_until) "
									"SELECT $1, p, n, s, m, d, $7 FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.int4[]), "
									"pg_catalog.unnest($3::pg_catalog.int8[]), pg_catalog.unnest($4::pg_catalog.int8[]), "
									"pg_catalog.unnest($5::pg_catalog.int8[]), pg_catalog.unnest($6::pg_catalog.int8[])) AS u(p, n, s, m, d) "
									"ON CONFLICT (stream_id, partition) DO UPDATE "
									"SET next_offset = excluded.next_offset, seen_offset = excluded.seen_offset, "
									"messages = excluded.messages, duplicates = excluded.duplicates, "
									"closed_until = excluded.closed_until, updated_at = pg_catalog.now()",
									w->cfg->ext_schema),
						   7, (Oid[]) {INT4OID, INT4ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID, INT8OID},
						   args, nulls);
	else
		ret = RunKept(KEPT_OFFSETS, psprintf("INSERT INTO %s.gc_stream_offsets AS o (stream_id, partition, next_offset, seen_offset) "
											 "SELECT $1, p, n, s FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.int4[]), "
											 "pg_catalog.unnest($3::pg_catalog.int8[]), pg_catalog.unnest($4::pg_catalog.int8[])) AS u(p, n, s) "
											 "ON CONFLICT (stream_id, partition) DO UPDATE "
											 "SET next_offset = excluded.next_offset, seen_offset = excluded.seen_offset, "
											 "updated_at = pg_catalog.now()",
											 w->cfg->ext_schema),
					  4, (Oid[]) {INT4OID, INT4ARRAYOID, INT8ARRAYOID, INT8ARRAYOID}, args, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not store offsets");
}

/* After the commit: the batch is done, its rows freed, its offsets the committed ones. */
static void
FlushDone(StreamWorker *w, Batch *b)
{
	ListCell   *lc;

	w->failures = 0;
	for (int i = 0; i < w->nparts; i++)
		if (b->next[i] >= 0)
		{
			w->committed[i] = b->next[i];
			w->seen[i] = Max(w->seen[i], w->pos[i]);
			w->pclosed[i] = Max(w->pclosed[i], w->eff_high);
		}
	UpdateStatus(w, w->ready);
	foreach(lc, w->ready)
		AssembleFreeRow(lfirst(lc));
	list_free(w->ready);
	w->ready = NIL;
	w->dead = NIL;
	MemoryContextReset(w->batch_cxt);
	if (w->last_error_kind == STREAM_ERR_TRANSIENT)
		StreamSetError(w, STREAM_ERR_NONE, "%s", "");
}

/*
 * WriterFlush: write everything ready in one transaction: the rows (the owner's code
 * runs, security-restricted), then the bookkeeping (search_path pinned).  Returns false
 * if the transaction failed (everything stays queued and is retried).
 */
bool
WriterFlush(StreamWorker *w)
{
	StreamConfig *cfg = w->cfg;
	Batch		b = {w->ready, NIL, NIL};
	volatile bool target_error = false;
	volatile bool ok = true;
	MemoryContext outer = CurrentMemoryContext;

	AssembleCommitOffsets(w, b.next);
	StreamXactBegin("gcimpute: writing a batch");
	if (GcExtensionSchema() == NULL)
	{
		/* DROP EXTENSION: nothing left to write to */
		w->stop = true;
		StreamXactCommit();
		return false;
	}
	PG_TRY();
	{
		int			nest;
		bool		exists;

		/* wait for a change of the stream in progress, then see it (xact.c) */
		StreamLockBatches(cfg->id, ShareLock);
		PopActiveSnapshot();
		PushActiveSnapshot(GetTransactionSnapshot());
		nest = StreamBookkeepingBegin();
		exists = FlushCheckStream(w);

		StreamBookkeepingEnd(nest);
		if (!exists)
			ok = false;
		else
		{
			StreamOwnerCode oc;
			Relation	rel;
			List	   *insert;
			ListCell   *lc;

			StreamOwnerCodeBegin(&oc);
			target_error = true;
			rel = try_table_open(cfg->target, RowExclusiveLock);
			if (rel == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_TABLE),
						 errmsg("target table of stream \"%s\" (oid %u) no longer exists", cfg->name, cfg->target)));
			CheckTargetInsert(w);
			target_error = false;
			insert = FlushRowsToInsert(w, &b, false);
			FlushInsertRows(w, rel, insert, &b);
			insert = FlushRowsToInsert(w, &b, true);
			FlushInsertRows(w, rel, insert, &b);
			FlushReviseLate(w, &b);
			table_close(rel, NoLock);
			StreamOwnerCodeEnd(&oc);

			nest = StreamBookkeepingBegin();
			foreach(lc, w->dead)
				InsertDeadLetter(w, lfirst(lc));
			foreach(lc, b.dead)
				InsertDeadLetter(w, lfirst(lc));
			FlushStoreKeys(w, &b);
			FlushStoreOffsets(w, &b);
			StreamBookkeepingEnd(nest);
		}
		StreamXactCommit();
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(outer);
		ed = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();	/* also restores the user and the GUCs */
		ok = false;
		w->failures++;
		StreamSetError(w, STREAM_ERR_TRANSIENT, "%s", ed->message);
		if (target_error || w->failures >= 5)
			WriterSetStreamError(w, ed->message);
		else
			ereport(LOG, (errmsg("stream \"%s\": batch failed, will retry: %s", cfg->name, ed->message)));
		FreeErrorData(ed);
	}
	PG_END_TRY();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	if (ok)
		FlushDone(w, &b);
	w->last_flush = GetCurrentTimestamp();
	return ok;
}

/*
 * The value cells as received, comma-separated: the raw column, or the cells not flagged
 * imputed, or the value columns as they are.
 */
static void
AppendReceivedValues(StreamConfig *cfg, StringInfo sql)
{
	int			v = 0;

	for (int c = 0; c < cfg->ncols; c++)
	{
		StreamColumn *col = &cfg->cols[c];

		if (col->role != ROLE_VALUE)
			continue;
		if (v++)
			appendStringInfoString(sql, ", ");
		if (cfg->c_raw >= 0)
			appendStringInfo(sql, "%s[%d]", quote_identifier(cfg->cols[cfg->c_raw].name), col->value + 1);
		else if (cfg->c_imputed >= 0)
			appendStringInfo(sql, "CASE WHEN %s[%d] THEN NULL ELSE %s::pg_catalog.float8 END",
							 quote_identifier(cfg->cols[cfg->c_imputed].name), col->value + 1,
							 quote_identifier(col->name));
		else
			appendStringInfo(sql, "%s::pg_catalog.float8", quote_identifier(col->name));
	}
}

/*
 * The stream's time column as gc_fit_series takes it: timestamptz, or seconds as float8
 * (AppendTime writes float8 columns in seconds and bigint ones in milliseconds).
 */
static char *
TemporalTimeExpr(StreamConfig *cfg)
{
	StreamColumn *tc = &cfg->cols[cfg->c_time];
	const char *name = quote_identifier(tc->name);

	if (tc->type == FLOAT8OID)
		return pstrdup(name);
	if (tc->type == INT8OID)
		return psprintf("(%s::pg_catalog.float8 OPERATOR(pg_catalog./) 1000)", name);
	return psprintf("%s::pg_catalog.timestamptz", name);
}

/* The stream's time column in microseconds since the Unix epoch, as the writer wrote it. */
static char *
TimeUsExpr(StreamConfig *cfg)
{
	StreamColumn *tc = &cfg->cols[cfg->c_time];
	const char *name = quote_identifier(tc->name);

	if (tc->type == FLOAT8OID)
		return psprintf("pg_catalog.round(%s OPERATOR(pg_catalog.*) 1000000)::pg_catalog.int8", name);
	if (tc->type == INT8OID)
		return psprintf("(%s OPERATOR(pg_catalog.*) 1000)", name);
	return psprintf("(pg_catalog.extract('epoch', %s::pg_catalog.timestamptz) OPERATOR(pg_catalog.*) 1000000)::pg_catalog.int8",
					name);
}

/*
 * Whether the target has a valid, non-partial btree index whose first two keys are the
 * entity and time columns: then each entity's latest rows are a short backward index scan
 * and the refill can skip from one entity to the next instead of reading the table.
 */
static bool
HistoryIndexed(StreamConfig *cfg)
{
	AttrNumber	ae = get_attnum(cfg->target, cfg->cols[cfg->c_entity].name),
				at = get_attnum(cfg->target, cfg->cols[cfg->c_time].name);
	Relation	rel = table_open(cfg->target, AccessShareLock);
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index ix = idx->rd_index;

		found = idx->rd_rel->relam == BTREE_AM_OID && ix->indisvalid && ix->indnkeyatts >= 2 &&
			ix->indkey.values[0] == ae && ix->indkey.values[1] == at &&
			heap_attisnull(idx->rd_indextuple, Anum_pg_index_indpred, NULL);
		index_close(idx, AccessShareLock);
		if (found)
			break;
	}
	list_free(indexes);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * The query of each entity's latest `depth` rows (entity as text, time in microseconds, the
 * cells as received), oldest first.  With an index on (entity, time) a recursive skip scan
 * visits each entity once and reads only its last rows; without one, one pass numbers the
 * rows of each entity (the whole table is read, see docs/temporal.md).
 */
static bool
HistoryQuery(StreamConfig *cfg, int depth, StringInfo sql)
{
	bool		indexed = HistoryIndexed(cfg);

	const char *ent = quote_identifier(cfg->cols[cfg->c_entity].name);
	const char *tcol = quote_identifier(cfg->cols[cfg->c_time].name);
	StringInfoData cells;

	initStringInfo(&cells);
	appendStringInfo(&cells, "%s::pg_catalog.text AS e, %s AS t, ARRAY[", ent, TimeUsExpr(cfg));
	AppendReceivedValues(cfg, &cells);
	appendStringInfoString(&cells, "]::pg_catalog.float8[] AS v");
	if (indexed)
		appendStringInfo(sql,
						 "WITH RECURSIVE ents(x) AS ("
						 "(SELECT %s FROM %s WHERE %s IS NOT NULL ORDER BY 1 LIMIT 1) UNION ALL "
						 "SELECT (SELECT %s FROM %s WHERE %s OPERATOR(pg_catalog.>) ents.x ORDER BY 1 LIMIT 1) "
						 "FROM ents WHERE ents.x IS NOT NULL) "
						 "SELECT s.e, s.t, s.v FROM ents, LATERAL (SELECT %s FROM %s "
						 "WHERE %s OPERATOR(pg_catalog.=) ents.x ORDER BY %s DESC LIMIT %d) s ORDER BY 2",
						 ent, cfg->target_sql, ent, ent, cfg->target_sql, ent,
						 cells.data, cfg->target_sql, ent, tcol, depth);
	else
		appendStringInfo(sql,
						 "SELECT e, t, v FROM (SELECT %s, pg_catalog.row_number() OVER (PARTITION BY %s ORDER BY %s DESC) AS k "
						 "FROM %s) s WHERE k OPERATOR(pg_catalog.<=) %d ORDER BY 2",
						 cells.data, ent, tcol, cfg->target_sql, depth);
	pfree(cells.data);
	return indexed;
}

/*
 * Refill a temporal model's history from the target (after a start or a model change):
 * each entity's latest rows, their cells as received, in time order.
 */
static void
RestoreHistory(StreamWorker *w)
{
	StreamConfig *cfg = w->cfg;
	StringInfoData sql;
	double	   *vals = palloc(sizeof(double) * Max(cfg->nvalues, 1));
	bool		indexed;

	initStringInfo(&sql);
	indexed = HistoryQuery(cfg, gc_stream_history_depth(history), &sql);
	if (SPI_execute(sql.data, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the history of stream \"%s\"", cfg->name);
	ereport(LOG,
			(errmsg("stream \"%s\": temporal history refilled with %lu rows, %s", cfg->name,
					(unsigned long) SPI_processed,
					indexed ? "by an index on the entity and time columns" : "by reading the whole target"),
			 indexed ? 0 : errhint("Create an index on the target's (entity, time) columns to read only each entity's last rows.")));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		n0,
					n1,
					n2;
		Datum		e = SPI_getbinval(tup, desc, 1, &n0),
					t = SPI_getbinval(tup, desc, 2, &n1),
					v = SPI_getbinval(tup, desc, 3, &n2);

		if (n0 || n1 || n2)
			continue;
		gc_row_values(DatumGetArrayTypeP(v), vals, cfg->nvalues, "gcimpute stream", -1);
		gc_stream_history_record(history, TextDatumGetCString(e), DatumGetInt64(t), vals);
	}
	pfree(vals);
}

/*
 * The refit of the stream's model on the latest model_window rows of the target, from the
 * values that were received; a temporal model with its lags and step from $1 (jsonb).
 */
static char *
RefitSql(StreamConfig *cfg, bool temporal)
{
	StringInfoData sql;

	initStringInfo(&sql);
	if (temporal)
		appendStringInfo(&sql, "SELECT %s.gc_fit_series(%s::pg_catalog.text, %s, ARRAY[", cfg->ext_schema,
						 quote_identifier(cfg->cols[cfg->c_entity].name),
						 TemporalTimeExpr(cfg));
	else
		appendStringInfo(&sql, "SELECT %s.gc_fit(ARRAY[", cfg->ext_schema);
	AppendReceivedValues(cfg, &sql);
	if (temporal)
		appendStringInfo(&sql, "], $1 ORDER BY %s)", TemporalTimeExpr(cfg));
	else
		appendStringInfoString(&sql, "])");
	appendStringInfo(&sql, " FROM (SELECT * FROM %s", cfg->target_sql);
	if (cfg->c_time >= 0)
		appendStringInfo(&sql, " ORDER BY %s DESC", quote_identifier(cfg->cols[cfg->c_time].name));
	appendStringInfo(&sql, " LIMIT %d) t", cfg->model_window);
	return sql.data;
}

/* Run the refit as the owner's code; the model, or isnull when there is none. */
static Datum
Refit(StreamWorker *w, bool *isnull, Oid *mtype)
{
	StreamConfig *cfg = w->cfg;

	/* a temporal model is refitted as one, with its lags and step, on the rows in time order */
	bool		temporal = history != NULL && cfg->c_entity >= 0 && cfg->c_time >= 0;
	KeptPlan	id = temporal ? KEPT_REFIT_SERIES : KEPT_REFIT;
	char	   *sql = KeptPlanReady(id) ? NULL : RefitSql(cfg, temporal);
	Oid			types[1] = {JSONBOID};
	Datum		args[1] = {(Datum) 0};
	StreamOwnerCode oc;
	Datum		m = (Datum) 0;
	int			ret;

	if (temporal)
		args[0] = DirectFunctionCall1(jsonb_in,
									  CStringGetDatum(psprintf("{\"lags\": %d, \"step\": %.17g}",
															   imputer_model->lags, imputer_model->step)));
	*isnull = true;
	*mtype = InvalidOid;
	StreamOwnerCodeBegin(&oc);
	ret = RunKept(id, sql, temporal ? 1 : 0, types, args, true, 1);
	if (ret == SPI_OK_SELECT && SPI_processed == 1)
	{
		m = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
		*mtype = SPI_gettypeid(SPI_tuptable->tupdesc, 1);
	}
	StreamOwnerCodeEnd(&oc);
	return m;
}

/* Store the refitted model m (of type mtype) under the stream's model name, as bookkeeping. */
static void
StoreModel(StreamWorker *w, Datum m, Oid mtype)
{
	StreamConfig *cfg = w->cfg;
	int			nest = StreamBookkeepingBegin();
	Oid			types[2] = {TEXTOID, mtype};
	Datum		args[2] = {CStringGetTextDatum(cfg->model), m};
	int			ret;

	ret = RunKept(KEPT_STORE_MODEL,
				  KeptPlanReady(KEPT_STORE_MODEL) ? NULL :
				  psprintf("INSERT INTO %s.gc_models (name, model) VALUES ($1, $2) "
						   "ON CONFLICT (name) DO UPDATE SET model = excluded.model, "
						   "updated_at = pg_catalog.now()", cfg->ext_schema),
				  2, types, args, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not store the refreshed model: %d", ret);
	StreamBookkeepingEnd(nest);
}

/*
 * WriterRefreshModel: refit the stream's model on the latest model_window rows of the
 * target, using only the values that were received (raw column, or cells not flagged
 * imputed), and store it in gc_models.  The target is read as the owner's code (its
 * policies apply); the model is stored as bookkeeping, and row-level security on
 * gc_models lets the owner replace only a model it owns.
 */
void
WriterRefreshModel(StreamWorker *w)
{
	StreamConfig *cfg = w->cfg;
	MemoryContext outer = CurrentMemoryContext;

	StreamXactBegin("gcimpute: refreshing the model");
	PG_TRY();
	{
		bool		isnull;
		Oid			mtype;
		Datum		m = Refit(w, &isnull, &mtype);

		if (!isnull)
		{
			StoreModel(w, m, mtype);
			ereport(LOG, (errmsg("stream \"%s\": model \"%s\" refitted on the latest %d rows of %s",
								 cfg->name, cfg->model, cfg->model_window, cfg->target_sql)));
		}
		StreamXactCommit();
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(outer);
		ed = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		StreamSetError(w, STREAM_ERR_MODEL, "model refresh failed: %s", ed->message);
		ereport(LOG, (errmsg("stream \"%s\": %s", cfg->name, w->last_error)));
		FreeErrorData(ed);
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	w->last_model_refresh = GetCurrentTimestamp();
}
