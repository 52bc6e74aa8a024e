/*
 * kafka_conf.c — which librdkafka properties a stream may pass through, and who may set
 * them.
 *
 * librdkafka runs inside the server process, as the operating-system user of the
 * server.  Several of its properties run programs (sasl.kerberos.kinit.cmd), load code
 * (plugin.library.paths, ssl.engine.location, ssl.providers), read or write server files
 * (ssl.*.location, offset.store.path, sasl.kerberos.keytab), or write secrets to the
 * server log (debug).  A role that is not a superuser may therefore only set the
 * properties of an allow-list: connection, SASL PLAIN/SCRAM credentials, in-line PEM
 * certificates, timeouts, fetch sizes and the like.  Everything else is refused with an
 * error that names the property.  A superuser may set anything but the properties the
 * worker manages itself.
 *
 * The check runs when a stream is created or altered and again at every start of its
 * worker, with the rights of the stream's owner at that time (a restored dump or a row
 * written by an older version may carry anything).  Validating values with librdkafka
 * never sets a property that loads code: plugin.library.paths would dlopen at once.
 */
#include "postgres.h"

#include <librdkafka/rdkafka.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "stream/stream.h"

/* Properties the worker sets itself: a pass-through value would break exactly-once. */
static const char *const reserved_props[] = {
	"bootstrap.servers", "metadata.broker.list", "group.id", "enable.auto.commit",
	"enable.auto.offset.store", "enable.partition.eof", "auto.offset.reset",
	"log.queue", "isolation.level", "auto.commit.enable", "offset.store.method",
	"consume.callback.max.messages", NULL
};

/*
 * What a role that is not a superuser may set: nothing here names a file, runs a
 * program, loads code or turns on debug logging.
 */
static const char *const user_props[] = {
	/* connection */
	"security.protocol", "client.id", "client.rack", "broker.address.family", "broker.address.ttl",
	"allow.auto.create.topics", "api.version.request", "api.version.request.timeout.ms",
	"api.version.fallback.ms", "broker.version.fallback",
	/* SASL with a user name and password */
	"sasl.mechanism", "sasl.mechanisms", "sasl.username", "sasl.password",
	/* TLS with in-line certificates (no files) */
	"ssl.ca.pem", "ssl.certificate.pem", "ssl.key.pem", "ssl.key.password",
	"ssl.cipher.suites", "ssl.curves.list", "ssl.sigalgs.list",
	"enable.ssl.certificate.verification", "ssl.endpoint.identification.algorithm",
	/* timeouts and retries */
	"socket.timeout.ms", "socket.connection.setup.timeout.ms", "socket.keepalive.enable",
	"socket.nagle.disable", "socket.max.fails", "socket.send.buffer.bytes",
	"socket.receive.buffer.bytes", "connections.max.idle.ms", "reconnect.backoff.ms",
	"reconnect.backoff.max.ms", "reconnect.backoff.jitter.ms",
	"topic.metadata.refresh.interval.ms", "metadata.max.age.ms",
	"topic.metadata.refresh.fast.interval.ms", "topic.metadata.refresh.sparse",
	"topic.metadata.propagation.max.ms", "fetch.error.backoff.ms",
	/* fetch sizes and queues */
	"fetch.wait.max.ms", "fetch.min.bytes", "fetch.max.bytes", "fetch.message.max.bytes",
	"max.partition.fetch.bytes", "queued.min.messages", "queued.max.messages.kbytes",
	"receive.message.max.bytes", "message.max.bytes", "max.in.flight",
	"max.in.flight.requests.per.connection", "check.crcs",
	/* compression (the broker's choice on a consumer; accepted for shared settings) */
	"compression.codec", "compression.type",
	NULL
};

/* SASL mechanisms that only send a user name and password */
static const char *const user_mechanisms[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", NULL};

/* Setting these on a librdkafka configuration loads code at once: never during a check. */
static const char *const loads_code[] = {"plugin.library.paths", NULL};

static bool
InList(const char *const *list, const char *s)
{
	for (int i = 0; list[i]; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

static char *
AllowedList(void)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int i = 0; user_props[i]; i++)
		appendStringInfo(&s, "%s%s", i ? ", " : "", user_props[i]);
	return s.data;
}

/* One property: reserved for the worker, or outside the allow-list of ordinary roles. */
static void
CheckProperty(const char *k, const char *v, bool superuser)
{
	if (InList(reserved_props, k))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("librdkafka setting \"%s\" is managed by gcimpute", k),
				 errdetail("Stream positions are stored in gc_stream_offsets; the worker sets this property itself."),
				 errhint("Use the stream options \"start\" and the brokers argument instead.")));
	if (superuser)
		return;
	if (!InList(user_props, k))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("librdkafka setting \"%s\" may only be set by a superuser", k),
				 errdetail("Settings outside the allow-list can run programs, load code, read server files or log secrets in the server process."),
				 errhint("Settings allowed to every role: %s.", AllowedList())));
	if ((strcmp(k, "sasl.mechanism") == 0 || strcmp(k, "sasl.mechanisms") == 0) &&
		!InList(user_mechanisms, v))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("SASL mechanism \"%s\" may only be set by a superuser", v),
				 errdetail("GSSAPI runs kinit with the server's Kerberos identity; OAUTHBEARER fetches tokens from the server."),
				 errhint("Use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.")));
}

static const char *
Lookup(List *conf, const char *k)
{
	ListCell   *lc;
	const char *v = NULL;

	foreach(lc, conf)
	{
		char	  **kv = lfirst(lc);

		if (strcmp(kv[0], k) == 0)
			v = kv[1];
	}
	return v;
}

/*
 * StreamCheckKafkaConf: refuse what the given rights may not set.  A SASL protocol
 * without a mechanism means GSSAPI to librdkafka, so an ordinary role must name one.
 */
void
StreamCheckKafkaConf(List *conf, bool superuser)
{
	ListCell   *lc;
	const char *proto;

	foreach(lc, conf)
	{
		char	  **kv = lfirst(lc);

		CheckProperty(kv[0], kv[1], superuser);
	}
	proto = Lookup(conf, "security.protocol");
	if (!superuser && proto && pg_strncasecmp(proto, "sasl_", 5) == 0 &&
		Lookup(conf, "sasl.mechanism") == NULL && Lookup(conf, "sasl.mechanisms") == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("librdkafka setting \"security.protocol\" = \"%s\" needs \"sasl.mechanism\"", proto),
				 errdetail("Without a mechanism librdkafka uses GSSAPI, which only a superuser may set."),
				 errhint("Add \"sasl.mechanism\": \"SCRAM-SHA-512\" (or PLAIN, SCRAM-SHA-256).")));
}

/* StreamKafkaConfList: a json object of settings as (key, value) string pairs. */
List *
StreamKafkaConfList(Jsonb *j)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	List	   *conf = NIL;
	char	   *key = NULL;

	if (!JB_ROOT_IS_OBJECT(j) || JB_ROOT_IS_SCALAR(j))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stream option \"kafka\" must be a json object")));
	it = JsonbIteratorInit(&j->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	  **kv;

		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		kv = palloc(sizeof(char *) * 2);
		kv[0] = key;
		if (v.type == jbvString)
			kv[1] = pnstrdup(v.val.string.val, v.val.string.len);
		else if (v.type == jbvNumeric)
			kv[1] = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
		else if (v.type == jbvBool)
			kv[1] = pstrdup(v.val.boolean ? "true" : "false");
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("librdkafka setting \"%s\" must be a string, number or boolean", key)));
		conf = lappend(conf, kv);
	}
	return conf;
}

/* Let librdkafka itself check names and values, on a configuration that is thrown away. */
static void
CheckValues(List *conf)
{
	rd_kafka_conf_t *rc = rd_kafka_conf_new();
	ListCell   *lc;

	foreach(lc, conf)
	{
		char	  **kv = lfirst(lc);
		char		err[512];

		if (InList(loads_code, kv[0]))
			continue;
		if (rd_kafka_conf_set(rc, kv[0], kv[1], err, sizeof(err)) != RD_KAFKA_CONF_OK)
		{
			rd_kafka_conf_destroy(rc);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid librdkafka setting \"%s\"", kv[0]),
					 errdetail("%s", err),
					 errhint("See the CONFIGURATION.md of librdkafka for consumer properties.")));
		}
	}
	rd_kafka_conf_destroy(rc);
}

/* StreamValidateKafkaConf: the settings of a stream whose owner has these rights. */
void
StreamValidateKafkaConf(Jsonb *j, bool superuser)
{
	List	   *conf = StreamKafkaConfList(j);

	StreamCheckKafkaConf(conf, superuser);
	CheckValues(conf);
}

PG_FUNCTION_INFO_V1(gc_stream_check_kafka_conf);

/*
 * gc_stream_check_kafka_conf: raise an error unless the calling role may pass these
 * settings to a stream and librdkafka accepts them.
 */
Datum
gc_stream_check_kafka_conf(PG_FUNCTION_ARGS)
{
	StreamValidateKafkaConf(PG_GETARG_JSONB_P(0), superuser());
	PG_RETURN_VOID();
}
