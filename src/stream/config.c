/*
 * config.c — a stream worker's configuration: its row of gc_streams, its options
 * validated again against the target table as it is now (gc_stream_plan), and its
 * librdkafka settings checked again with the owner's rights of today.
 *
 * Everything is read as the stream's owner (the worker's user) with schema-qualified
 * SQL, except the kafka_conf column, which no ordinary role may read: it is taken from
 * the heap tuple directly, with no SQL and no function of anyone's.  The options are
 * parsed in C from the jsonb that gc_stream_plan returns, one table entry per option.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"

#include "stream/stream.h"

static void *
CfgAlloc(Size size)
{
	return MemoryContextAllocZero(TopMemoryContext, size);
}

static char *
CfgStrdup(const char *s)
{
	return s ? MemoryContextStrdup(TopMemoryContext, s) : NULL;
}

/* A jsonb value as ->> gives it: strings as they are, other scalars as text, null as NULL. */
static char *
ScalarText(JsonbValue *v)
{
	if (v == NULL)
		return NULL;
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		case jbvNull:
			return NULL;
		default:
			elog(ERROR, "stream option is not a scalar");
	}
	return NULL;
}

static JsonbValue *
Key(JsonbContainer *c, const char *key)
{
	return getKeyJsonValueFromContainer(c, key, strlen(key), NULL);
}

static char *
KeyText(JsonbContainer *c, const char *key)
{
	return ScalarText(Key(c, key));
}

/* The elements of a json array member (object or scalar values), in order. */
static List *
KeyArray(JsonbContainer *c, const char *key)
{
	JsonbValue *v = Key(c, key);
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	List	   *out = NIL;

	if (v == NULL || v->type != jbvBinary)
		return NIL;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		if (tok == WJB_ELEM)
		{
			JsonbValue *copy = palloc(sizeof(JsonbValue));

			*copy = e;
			out = lappend(out, copy);
		}
	return out;
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
	cfg->fields[cfg->nfields] = CfgStrdup(name);
	return cfg->nfields++;
}

/* ---- the options, one entry each ---- */

static void
SetFormat(StreamConfig *cfg, const char *v)
{
	cfg->csv = strcmp(v, "csv") == 0;
}

static void
SetDelimiter(StreamConfig *cfg, const char *v)
{
	cfg->delim = v[0];
}

static void
SetTimeUnit(StreamConfig *cfg, const char *v)
{
	cfg->time_unit = strcmp(v, "ms") == 0 ? 1e-3 : strcmp(v, "us") == 0 ? 1e-6 : 1.0;
}

static void
SetWindow(StreamConfig *cfg, const char *v)
{
	cfg->window = strcmp(v, "auto") == 0 ? 0 : strtod(v, NULL);
}

static void
SetLateness(StreamConfig *cfg, const char *v)
{
	cfg->lateness_auto = strcmp(v, "auto") == 0;
	cfg->lateness = cfg->lateness_auto ? 1.0 : strtod(v, NULL);
}

static void
SetDedup(StreamConfig *cfg, const char *v)
{
	cfg->dedup = strcmp(v, "true") == 0;
}

static void
SetStart(StreamConfig *cfg, const char *v)
{
	cfg->start = strcmp(v, "earliest") == 0 ? -2 : strcmp(v, "latest") == 0 ? -1 : strtoll(v, NULL, 10);
}

static void
SetRowTime(StreamConfig *cfg, const char *v)
{
	cfg->row_time_window = strcmp(v, "window") == 0;
}

typedef enum OptKind
{
	OPT_DOUBLE,
	OPT_INT,
	OPT_STRING,					/* char *, NULL when the option is null */
	OPT_SETTER
} OptKind;

typedef struct OptionSpec
{
	const char *key;
	OptKind		kind;
	size_t		offset;			/* in StreamConfig, for the plain kinds */
	void		(*set) (StreamConfig *cfg, const char *v);
} OptionSpec;

#define OPT(key, kind, field) {key, kind, offsetof(StreamConfig, field), NULL}
#define OPT_FN(key, fn) {key, OPT_SETTER, 0, fn}

/* gc_stream_plan fills in every default, so each key is present */
static const OptionSpec option_specs[] = {
	OPT_FN("format", SetFormat),
	OPT_FN("csv_delimiter", SetDelimiter),
	OPT_FN("time_unit", SetTimeUnit),
	OPT_FN("window", SetWindow),
	OPT_FN("lateness", SetLateness),
	OPT_FN("dedup", SetDedup),
	OPT_FN("start", SetStart),
	OPT_FN("row_time", SetRowTime),
	OPT("dedup_retention", OPT_DOUBLE, dedup_retention),
	OPT("flush_interval", OPT_DOUBLE, flush_interval),
	OPT("model_refresh", OPT_DOUBLE, model_refresh),
	OPT("batch_size", OPT_INT, batch_size),
	OPT("max_message_bytes", OPT_INT, max_message_bytes),
	OPT("model_window", OPT_INT, model_window),
	OPT("model", OPT_STRING, model),
};

static void
ParseOptions(StreamConfig *cfg, JsonbContainer *o)
{
	for (int i = 0; i < lengthof(option_specs); i++)
	{
		const OptionSpec *spec = &option_specs[i];
		char	   *v = KeyText(o, spec->key);
		char	   *field = (char *) cfg + spec->offset;

		if (v == NULL && spec->kind != OPT_STRING)
			elog(ERROR, "stream option \"%s\" missing from the plan", spec->key);
		switch (spec->kind)
		{
			case OPT_DOUBLE:
				*(double *) field = strtod(v, NULL);
				break;
			case OPT_INT:
				*(int *) field = atoi(v);
				break;
			case OPT_STRING:
				*(char **) field = CfgStrdup(v);
				break;
			case OPT_SETTER:
				spec->set(cfg, v);
				break;
		}
	}
	cfg->assemble = KeyText(o, "entity_column") != NULL;
	/* optional: a plan made by a 0.1 catalog does not have it */
	{
		char	   *refine = KeyText(o, "refine_previous");

		cfg->refine_previous = refine != NULL && strcmp(refine, "true") == 0;
	}
}

/* "workers": absent from the plan of a catalog older than the option, which runs one */
static void
ParseWorkers(StreamConfig *cfg, JsonbContainer *o)
{
	char	   *v = KeyText(o, "workers");

	cfg->nworkers = v ? atoi(v) : 1;
}

/* "partitions": null, a sorted list of partitions, or {"modulus": m, "remainder": r} */
static void
ParsePartitions(StreamConfig *cfg, JsonbContainer *o)
{
	JsonbValue *v = Key(o, "partitions");
	List	   *list;
	ListCell   *lc;

	if (v == NULL || v->type != jbvBinary)
		return;
	if (JsonContainerIsObject(v->val.binary.data))
	{
		cfg->share_modulus = atoi(KeyText(v->val.binary.data, "modulus"));
		cfg->share_remainder = atoi(KeyText(v->val.binary.data, "remainder"));
		return;
	}
	list = KeyArray(o, "partitions");
	cfg->share = CfgAlloc(sizeof(int32) * Max(list_length(list), 1));
	foreach(lc, list)
		cfg->share[cfg->nshare++] = atoi(ScalarText(lfirst(lc)));
}

static const struct
{
	const char *name;
	ColRole		role;
}			role_names[] = {
	{"value", ROLE_VALUE}, {"text", ROLE_TEXT}, {"entity", ROLE_ENTITY}, {"time", ROLE_TIME},
	{"key", ROLE_KEY}, {"partition", ROLE_PARTITION}, {"offset", ROLE_OFFSET},
	{"timestamp", ROLE_TIMESTAMP}, {"imputed", ROLE_IMPUTED}, {"raw", ROLE_RAW},
};

/* The column plan, in table order (gc_stream_plan lists it by attnum). */
static void
ParsePlan(StreamConfig *cfg, JsonbContainer *o)
{
	List	   *plan = KeyArray(o, "plan");
	char	   *pub = KeyText(o, "publisher_id_field"),
			   *dat = KeyText(o, "data_id_field");
	ListCell   *lc;

	cfg->fields = CfgAlloc(sizeof(char *));
	cfg->ncols = list_length(plan);
	cfg->cols = CfgAlloc(sizeof(StreamColumn) * Max(cfg->ncols, 1));
	cfg->c_entity = cfg->c_time = cfg->c_imputed = cfg->c_raw = -1;
	cfg->f_entity = cfg->f_time = -1;
	/* columns first, so that plan fields get the low indexes */
	foreach(lc, plan)
	{
		int			c = foreach_current_index(lc);
		JsonbContainer *p = ((JsonbValue *) lfirst(lc))->val.binary.data;
		StreamColumn *col = &cfg->cols[c];
		char	   *role = KeyText(p, "role");
		int			r;

		col->name = CfgStrdup(KeyText(p, "column"));
		col->type = DatumGetObjectId(DirectFunctionCall1(regtypein, CStringGetDatum(KeyText(p, "type"))));
		col->field = AddField(cfg, KeyText(p, "field"));
		col->value = -1;
		col->integral = (col->type == INT2OID || col->type == INT4OID || col->type == INT8OID);
		for (r = 0; r < lengthof(role_names); r++)
			if (strcmp(role, role_names[r].name) == 0)
				break;
		if (r == lengthof(role_names))
			elog(ERROR, "unknown column role \"%s\" in the plan of stream \"%s\"", role, cfg->name);
		col->role = role_names[r].role;
		switch (col->role)
		{
			case ROLE_VALUE:
				col->value = cfg->nvalues++;
				break;
			case ROLE_ENTITY:
				cfg->c_entity = c;
				cfg->f_entity = col->field;
				break;
			case ROLE_TIME:
				cfg->c_time = c;
				cfg->f_time = col->field;
				break;
			case ROLE_IMPUTED:
				cfg->c_imputed = c;
				break;
			case ROLE_RAW:
				cfg->c_raw = c;
				break;
			default:
				break;
		}
	}
	cfg->f_publisher = AddField(cfg, pub);
	cfg->f_data = AddField(cfg, dat);
}

static void
ParseCsvFields(StreamConfig *cfg, JsonbContainer *o)
{
	List	   *fields = KeyArray(o, "csv_fields");
	ListCell   *lc;

	cfg->ncsv = list_length(fields);
	cfg->csv_field = CfgAlloc(sizeof(int) * Max(cfg->ncsv, 1));
	foreach(lc, fields)
	{
		char	   *f = ScalarText(lfirst(lc));
		int			i = foreach_current_index(lc);

		cfg->csv_field[i] = -1;
		for (int k = 0; k < cfg->nfields; k++)
			if (strcmp(cfg->fields[k], f) == 0)
				cfg->csv_field[i] = k;
	}
}

/* Rows go to COPY in binary when every column type allows it (no float text round trip). */
static bool
BinaryUsable(StreamConfig *cfg)
{
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
		if (!okb)
			return false;
	}
	return true;
}

/*
 * The librdkafka settings of the stream, read from the heap tuple: no ordinary role may
 * read the column (it holds passwords), and reading it this way runs nobody's code.
 */
static List *
ReadKafkaConf(int32 stream_id)
{
	Oid			relid = get_relname_relid("gc_streams", GcExtensionNamespace());
	Relation	rel;
	ScanKeyData key;
	TableScanDesc scan;
	HeapTuple	tup;
	List	   *conf = NIL;

	if (!OidIsValid(relid))
		elog(ERROR, "gcimpute catalog table gc_streams not found");
	rel = table_open(relid, AccessShareLock);
	ScanKeyInit(&key, get_attnum(relid, "id"), BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(stream_id));
	scan = table_beginscan(rel, GetActiveSnapshot(), 1, &key);
	tup = heap_getnext(scan, ForwardScanDirection);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, get_attnum(relid, "kafka_conf"), RelationGetDescr(rel), &isnull);

		if (!isnull)
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			conf = StreamKafkaConfList(DatumGetJsonbPCopy(d));
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return conf;
}

/*
 * StreamLoadConfig: read the stream's row and re-validate its options against the target
 * table as it is now.  Runs inside a transaction with SPI connected, as the stream's
 * owner.  Errors propagate; a stream that is gone sets w->stop.
 */
void
StreamLoadConfig(StreamWorker *w, int32 stream_id)
{
	StreamConfig *cfg = CfgAlloc(sizeof(StreamConfig));
	const char *qnsp = GcExtensionSchema();
	Datum		a1[1] = {Int32GetDatum(stream_id)};
	HeapTuple	tup;
	TupleDesc	td;
	bool		isnull;
	Jsonb	   *plan;
	int			ret;

	cfg->id = stream_id;
	cfg->ext_schema = CfgStrdup(qnsp);
	w->cfg = cfg;
	ret = SPI_execute_with_args(psprintf("SELECT s.name, s.owner::pg_catalog.oid, s.brokers, s.topic, s.target::pg_catalog.oid, "
										 "%s.gc_stream_plan(s.target, s.options), s.options::pg_catalog.text "
										 "FROM %s.gc_streams s WHERE s.id OPERATOR(pg_catalog.=) $1", qnsp, qnsp),
								1, (Oid[]) {INT4OID}, a1, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
	{
		w->stop = true;
		cfg->name = "?";
		return;
	}
	tup = SPI_tuptable->vals[0];
	td = SPI_tuptable->tupdesc;
	cfg->name = CfgStrdup(SPI_getvalue(tup, td, 1));
	cfg->owner = DatumGetObjectId(SPI_getbinval(tup, td, 2, &isnull));
	cfg->brokers = CfgStrdup(SPI_getvalue(tup, td, 3));
	cfg->topic = CfgStrdup(SPI_getvalue(tup, td, 4));
	cfg->target = DatumGetObjectId(SPI_getbinval(tup, td, 5, &isnull));
	cfg->options_text = CfgStrdup(SPI_getvalue(tup, td, 7));
	if (get_rel_name(cfg->target) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("target table of stream \"%s\" (oid %u) no longer exists", cfg->name, cfg->target)));
	cfg->target_sql = CfgStrdup(quote_qualified_identifier(get_namespace_name(get_rel_namespace(cfg->target)),
														   get_rel_name(cfg->target)));
	plan = DatumGetJsonbP(SPI_getbinval(tup, td, 6, &isnull));
	if (isnull)
		elog(ERROR, "could not plan stream %d", stream_id);

	ParseOptions(cfg, &plan->root);
	ParsePartitions(cfg, &plan->root);
	ParseWorkers(cfg, &plan->root);
	ParsePlan(cfg, &plan->root);
	ParseCsvFields(cfg, &plan->root);
	cfg->binary = BinaryUsable(cfg);

	cfg->kafka_conf = ReadKafkaConf(stream_id);
	/* a restored dump or an older row may hold anything: check with today's rights */
	StreamCheckKafkaConf(cfg->kafka_conf, superuser_arg(cfg->owner));

	/* imputation through the SQL-level function, looked up once */
	if (cfg->model)
	{
		Oid			fn = DatumGetObjectId(DirectFunctionCall1(to_regprocedure,
															  CStringGetTextDatum(psprintf("%s.gc_impute(%s.gcmodel, pg_catalog.float8[])", qnsp, qnsp))));

		if (OidIsValid(fn))
		{
			fmgr_info_cxt(fn, &w->impute_fn, TopMemoryContext);
			w->have_impute = true;
		}
	}
	WriterSetColumns(cfg);
}
