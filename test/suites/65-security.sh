#!/usr/bin/env bash
# Security of the stream worker and the extension's catalog, tried as two ordinary login
# roles (alice, bob) on a server that runs the worker against a real broker
# (test/kafka/broker.sh).  Every attack must be refused with a clear error while the
# legitimate use next to it still works:
#   - librdkafka settings that run programs, load code, read files or log secrets;
#     validation that would load code; settings smuggled into the row (a restored dump);
#   - direct DML on gc_streams, other roles' streams, models, dead letters, offsets;
#   - row-level security and column privileges of a target;
#   - a hostile owner: search_path set by ALTER ROLE and by set_config in a trigger and
#     in a row-security policy, every pg_catalog function, operator and type name the
#     worker's SQL uses shadowed by a spy that records current_user; the worker's full
#     path (imputation, model refresh, late updates, dead letters, trigger, policy) runs
#     and no spy is ever called, least of all as a superuser.
# Ports: GC_SECURITY_PORT (PostgreSQL, default GC_REGRESS_PORT+8), KAFKA_PORT.
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$TOP"
. test/pg.sh
GC_TEST_TMP=${GC_TEST_TMP:-/tmp/gcimpute-test-$$}
export KAFKA_PORT=${KAFKA_PORT:-19092}
export KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
PORT=${GC_SECURITY_PORT:-$((${GC_REGRESS_PORT:-54391} + 8))}
BS=127.0.0.1:$KAFKA_PORT
W=$GC_TEST_TMP/security-suite
KDIR=$W/broker
PGD=$W/pg
rm -rf "$W"
mkdir -p "$W" && chmod 777 "$W"
TOOL=$W/kafka_tool
DB=gcsec
pass=0 fail=0
. test/lib.sh
# as ROLE SQL...: run as a login role; prints rows, errors go to stdout too
as() {
	local role=$1
	shift
	"$PG_BINDIR/psql" -h "$PGD" -p "$PORT" -U "$role" -d "$DB" -XAtq -v ON_ERROR_STOP=1 "$@" 2>&1
}
# the superuser's own session never resolves names through a path a tested role controls
q() { PGOPTIONS="-c search_path=pg_catalog,public" as postgres "$@"; }
# refused DESC ROLE PATTERN SQL: the statement fails and its error matches PATTERN
refused() {
	local d=$1 role=$2 pat=$3 sql=$4 out
	out=$(as "$role" -c "$sql")
	if [ $? -ne 0 ] && grep -qE "$pat" <<<"$out"; then
		ok "$d"
	else
		notok "$d"
		echo "  got: $(head -3 <<<"$out")"
	fi
}
# allowed DESC ROLE SQL: the statement succeeds
allowed() {
	local d=$1 role=$2 sql=$3 out
	if out=$(as "$role" -c "$sql"); then ok "$d"; else
		notok "$d"
		echo "  got: $(head -3 <<<"$out")"
	fi
}
produce() { "$TOOL" produce "$BS" "$1" >/dev/null 2>&1; }
cleanup() {
	pg_stop "$PGD"
	bash test/kafka/broker.sh stop "$KDIR" >/dev/null 2>&1
}
trap cleanup EXIT
# eventually DESC SECONDS SQL: poll until SQL (as postgres) prints t
eventually() {
	local d=$1 limit=$2 sql=$3 i
	for ((i = 0; i < limit * 5; i++)); do
		[ "$(q -c "$sql")" = t ] && { ok "$d"; return 0; }
		sleep 0.2
	done
	notok "$d"
	q -c "SELECT name, state, last_error FROM gc_stream_status"
	return 1
}

# ---- build and start --------------------------------------------------------------------
MARK=$W/marker
cat >"$W/evil.c" <<EOF
#include <stdio.h>
__attribute__((constructor)) static void evil(void)
{
	FILE *f = fopen("$MARK.plugin", "w");
	if (f) { fputs("loaded\n", f); fclose(f); }
}
EOF
if gcc -O2 -Wall -Werror -o "$TOOL" test/stream/kafka_tool.c -lrdkafka &&
	gcc -shared -fPIC -o "$W/evil.so" "$W/evil.c" && chmod 755 "$W/evil.so"; then
	ok "build kafka_tool and a plugin that marks its loading"
else
	notok "build kafka_tool and a plugin that marks its loading"
	finish
fi
start_broker "$KDIR"
pg_start "$PGD" "$PORT" "shared_preload_libraries = 'gcimpute'" "gcimpute.database = '$DB'" \
	"gcimpute.launcher_naptime = 200"
QDB=postgres
"$PG_BINDIR/psql" -h "$PGD" -p "$PORT" -U postgres -d postgres -XAtq -c "CREATE DATABASE $DB" >/dev/null
q -c "CREATE EXTENSION gcimpute SCHEMA public;
	  CREATE ROLE alice LOGIN; CREATE ROLE bob LOGIN;
	  CREATE SCHEMA alice AUTHORIZATION alice; CREATE SCHEMA bob AUTHORIZATION bob;
	  GRANT CREATE ON DATABASE $DB TO alice, bob" >/dev/null
for t in s1 s2 s3 shared rls late; do bash test/kafka/broker.sh topic $t 1 "$KDIR" >/dev/null; done

# ---- 1. librdkafka settings ---------------------------------------------------------------
as alice -c "CREATE TABLE alice.t (publisher_id text, data_id bigint, v float8)" >/dev/null
for prop in sasl.kerberos.kinit.cmd plugin.library.paths ssl.engine.location ssl.providers \
	ssl.ca.location ssl.key.location ssl.certificate.location ssl.keystore.location ssl.crl.location \
	sasl.kerberos.keytab sasl.kerberos.principal sasl.oauthbearer.config sasl.oauthbearer.token.endpoint.url \
	offset.store.path debug interceptors; do
	refused "kafka: an ordinary role may not set $prop" alice "\"$prop\" may only be set by a superuser" \
		"SELECT gc_stream_create('k', '$BS', 's1', 'alice.t', '{\"kafka\": {\"$prop\": \"touch $MARK.$prop\"}}')"
done
refused "kafka: GSSAPI refused for an ordinary role (kinit runs a command)" alice 'SASL mechanism "GSSAPI" may only be set by a superuser' \
	"SELECT gc_stream_create('k', '$BS', 's1', 'alice.t', '{\"kafka\": {\"security.protocol\": \"SASL_PLAINTEXT\",
	  \"sasl.mechanisms\": \"GSSAPI\", \"sasl.kerberos.kinit.cmd\": \"touch $MARK.kinit\"}}')"
refused "kafka: SASL without a mechanism (librdkafka's GSSAPI default) refused" alice 'needs "sasl.mechanism"' \
	"SELECT gc_stream_create('k', '$BS', 's1', 'alice.t', '{\"kafka\": {\"security.protocol\": \"sasl_ssl\"}}')"
refused "kafka: OAUTHBEARER refused for an ordinary role" alice 'SASL mechanism "OAUTHBEARER"' \
	"SELECT gc_stream_create('k', '$BS', 's1', 'alice.t', '{\"kafka\": {\"sasl.mechanism\": \"OAUTHBEARER\"}}')"
refused "kafka: gc_stream_check_kafka_conf checks with the caller's rights" alice '"debug" may only be set by a superuser' \
	"SELECT gc_stream_check_kafka_conf('{\"debug\": \"all\"}')"
refused "kafka: settings the worker manages are refused (group.id)" alice 'managed by gcimpute' \
	"SELECT gc_stream_create('k', '$BS', 's1', 'alice.t', '{\"kafka\": {\"group.id\": \"x\"}}')"
allowed "kafka: SCRAM credentials, timeouts, fetch sizes, compression are allowed" alice \
	"SELECT gc_stream_create('k', '$BS', 's1', 'alice.t', '{\"kafka\": {\"security.protocol\": \"SASL_PLAINTEXT\",
	  \"sasl.mechanism\": \"SCRAM-SHA-256\", \"sasl.username\": \"u\", \"sasl.password\": \"p\",
	  \"socket.timeout.ms\": 30000, \"fetch.max.bytes\": 1000000, \"compression.codec\": \"lz4\"}}');
	 SELECT gc_stream_drop('k')"
allowed "kafka: a superuser may name TLS files" postgres \
	"SELECT gc_stream_create('k', '$BS', 's1', 'alice.t', '{\"kafka\": {\"security.protocol\": \"SSL\",
	  \"ssl.ca.location\": \"/etc/ssl/certs/ca-certificates.crt\"}}'); SELECT gc_stream_drop('k')"
allowed "kafka: a superuser's validation of plugin.library.paths does not load it" postgres \
	"SELECT gc_stream_check_kafka_conf('{\"plugin.library.paths\": \"$W/evil.so\"}')"
check "kafka: no refused setting ran a program or loaded code" test -z "$(ls "$MARK".* 2>/dev/null)"
# a restored dump (or a row of an older version) carries a refused setting: the worker
# checks again at start, with the owner's rights, before librdkafka sees it
as alice -c "SELECT gc_stream_create('dump', '$BS', 's1', 'alice.t')" >/dev/null
q -c "UPDATE gc_streams SET kafka_conf = '{\"security.protocol\": \"SASL_PLAINTEXT\", \"sasl.mechanisms\": \"GSSAPI\",
	  \"sasl.kerberos.kinit.cmd\": \"touch $MARK.dump\"}' WHERE name = 'dump'" >/dev/null
as alice -c "SELECT gc_stream_start('dump')" >/dev/null
eventually "kafka: a refused setting in the row stops the stream at worker start" 20 \
	"SELECT state = 'error' AND last_error LIKE '%may only be set by a superuser%' FROM gc_stream_status WHERE name = 'dump'"
check "kafka: ... and kinit never ran" test ! -e "$MARK.dump"
as alice -c "SELECT gc_stream_drop('dump')" >/dev/null

# ---- 2. gc_streams only through the API ---------------------------------------------------
as alice -c "SELECT gc_stream_create('a1', '$BS', 's1', 'alice.t')" >/dev/null
refused "catalog: direct INSERT into gc_streams refused" alice 'permission denied for table gc_streams' \
	"INSERT INTO gc_streams (name, brokers, topic, target, options, kafka_conf)
	 VALUES ('x', '$BS', 's1', 'alice.t', '{}', '{\"group.id\": \"x\"}')"
refused "catalog: direct UPDATE of options or kafka_conf refused" alice 'permission denied for table gc_streams' \
	"UPDATE gc_streams SET kafka_conf = '{\"debug\": \"all\"}' WHERE name = 'a1'"
refused "catalog: direct DELETE refused" alice 'permission denied for table gc_streams' \
	"DELETE FROM gc_streams WHERE name = 'a1'"
refused "catalog: kafka_conf is not readable" alice 'permission denied for table gc_streams' \
	"SELECT kafka_conf FROM gc_streams"
refused "catalog: gc_stream_alter refuses what gc_stream_create refuses" alice '"sasl.kerberos.kinit.cmd" may only be set by a superuser' \
	"SELECT gc_stream_alter('a1', '{\"kafka\": {\"sasl.kerberos.kinit.cmd\": \"id\"}}')"
refused "catalog: gc_stream_alter refuses unknown options" alice 'unrecognized stream option "bogus"' \
	"SELECT gc_stream_alter('a1', '{\"bogus\": 1}')"
allowed "catalog: gc_stream_alter of one's own stopped stream works" alice \
	"SELECT gc_stream_alter('a1', '{\"batch_size\": 500}')"
check "catalog: ... and stored the normalized options" test "$(as alice -c "SELECT options->>'batch_size' FROM gc_streams WHERE name = 'a1'")" = 500
for f in "gc_stream_start('a1')" "gc_stream_stop('a1')" "gc_stream_drop('a1')" "gc_stream_alter('a1', '{}')"; do
	refused "catalog: bob cannot $f alice's stream" bob 'stream "a1" does not exist' "SELECT $f"
done
as bob -c "CREATE TABLE bob.t (v float8); GRANT USAGE ON SCHEMA bob TO alice" >/dev/null
as alice -c "GRANT USAGE ON SCHEMA alice TO bob" >/dev/null
refused "catalog: a stream name is unique across roles" bob 'stream "a1" already exists' \
	"SELECT gc_stream_create('a1', '$BS', 's1', 'bob.t')"
refused "catalog: a stream needs INSERT on its target" bob 'permission denied for table (alice\.)?t$' \
	"SELECT gc_stream_create('b1', '$BS', 's1', 'alice.t')"
# alice's SECURITY DEFINER function, called by bob, creates streams as alice (not as bob)
as alice -c "CREATE FUNCTION alice.mk() RETURNS int LANGUAGE sql SECURITY DEFINER
	AS \$\$SELECT gc_stream_create('m1', '$BS', 's1', 'bob.t')\$\$" >/dev/null
refused "catalog: inside another role's SECURITY DEFINER function the API acts as that role" bob \
	'permission denied for table (bob\.)?t$' "SELECT alice.mk()"

# ---- 3. models have owners ----------------------------------------------------------------
q -c "CREATE TABLE public.train AS SELECT g::float8 AS a, (g * 2 + random())::float8 AS b FROM generate_series(1, 200) g;
	  GRANT SELECT ON public.train TO PUBLIC" >/dev/null
allowed "models: the documented INSERT INTO gc_models ... gc_fit stores a model owned by its role" bob \
	"INSERT INTO gc_models SELECT 'bobmodel', gc_fit(ARRAY[a, b]) FROM train"
check "models: ... owned by bob" test "$(q -c "SELECT owner FROM gc_models WHERE name = 'bobmodel'")" = bob
bobmd5=$(q -c "SELECT md5(model::text) FROM gc_models WHERE name = 'bobmodel'")
check "models: alice does not see bob's model" test "$(as alice -c "SELECT count(*) FROM gc_models")" = 0
check "models: alice's UPDATE of bob's model changes nothing" test \
	"$(as alice -c "UPDATE gc_models SET model = (SELECT gc_fit(ARRAY[b, a]) FROM train) WHERE name = 'bobmodel' RETURNING 1" | wc -l)" = 0
check "models: alice's DELETE of bob's model changes nothing" test \
	"$(as alice -c "DELETE FROM gc_models WHERE name = 'bobmodel' RETURNING 1" | wc -l)" = 0
refused "models: alice cannot overwrite bob's model by upsert" alice 'row-level security|duplicate key' \
	"INSERT INTO gc_models SELECT 'bobmodel', gc_fit(ARRAY[b, a]) FROM train
	 ON CONFLICT (name) DO UPDATE SET model = excluded.model"
refused "models: alice cannot store a model in bob's name" alice 'row-level security' \
	"INSERT INTO gc_models (name, model, owner) SELECT 'fake', gc_fit(ARRAY[a, b]), 'bob' FROM train"
refused "models: alice cannot change a model's owner" alice 'permission denied for table gc_models' \
	"UPDATE gc_models SET owner = 'alice' WHERE name = 'bobmodel'"
refused "models: alice cannot share bob's model with herself" alice 'permission denied for table gc_model_grants' \
	"INSERT INTO gc_model_grants VALUES ('bobmodel', 'bob', 'alice')"
refused "models: ... nor through gc_model_grant" alice 'model "bobmodel" does not exist or is not yours' \
	"SELECT gc_model_grant('bobmodel', 'alice')"
as alice -c "CREATE TABLE alice.m (entity text, ts timestamptz, a float8, b float8, imputed bool[])" >/dev/null
refused "models: a stream may not impute with a model its owner cannot read" alice 'permission denied for model "bobmodel"' \
	"SELECT gc_stream_create('ma', '$BS', 's2', 'alice.m', '{\"model\": \"bobmodel\"}')"
allowed "models: bob shares his model with alice" bob "SELECT gc_model_grant('bobmodel', 'alice')"
check "models: alice now reads it" test "$(as alice -c "SELECT count(*) FROM gc_models WHERE name = 'bobmodel'")" = 1
allowed "models: ... and may impute with it in a stream" alice \
	"SELECT gc_stream_create('ma', '$BS', 's2', 'alice.m', '{\"model\": \"bobmodel\"}'); SELECT gc_stream_drop('ma')"
refused "models: a stream may refresh only a model its owner owns" alice 'needs a model of your own' \
	"SELECT gc_stream_create('mr', '$BS', 's2', 'alice.m', '{\"model\": \"bobmodel\", \"model_refresh\": 1}')"
check "models: a shared model stays read-only to alice" test \
	"$(as alice -c "UPDATE gc_models SET updated_at = now() WHERE name = 'bobmodel' RETURNING 1" | wc -l)" = 0
refused "models: alice cannot revoke a share of bob's model" alice 'model "bobmodel" does not exist or is not yours' \
	"SELECT gc_model_revoke('bobmodel', 'alice')"
refused "models: shares are changed only through the functions" bob 'permission denied for table gc_model_grants' \
	"DELETE FROM gc_model_grants"
allowed "models: bob revokes the share" bob "SELECT gc_model_revoke('bobmodel', 'alice')"
check "models: alice no longer sees it" test "$(as alice -c "SELECT count(*) FROM gc_models")" = 0
# a race: alice's stream refreshes a model name nobody has, then bob takes the name; the
# worker, a session of alice, cannot write bob's row
as alice -c "SELECT gc_stream_create('race', '$BS', 's2', 'alice.m', '{\"entity_column\": \"entity\",
	\"time_column\": \"ts\", \"window\": 1, \"lateness\": 0, \"model\": \"racemodel\", \"model_refresh\": 1,
	\"model_window\": 10}')" >/dev/null
as bob -c "INSERT INTO gc_models SELECT 'racemodel', gc_fit(ARRAY[a, b]) FROM train" >/dev/null
racemd5=$(q -c "SELECT md5(model::text) FROM gc_models WHERE name = 'racemodel'")
as alice -c "SELECT gc_stream_start('race')" >/dev/null
now=$(date +%s)
for i in $(seq 1 30); do
	echo "{\"entity\": \"e$((i % 3))\", \"ts\": $((now - 100 + i)), \"a\": $i, \"b\": $((2 * i)), \"publisher_id\": \"p\", \"data_id\": $i}"
done | produce s2
check "models: the worker's refresh of a model bob took is refused" bash -c \
	"for i in \$(seq 1 60); do grep -q 'stream \"race\": model refresh failed: new row violates row-level security' '$PGD/server.log' && exit 0; sleep 0.5; done; exit 1"
check "models: ... and bob's model is unchanged, still bob's" test \
	"$(q -c "SELECT md5(model::text) = '$racemd5' AND owner::text = 'bob' FROM gc_models WHERE name = 'racemodel'")" = t
check "models: bob's first model is unchanged" test "$(q -c "SELECT md5(model::text) FROM gc_models WHERE name = 'bobmodel'")" = "$bobmd5"
as alice -c "SELECT gc_stream_drop('race')" >/dev/null

# ---- 4. dead letters, offsets, dedup keys and errors belong to a stream id and owner ------
as bob -c "CREATE TABLE bob.d (publisher_id text, data_id bigint, v float8);
	SELECT gc_stream_create('shared', '$BS', 'shared', 'bob.d'); SELECT gc_stream_start('shared')" >/dev/null
printf '%s\n' '{"publisher_id": "p", "data_id": 1, "v": 1}' 'not json: secret personal data' | produce shared
eventually "dead letters: bob's stream writes a dead letter" 30 \
	"SELECT count(*) = 1 FROM gc_dead_letters WHERE stream = 'shared'"
bobid=$(q -c "SELECT id FROM gc_streams WHERE name = 'shared'")
as bob -c "SELECT gc_stream_drop('shared')" >/dev/null
as alice -c "CREATE TABLE alice.d (publisher_id text, data_id bigint, v float8); SELECT gc_stream_create('shared', '$BS', 'shared', 'alice.d')" >/dev/null
check "dead letters: a new stream with the old name (alice) sees none of bob's" test \
	"$(as alice -c "SELECT count(*) FROM gc_dead_letters WHERE stream = 'shared'")/$(as alice -c "SELECT dead_letters FROM gc_stream_status WHERE name = 'shared'")" = 0/0
check "dead letters: ... and cannot delete them" test \
	"$(as alice -c "DELETE FROM gc_dead_letters WHERE stream = 'shared' RETURNING 1" | wc -l)" = 0
check "dead letters: bob still reads his dead letter after dropping the stream" test \
	"$(as bob -c "SELECT count(*) FROM gc_dead_letters WHERE stream = 'shared' AND convert_from(payload, 'UTF8') LIKE '%secret%'")" = 1
refused "dead letters: alice cannot forge one for another stream" alice 'row-level security' \
	"INSERT INTO gc_dead_letters (stream_id, owner, stream, error) VALUES ($bobid, 'bob', 'shared', 'x')"
as bob -c "SELECT gc_stream_create('b2', '$BS', 's3', 'bob.d')" >/dev/null
b2=$(q -c "SELECT id FROM gc_streams WHERE name = 'b2'")
refused "offsets: alice cannot write bob's offsets" alice 'row-level security' \
	"INSERT INTO gc_stream_offsets (stream_id, partition, next_offset) VALUES ($b2, 0, 1000)"
refused "dedup keys: alice cannot write bob's dedup keys" alice 'row-level security' \
	"INSERT INTO gc_stream_dedup (stream_id, keys) VALUES ($b2, '{x}')"
refused "errors: alice cannot stop bob's stream with an error row" alice 'row-level security' \
	"INSERT INTO gc_stream_errors (stream_id, state) VALUES ($b2, 'error')"
as bob -c "SELECT gc_stream_drop('b2')" >/dev/null
as alice -c "SELECT gc_stream_drop('shared')" >/dev/null

# ---- 5. target writes are an INSERT by the owner: privileges, row-level security -----------
as bob -c "CREATE TABLE bob.r (publisher_id text, data_id bigint, v float8);
	ALTER TABLE bob.r ENABLE ROW LEVEL SECURITY;
	CREATE POLICY r_read ON bob.r FOR SELECT USING (true);
	CREATE POLICY r_small ON bob.r FOR INSERT WITH CHECK (v < 100);
	GRANT SELECT, INSERT ON bob.r TO alice" >/dev/null
refused "rls: bob's policy refuses alice's own INSERT of v = 500" alice 'row-level security' \
	"INSERT INTO bob.r VALUES ('x', 0, 500)"
as alice -c "SELECT gc_stream_create('rls', '$BS', 'rls', 'bob.r'); SELECT gc_stream_start('rls')" >/dev/null
printf '%s\n' '{"publisher_id": "p", "data_id": 1, "v": 5}' '{"publisher_id": "p", "data_id": 2, "v": 500}' \
	'{"publisher_id": "p", "data_id": 3, "v": 7}' | produce rls
eventually "rls: the stream writes what the policy allows and dead-letters the rest" 30 \
	"SELECT (SELECT string_agg(v::text, ',' ORDER BY v) FROM bob.r) = '5,7'
	    AND (SELECT count(*) FROM gc_dead_letters WHERE stream = 'rls' AND error LIKE '%row-level security%') = 1"
as bob -c "REVOKE INSERT ON bob.r FROM alice" >/dev/null
echo '{"publisher_id": "p", "data_id": 4, "v": 8}' | produce rls
eventually "privileges: a stream whose owner lost INSERT stops with an error" 30 \
	"SELECT state = 'error' AND last_error LIKE '%permission denied%' FROM gc_stream_status WHERE name = 'rls'"
check "privileges: ... and wrote nothing more" test "$(q -c "SELECT count(*) FROM bob.r")" = 2

# ---- 6. status of other roles' streams ----------------------------------------------------
as alice -c "SELECT gc_stream_start('a1')" >/dev/null
eventually "status: alice's worker runs" 20 "SELECT pid IS NOT NULL FROM gc_stream_status WHERE name = 'a1'"
check "status: gc_stream_worker_status() shows bob none of alice's workers" test \
	"$(as bob -c "SELECT count(*) FROM gc_stream_worker_status()")" = 0
check "status: ... alice sees hers" test "$(as alice -c "SELECT count(*) >= 1 FROM gc_stream_worker_status()")" = t
check "status: gc_stream_status shows bob none of alice's streams" test "$(as bob -c "SELECT count(*) FROM gc_stream_status WHERE name IN ('a1', 'rls')")" = 0
as alice -c "SELECT gc_stream_drop('a1'); SELECT gc_stream_drop('rls')" >/dev/null

# ---- 7. a hostile owner ---------------------------------------------------------------------
# Every pg_catalog function, operator and type name the worker's SQL uses, shadowed in
# schema alice by a spy that records current_user and, if it ever runs as a superuser,
# makes alice a superuser (the attack of the issue).
q -c "CREATE TABLE public.spy_calls (who text, what text, at timestamptz DEFAULT clock_timestamp());
	  GRANT INSERT, SELECT ON public.spy_calls TO PUBLIC" >/dev/null
as alice -c "
CREATE FUNCTION alice.spy(what text) RETURNS boolean LANGUAGE plpgsql AS \$\$
BEGIN
	INSERT INTO public.spy_calls (who, what) VALUES (current_user, what);
	IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) current_user) THEN
		EXECUTE 'ALTER ROLE alice SUPERUSER';
	END IF;
	RETURN true;
END \$\$;
CREATE FUNCTION alice.now() RETURNS timestamptz LANGUAGE sql AS \$\$SELECT alice.spy('now'); SELECT pg_catalog.now()\$\$;
CREATE FUNCTION alice.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE sql AS \$\$SELECT alice.spy('unnest'); SELECT pg_catalog.unnest(\$1)\$\$;
CREATE FUNCTION alice.make_interval(secs float8) RETURNS interval LANGUAGE sql AS \$\$SELECT alice.spy('make_interval'); SELECT pg_catalog.make_interval(secs => \$1)\$\$;
CREATE FUNCTION alice.jsonb_populate_recordset(anyelement, jsonb) RETURNS SETOF anyelement LANGUAGE sql AS \$\$SELECT alice.spy('jsonb_populate_recordset'); SELECT * FROM pg_catalog.jsonb_populate_recordset(\$1, \$2)\$\$;
CREATE FUNCTION alice.textcat(text, text) RETURNS text LANGUAGE sql AS \$\$SELECT alice.spy('textcat'); SELECT pg_catalog.textcat(\$1, \$2)\$\$;
CREATE FUNCTION alice.set_config(text, text, boolean) RETURNS text LANGUAGE sql AS \$\$SELECT alice.spy('set_config'); SELECT pg_catalog.set_config(\$1, \$2, \$3)\$\$;
CREATE FUNCTION alice.gc_fit(float8[]) RETURNS boolean LANGUAGE sql AS \$\$SELECT alice.spy('gc_fit')\$\$;
CREATE FUNCTION alice.eq_i(int4, int4) RETURNS boolean LANGUAGE sql AS \$\$SELECT alice.spy('int4 =') AND \$1 OPERATOR(pg_catalog.=) \$2\$\$;
CREATE FUNCTION alice.eq_t(text, text) RETURNS boolean LANGUAGE sql AS \$\$SELECT alice.spy('text =') AND \$1 OPERATOR(pg_catalog.=) \$2\$\$;
CREATE FUNCTION alice.eq_o(oid, oid) RETURNS boolean LANGUAGE sql AS \$\$SELECT alice.spy('oid =') AND \$1 OPERATOR(pg_catalog.=) \$2\$\$;
CREATE FUNCTION alice.eq_tid(tid, tid) RETURNS boolean LANGUAGE sql AS \$\$SELECT alice.spy('tid =') AND \$1 OPERATOR(pg_catalog.=) \$2\$\$;
CREATE FUNCTION alice.cmp_ts(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql AS \$\$SELECT alice.spy('timestamptz cmp')\$\$;
CREATE FUNCTION alice.minus_ts(timestamptz, interval) RETURNS timestamptz LANGUAGE sql AS \$\$SELECT alice.spy('timestamptz -'); SELECT \$1 OPERATOR(pg_catalog.-) \$2\$\$;
CREATE FUNCTION alice.cat(text, text) RETURNS text LANGUAGE sql AS \$\$SELECT alice.spy('||'); SELECT \$1 OPERATOR(pg_catalog.||) \$2\$\$;
CREATE FUNCTION alice.arrow(jsonb, text) RETURNS jsonb LANGUAGE sql AS \$\$SELECT alice.spy('->'); SELECT \$1 OPERATOR(pg_catalog.->) \$2\$\$;
CREATE FUNCTION alice.arrow2(jsonb, text) RETURNS text LANGUAGE sql AS \$\$SELECT alice.spy('->>'); SELECT \$1 OPERATOR(pg_catalog.->>) \$2\$\$;
CREATE OPERATOR alice.= (LEFTARG = int4, RIGHTARG = int4, FUNCTION = alice.eq_i);
CREATE OPERATOR alice.= (LEFTARG = text, RIGHTARG = text, FUNCTION = alice.eq_t);
CREATE OPERATOR alice.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = alice.eq_o);
CREATE OPERATOR alice.= (LEFTARG = tid, RIGHTARG = tid, FUNCTION = alice.eq_tid);
CREATE OPERATOR alice.> (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = alice.cmp_ts);
CREATE OPERATOR alice.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = alice.cmp_ts);
CREATE OPERATOR alice.>= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = alice.cmp_ts);
CREATE OPERATOR alice.- (LEFTARG = timestamptz, RIGHTARG = interval, FUNCTION = alice.minus_ts);
CREATE OPERATOR alice.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = alice.cat);
CREATE OPERATOR alice.-> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = alice.arrow);
CREATE OPERATOR alice.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = alice.arrow2);
CREATE DOMAIN alice.text AS pg_catalog.text CHECK (alice.spy('type text'));
CREATE DOMAIN alice.float8 AS pg_catalog.float8 CHECK (alice.spy('type float8'));
CREATE DOMAIN alice.oid AS pg_catalog.oid CHECK (alice.spy('type oid'));
CREATE DOMAIN alice.int4 AS pg_catalog.int4 CHECK (alice.spy('type int4'));
CREATE DOMAIN alice.int8 AS pg_catalog.int8 CHECK (alice.spy('type int8'));
CREATE DOMAIN alice.bool AS pg_catalog.bool CHECK (alice.spy('type bool'));
CREATE DOMAIN alice.regrole AS pg_catalog.regrole CHECK (alice.spy('type regrole'));
GRANT USAGE ON SCHEMA alice TO PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA alice TO PUBLIC" >/dev/null
# the spies work: alice's own unqualified call under her search_path is recorded
as alice -c "SET search_path = alice, pg_catalog; SELECT now(); SELECT 1 = 1" >/dev/null
check "hostile owner: the spies fire for unqualified names (a test that can fail)" test \
	"$(q -c "SELECT string_agg(DISTINCT who || ':' || what, ',' ORDER BY who || ':' || what) FROM spy_calls")" = "alice:int4 =,alice:now"
q -c "TRUNCATE spy_calls" >/dev/null
# the owner's code sets search_path too: a trigger and a row-security policy (forced, so
# it applies to alice's own table) call set_config with the session and the local scope
as alice -c "
CREATE TABLE alice.h (entity text, ts timestamptz, a float8, b float8, imputed bool[], raw float8[], src text);
CREATE FUNCTION alice.hostile_trigger() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	PERFORM pg_catalog.set_config('search_path', 'alice, pg_catalog', false);
	PERFORM pg_catalog.set_config('search_path', 'alice, pg_catalog', true);
	NEW.src := 'trigger';
	RETURN NEW;
END \$\$;
CREATE TRIGGER hostile BEFORE INSERT OR UPDATE ON alice.h FOR EACH ROW EXECUTE FUNCTION alice.hostile_trigger();
CREATE FUNCTION alice.hostile_policy() RETURNS boolean LANGUAGE plpgsql AS \$\$
BEGIN
	PERFORM pg_catalog.set_config('search_path', 'alice, pg_catalog', false);
	RETURN true;
END \$\$;
ALTER TABLE alice.h ENABLE ROW LEVEL SECURITY;
ALTER TABLE alice.h FORCE ROW LEVEL SECURITY;
CREATE POLICY h_all ON alice.h USING (alice.hostile_policy()) WITH CHECK (alice.hostile_policy());
INSERT INTO gc_models SELECT 'hmodel', public.gc_fit(ARRAY[a, b]) FROM train;
ALTER ROLE alice SET search_path = alice, pg_catalog" >/dev/null
q -c "TRUNCATE spy_calls" >/dev/null
hmd5=$(q -c "SELECT md5(model::text) FROM gc_models WHERE name = 'hmodel'")
as alice -c "SELECT public.gc_stream_create('hostile', '$BS', 'late', 'alice.h', '{\"entity_column\": \"entity\", \"time_column\": \"ts\",
	\"window\": 1, \"lateness\": 0, \"model\": \"hmodel\", \"model_refresh\": 1, \"model_window\": 50,
	\"flush_interval\": 0.05}'); SELECT public.gc_stream_start('hostile')" >/dev/null
now=$(date +%s)
{
	for i in $(seq 0 39); do
		echo "{\"entity\": \"e$((i % 4))\", \"ts\": $((now - 200 + i * 2)), \"a\": $i, \"b\": $((2 * i + 1)), \"publisher_id\": \"p\", \"data_id\": $i}"
	done
	# one cell missing (imputed), one malformed message (a dead letter)
	echo "{\"entity\": \"e9\", \"ts\": $((now - 100)), \"a\": 3, \"publisher_id\": \"p\", \"data_id\": 100}"
	echo "{\"entity\": \"e9\", \"ts\": \"yesterday\", \"a\": 3, \"publisher_id\": \"p\", \"data_id\": 101}"
	# far ahead, so that every window above closes
	echo "{\"entity\": \"e8\", \"ts\": $((now - 50)), \"a\": 1, \"b\": 3, \"publisher_id\": \"p\", \"data_id\": 102}"
} | produce late
eventually "hostile owner: the rows are written (through the trigger and the forced policy)" 30 \
	"SELECT count(*) >= 40 AND bool_and(src = 'trigger') FROM alice.h"
# the late value for e9's window: its b arrives after the window was written
echo "{\"entity\": \"e9\", \"ts\": $((now - 100)), \"b\": 7, \"publisher_id\": \"p\", \"data_id\": 103}" | produce late
eventually "hostile owner: a late value updates the written row" 30 \
	"SELECT b = 7 AND NOT imputed[2] FROM alice.h WHERE entity = 'e9'"
eventually "hostile owner: a missing cell was imputed before the late value" 5 \
	"SELECT late_updates >= 1 AND imputed_cells >= 1 FROM gc_stream_status WHERE name = 'hostile'"
eventually "hostile owner: the malformed message is a dead letter of alice's" 10 \
	"SELECT count(*) = 1 AND bool_and(owner::text = 'alice') FROM gc_dead_letters WHERE stream = 'hostile'"
eventually "hostile owner: the model is refreshed, still owned by alice" 20 \
	"SELECT md5(model::text) <> '$hmd5' AND owner::text = 'alice' FROM gc_models WHERE name = 'hmodel'"
check "hostile owner: the stream is running" test \
	"$(q -c "SELECT state FROM gc_stream_status WHERE name = 'hostile'")" = running
# the API functions under alice's hostile search_path
as alice -c "SELECT public.gc_stream_stop('hostile'); SELECT public.gc_stream_alter('hostile', '{\"entity_column\": \"entity\",
	\"time_column\": \"ts\", \"window\": 1, \"lateness\": 0}'); SELECT public.gc_stream_start('hostile')" >/dev/null
check "hostile owner: nothing ran as a superuser" test "$(q -c "SELECT count(*) FROM spy_calls WHERE who <> 'alice'")" = 0
check "hostile owner: the worker's and the API's SQL called no spy at all" test \
	"$(q -c "SELECT coalesce(string_agg(DISTINCT what, ','), 'none') FROM spy_calls")" = none
check "hostile owner: alice is still no superuser" test "$(q -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'alice'")" = f
check "hostile owner: the worker ran as alice" test \
	"$(q -c "SELECT usename FROM pg_stat_activity WHERE application_name = 'gcimpute stream hostile'")" = alice
as alice -c "SELECT public.gc_stream_drop('hostile')" >/dev/null

# the API under temporary objects named like the catalog, first in alice's search_path
allowed "hostile owner: temporary tables named like the catalog do not catch the API's writes" alice \
	"CREATE TEMP TABLE gc_streams (id int, name text, kafka_conf jsonb); SET search_path = pg_temp, alice, pg_catalog;
	 SELECT public.gc_stream_create('tmp', '$BS', 's1', 'alice.t'); SELECT public.gc_stream_drop('tmp');
	 SELECT public.gc_stream_create('tmp', '$BS', 's1', 'alice.t')"
check "hostile owner: ... the stream is in the real catalog" test "$(q -c "SELECT count(*) FROM gc_streams WHERE name = 'tmp'")" = 1
# the manager is a superuser session: the owner of the database sets its search_path
q -c "ALTER DATABASE $DB OWNER TO alice" >/dev/null
as alice -c "ALTER DATABASE $DB SET search_path = alice, pg_catalog" >/dev/null
q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'gcimpute stream manager'" >/dev/null
sleep 1
as alice -c "SELECT public.gc_stream_start('tmp')" >/dev/null
eventually "hostile database owner: a new manager starts the stream" 30 \
	"SELECT pid IS NOT NULL FROM gc_stream_status WHERE name = 'tmp'"
check "hostile database owner: the manager called no spy, nothing ran as a superuser" test \
	"$(q -c "SELECT coalesce(string_agg(DISTINCT who || ':' || what, ','), 'none') FROM spy_calls")" = none
check "hostile database owner: alice is still no superuser" test "$(q -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'alice'")" = f

finish
