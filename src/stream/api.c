/*
 * api.c — the SQL functions that change the extension's tables: gc_streams (create, alter,
 * start and stop, drop) and gc_model_grants (grant, revoke).
 *
 * No role but the extension's owner may write those tables, so every change goes through
 * these functions and every check runs.  They are not SECURITY DEFINER: the caller is
 * who GetUserId() says, also inside another role's SECURITY DEFINER function.  They find
 * the stream as the caller (row-level security shows a role only its own streams),
 * validate as the caller (gc_stream_validate: privileges on the target, the options, the
 * model), check the librdkafka settings with the rights of the stream's owner, and only
 * then write the one row as the owner of the catalog table: a fixed, schema-qualified
 * statement, security-restricted, with search_path pinned.  A change of an existing
 * stream first waits for its workers' batches in flight (StreamLockBatches).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lockdefs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/syscache.h"

#include "stream/stream.h"

/* The stream as the caller sees it; an error when the caller sees no such stream. */
typedef struct CallerStream
{
	int32		id;
	Oid			owner;
	bool		enabled;
	int			nworkers;
} CallerStream;

static const char *
Schema(void)
{
	const char *nsp = GcExtensionSchema();

	if (nsp == NULL)
		elog(ERROR, "extension gcimpute is not installed");
	return nsp;
}

static int	OptionWorkers(Jsonb *options);

static CallerStream
FindStream(const char *name)
{
	CallerStream cs;
	Datum		arg = CStringGetTextDatum(name);
	bool		isnull;
	int			nest = StreamBookkeepingBegin();

	if (SPI_execute_with_args(psprintf("SELECT id, owner::pg_catalog.oid, enabled, options FROM %s.gc_streams "
									   "WHERE name OPERATOR(pg_catalog.=) $1", Schema()),
							  1, (Oid[]) {TEXTOID}, &arg, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("stream \"%s\" does not exist", name)));
	cs.id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	cs.owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	cs.enabled = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	cs.nworkers = OptionWorkers(DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull)));
	StreamBookkeepingEnd(nest);
	return cs;
}

/*
 * Validate as the caller; returns {"options": normalized, "kafka": settings}.  Raises
 * the validator's errors (privileges, options, model rights).
 */
static Jsonb *
Validate(const char *name, text *brokers, text *topic, Oid target, Jsonb *options, bool is_new)
{
	Datum		args[6] = {CStringGetTextDatum(name), PointerGetDatum(brokers), PointerGetDatum(topic),
	ObjectIdGetDatum(target), JsonbPGetDatum(options), BoolGetDatum(is_new)};
	int			nest = StreamBookkeepingBegin();
	bool		isnull;
	Jsonb	   *result;

	if (SPI_execute_with_args(psprintf("SELECT %s.gc_stream_validate($1, $2, $3, $4, $5, $6)", Schema()),
							  6, (Oid[]) {TEXTOID, TEXTOID, TEXTOID, REGCLASSOID, JSONBOID, BOOLOID},
							  args, NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not validate stream \"%s\"", name);
	result = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	StreamBookkeepingEnd(nest);
	return result;
}

static Jsonb *
Member(Jsonb *j, const char *key)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&j->root, key, strlen(key), NULL);

	return v ? JsonbValueToJsonb(v) : NULL;
}

/* The "workers" of normalized options (validated: 1 to GC_STREAM_MAX_WORKERS), 1 if absent. */
static int
OptionWorkers(Jsonb *options)
{
	JsonbValue *v = options ? getKeyJsonValueFromContainer(&options->root, "workers", 7, NULL) : NULL;

	if (v == NULL || v->type != jbvNumeric)
		return 1;
	return DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(v->val.numeric)));
}

/*
 * Run one statement on the catalog as the owner of gc_streams; returns the first column
 * of its first row (RETURNING), or 0.
 */
static Datum
CatalogWrite(const char *sql, int nargs, Oid *types, Datum *values)
{
	Oid			relid = get_relname_relid("gc_streams", GcExtensionNamespace());
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			catalog_owner;
	Oid			save_user;
	int			save_sec;
	int			nest;
	Datum		result = (Datum) 0;
	bool		isnull;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "gcimpute catalog table gc_streams not found");
	catalog_owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(catalog_owner, save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	nest = StreamBookkeepingBegin();
	if (SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0) < 0)
		elog(ERROR, "could not write the stream catalog");
	if (SPI_tuptable != NULL && SPI_processed > 0)
		result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	StreamBookkeepingEnd(nest);
	SetUserIdAndSecContext(save_user, save_sec);
	return result;
}

PG_FUNCTION_INFO_V1(gc_stream_create);

/* gc_stream_create(name, brokers, topic, target, options): a stopped stream owned by the caller. */
Datum
gc_stream_create(PG_FUNCTION_ARGS)
{
	char	   *name;
	Jsonb	   *v;
	Datum		args[7];
	int32		id;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("stream name, brokers, topic and target must not be null")));
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stream options must be a json object")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	SPI_connect();
	v = Validate(name, PG_GETARG_TEXT_PP(1), PG_GETARG_TEXT_PP(2), PG_GETARG_OID(3),
				 PG_GETARG_JSONB_P(4), true);
	StreamValidateKafkaConf(Member(v, "kafka"), superuser());
	gc_stream_check_worker_slots(OptionWorkers(Member(v, "options")), name);
	args[0] = CStringGetTextDatum(name);
	args[1] = ObjectIdGetDatum(GetUserId());
	args[2] = PointerGetDatum(PG_GETARG_TEXT_PP(1));
	args[3] = PointerGetDatum(PG_GETARG_TEXT_PP(2));
	args[4] = PG_GETARG_DATUM(3);
	args[5] = JsonbPGetDatum(Member(v, "options"));
	args[6] = JsonbPGetDatum(Member(v, "kafka"));
	id = DatumGetInt32(CatalogWrite(psprintf("INSERT INTO %s.gc_streams (name, owner, brokers, topic, target, options, kafka_conf) "
											 "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id", Schema()),
									7, (Oid[]) {TEXTOID, REGROLEOID, TEXTOID, TEXTOID, REGCLASSOID, JSONBOID, JSONBOID},
									args));
	SPI_finish();
	PG_RETURN_INT32(id);
}

PG_FUNCTION_INFO_V1(gc_stream_alter);

/*
 * gc_stream_alter(name, options): new options for a stopped stream, validated as for
 * gc_stream_create; the librdkafka settings with the rights of the stream's owner.
 */
Datum
gc_stream_alter(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	CallerStream cs;
	Jsonb	   *v;
	Datum		args[3];
	Oid			target;
	char	   *brokers;
	char	   *topic;

	SPI_connect();
	cs = FindStream(name);
	StreamLockBatches(cs.id, ExclusiveLock);
	if (cs.enabled)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("stream \"%s\" is running", name),
				 errhint("Stop it with gc_stream_stop('%s') first.", name)));
	args[0] = Int32GetDatum(cs.id);
	if (SPI_execute_with_args(psprintf("SELECT target::pg_catalog.oid, brokers, topic FROM %s.gc_streams "
									   "WHERE id OPERATOR(pg_catalog.=) $1", Schema()),
							  1, (Oid[]) {INT4OID}, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "stream \"%s\" vanished", name);
	{
		bool		isnull;

		target = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		brokers = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		topic = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	}
	v = Validate(name, cstring_to_text(brokers), cstring_to_text(topic), target,
				 PG_GETARG_JSONB_P(1), false);
	StreamValidateKafkaConf(Member(v, "kafka"), superuser_arg(cs.owner));
	gc_stream_check_worker_slots(OptionWorkers(Member(v, "options")), name);
	args[1] = JsonbPGetDatum(Member(v, "options"));
	args[2] = JsonbPGetDatum(Member(v, "kafka"));
	CatalogWrite(psprintf("UPDATE %s.gc_streams SET options = $2, kafka_conf = $3 WHERE id OPERATOR(pg_catalog.=) $1",
						  Schema()),
				 3, (Oid[]) {INT4OID, JSONBOID, JSONBOID}, args);
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(gc_stream_set_enabled);

/* gc_stream_set_enabled(name, enable): start (clearing a stream error) or stop a stream. */
Datum
gc_stream_set_enabled(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		enable = PG_GETARG_BOOL(1);
	CallerStream cs;
	Datum		args[4];
	char	   *here = get_database_name(MyDatabaseId);

	SPI_connect();
	cs = FindStream(name);
	StreamLockBatches(cs.id, ExclusiveLock);
	if (enable)
		gc_stream_check_worker_slots(cs.nworkers, name);
	args[0] = Int32GetDatum(cs.id);
	args[1] = BoolGetDatum(enable);
	/* where it was started: the launcher starts it by itself only here (80_lifecycle.sql) */
	args[2] = Int64GetDatum((int64) GetSystemIdentifier());
	args[3] = ObjectIdGetDatum(MyDatabaseId);
	CatalogWrite(psprintf("UPDATE %s.gc_streams SET enabled = $2, "
						  "started_system = CASE WHEN $2 THEN $3 ELSE started_system END, "
						  "started_database = CASE WHEN $2 THEN $4 ELSE started_database END "
						  "WHERE id OPERATOR(pg_catalog.=) $1", Schema()),
				 4, (Oid[]) {INT4OID, BOOLOID, INT8OID, OIDOID}, args);
	if (enable)
		CatalogWrite(psprintf("DELETE FROM %s.gc_stream_errors WHERE stream_id OPERATOR(pg_catalog.=) $1", Schema()),
					 1, (Oid[]) {INT4OID}, args);
	SPI_finish();
	if (!GcWakeAtCommit() && enable)
		ereport(WARNING,
				(errmsg("stream \"%s\" will not run: gcimpute is not in shared_preload_libraries", name),
				 errhint("Add gcimpute to shared_preload_libraries and restart the server.")));
	else if (enable && gc_database != NULL && here != NULL && strcmp(gc_database, here) != 0)
		ereport(WARNING,
				(errmsg("stream \"%s\" will not run: gcimpute serves the streams of database \"%s\" only",
						name, gc_database),
				 errhint("Set gcimpute.database = '%s' and restart the server, or define the stream in database %s.",
						 here, quote_identifier(gc_database))));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(gc_stream_drop);

/* gc_stream_drop(name): the stream with its offsets, dedup keys and error (dead letters stay). */
Datum
gc_stream_drop(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	CallerStream cs;
	Datum		arg;

	SPI_connect();
	cs = FindStream(name);
	StreamLockBatches(cs.id, ExclusiveLock);
	arg = Int32GetDatum(cs.id);
	CatalogWrite(psprintf("DELETE FROM %s.gc_streams WHERE id OPERATOR(pg_catalog.=) $1", Schema()),
				 1, (Oid[]) {INT4OID}, &arg);
	SPI_finish();
	(void) GcWakeAtCommit();
	PG_RETURN_VOID();
}

/*
 * The owner of a model the caller owns (row-level security shows the caller its own and
 * shared models; only its own pass), or an error.
 */
static Oid
OwnModel(text *model)
{
	Datum		arg = PointerGetDatum(model);
	bool		isnull;
	Oid			owner = InvalidOid;
	int			nest = StreamBookkeepingBegin();

	if (SPI_execute_with_args(psprintf("SELECT owner::pg_catalog.oid FROM %s.gc_models WHERE name OPERATOR(pg_catalog.=) $1",
									   Schema()),
							  1, (Oid[]) {TEXTOID}, &arg, NULL, true, 1) == SPI_OK_SELECT && SPI_processed == 1)
		owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	StreamBookkeepingEnd(nest);
	if (!OidIsValid(owner) || !has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("model \"%s\" does not exist or is not yours", text_to_cstring(model))));
	return owner;
}

PG_FUNCTION_INFO_V1(gc_model_grant);

/* gc_model_grant(model, grantee): let a role (and its members) read one of your models. */
Datum
gc_model_grant(PG_FUNCTION_ARGS)
{
	Datum		args[3];

	SPI_connect();
	args[0] = PG_GETARG_DATUM(0);
	args[1] = ObjectIdGetDatum(OwnModel(PG_GETARG_TEXT_PP(0)));
	args[2] = PG_GETARG_DATUM(1);
	CatalogWrite(psprintf("INSERT INTO %s.gc_model_grants (model, owner, grantee) VALUES ($1, $2, $3) "
						  "ON CONFLICT DO NOTHING", Schema()),
				 3, (Oid[]) {TEXTOID, REGROLEOID, REGROLEOID}, args);
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(gc_model_revoke);

/* gc_model_revoke(model, grantee): stop sharing one of your models with a role. */
Datum
gc_model_revoke(PG_FUNCTION_ARGS)
{
	Datum		args[2] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)};
	bool		found;

	SPI_connect();
	(void) OwnModel(PG_GETARG_TEXT_PP(0));
	found = DatumGetInt32(CatalogWrite(psprintf("DELETE FROM %s.gc_model_grants WHERE model OPERATOR(pg_catalog.=) $1 "
												"AND grantee OPERATOR(pg_catalog.=) $2 RETURNING 1", Schema()),
									   2, (Oid[]) {TEXTOID, REGROLEOID}, args)) == 1;
	SPI_finish();
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" is not shared with %s", text_to_cstring(PG_GETARG_TEXT_PP(0)),
						GetUserNameFromId(PG_GETARG_OID(1), false))));
	PG_RETURN_VOID();
}
