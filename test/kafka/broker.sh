#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, combined broker+controller) on 127.0.0.1 for
# development and integration tests, without Docker and without the release tarball: the
# broker's jars come from Maven Central through test/kafka/pom.xml (resolved once into a cache
# directory, offline afterwards), the storage is formatted with kafka.tools.StorageTool and the
# broker runs as `java kafka.Kafka server.properties` with a small heap.
#
#   test/kafka/broker.sh start   [DIR]              format (first time) and start, wait until ready
#   test/kafka/broker.sh stop    [DIR]              SIGTERM, SIGKILL after KAFKA_STOP_TIMEOUT s
#   test/kafka/broker.sh status  [DIR]              exit 0 and print pid/bootstrap if running
#   test/kafka/broker.sh topic   NAME PARTS [DIR]   create a topic (idempotent)
#   test/kafka/broker.sh offsets NAME [DIR]         print "topic:partition:end_offset" lines
#   test/kafka/broker.sh jars                       resolve the jars only, print their directory
#   test/kafka/broker.sh bootstrap [DIR]            print host:port of the broker
#
# Environment:
#   KAFKA_PORT (19092)   KAFKA_CONTROLLER_PORT (KAFKA_PORT+1)   KAFKA_VERSION (3.9.0)
#   KAFKA_JARS  jar cache (default ~/.cache/gcimpute/kafka-$KAFKA_VERSION)
#   KAFKA_HEAP_OPTS (-Xms128m -Xmx512m)   KAFKA_JVM_OPTS (extra JVM flags)
#   KAFKA_EXTRA_PROPS  extra server.properties lines (newline separated), applied at start
#   KAFKA_START_TIMEOUT (90)   KAFKA_STOP_TIMEOUT (30)
# DIR defaults to $GC_TEST_TMP/kafka, else /tmp/gcimpute-kafka-$KAFKA_PORT. It holds
# server.properties, log4j.properties, data/ (the log dirs), server.log, gc.log and kafka.pid.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

KAFKA_VERSION=${KAFKA_VERSION:-3.9.0}
KAFKA_PORT=${KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
KAFKA_JARS=${KAFKA_JARS:-${HOME:-/root}/.cache/gcimpute/kafka-$KAFKA_VERSION}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}
KAFKA_START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
KAFKA_STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
# Client tools are short-lived JVMs: C1 only and a tiny heap start them noticeably faster.
TOOL_OPTS=(-Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Dlog4j.configuration=file:"$here/log4j-tools.properties")

die() { echo "broker.sh: $*" >&2; exit 1; }

default_dir() {
	if [ -n "${GC_TEST_TMP:-}" ]; then echo "$GC_TEST_TMP/kafka"; else echo "/tmp/gcimpute-kafka-$KAFKA_PORT"; fi
}

# Resolve the broker's jars once. The stamp records the version so that a version change
# resolves again; without the stamp nothing is trusted (an interrupted copy is redone).
resolve_jars() {
	local stamp=$KAFKA_JARS/.resolved
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$KAFKA_VERSION" ]; then
		return 0
	fi
	command -v mvn >/dev/null || die "mvn not found (install the Debian package maven)"
	command -v java >/dev/null || die "java not found (install default-jdk-headless)"
	# A private temporary directory, renamed into place: two resolutions running at once
	# (several worktrees share the cache) cannot mix their files.
	local tmp
	mkdir -p "$(dirname "$KAFKA_JARS")"
	tmp=$(mktemp -d "$KAFKA_JARS.tmp.XXXXXX")
	echo "broker.sh: resolving Apache Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_JARS" >&2
	if ! mvn -B -q -Dstyle.color=never -f "$here/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
		dependency:copy-dependencies -DincludeScope=runtime \
		-DoutputDirectory="$tmp" >"$tmp.log" 2>&1; then
		cat "$tmp.log" >&2
		rm -rf "$tmp" "$tmp.log"
		die "maven could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION"
	fi
	rm -f "$tmp.log"
	ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || { rm -rf "$tmp"; die "resolution produced no kafka_2.13 jar"; }
	echo "$KAFKA_VERSION" >"$tmp/.resolved"
	chmod 755 "$tmp"
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$KAFKA_VERSION" ]; then
		rm -rf "$tmp"	# someone else finished first
		return 0
	fi
	rm -rf "$KAFKA_JARS"
	mv -T "$tmp" "$KAFKA_JARS" 2>/dev/null || rm -rf "$tmp"
	[ -f "$stamp" ] || die "could not install the jars into $KAFKA_JARS"
}

cp_arg() { echo "$KAFKA_JARS/*"; }

tool() {
	java "${TOOL_OPTS[@]}" -cp "$(cp_arg)" "$@"
}

pid_of() {
	local dir=$1 pid
	[ -f "$dir/kafka.pid" ] || return 1
	pid=$(cat "$dir/kafka.pid")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	# Guard against a recycled pid: it must be our JVM for this directory.
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $dir/server.properties" || return 1
	echo "$pid"
}

bootstrap_of() {
	local dir=$1
	if [ -f "$dir/bootstrap" ]; then cat "$dir/bootstrap"; else echo "127.0.0.1:$KAFKA_PORT"; fi
}

port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

write_config() {
	local dir=$1
	cat >"$dir/server.properties" <<EOF
# Written by test/kafka/broker.sh: single-node KRaft, loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
# Few internal partitions: the first consumer group / transaction comes up much faster.
offsets.topic.num.partitions=4
transaction.state.log.num.partitions=4
# Tests: no 3 s wait before the first group rebalance.
group.initial.rebalance.delay.ms=0
# Few threads on a small shared machine.
num.network.threads=2
num.io.threads=4
background.threads=2
num.recovery.threads.per.data.dir=1
# Test data never expires: the simulator stamps fixed event dates, and retention by
# record time would delete them once those dates are a day old.
log.retention.ms=-1
log.retention.bytes=-1
EOF
	if [ -n "${KAFKA_EXTRA_PROPS:-}" ]; then
		printf '%s\n' "# KAFKA_EXTRA_PROPS" "$KAFKA_EXTRA_PROPS" >>"$dir/server.properties"
	fi
	cat >"$dir/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$dir/server.log
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.controller=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.controller=INFO
EOF
	echo "127.0.0.1:$KAFKA_PORT" >"$dir/bootstrap"
}

# One real request through the AdminClient: the broker is up only when it answers.
broker_answers() {
	local bs=$1
	tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bs" --list >/dev/null 2>&1
}

cmd_start() {
	local dir=$1 pid
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if pid=$(pid_of "$dir"); then
		echo "broker.sh: already running (pid $pid) at $(bootstrap_of "$dir")"
		return 0
	fi
	resolve_jars
	for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
		port_busy "$p" && die "port $p on 127.0.0.1 is already in use (set KAFKA_PORT / KAFKA_CONTROLLER_PORT)"
	done
	write_config "$dir"
	if [ ! -f "$dir/data/meta.properties" ]; then
		local id
		id=$(tool kafka.tools.StorageTool random-uuid) || die "StorageTool random-uuid failed"
		tool kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" \
			>"$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; die "StorageTool format failed"; }
		echo "$id" >"$dir/cluster.id"
	fi
	local t0=$SECONDS
	# setsid: the broker survives the shell that started it and gets no terminal signals.
	# shellcheck disable=SC2086
	setsid java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-Xlog:gc:file="$dir/gc.log":time:filecount=2,filesize=10M \
		-Djava.awt.headless=true -Dlog4j.configuration=file:"$dir/log4j.properties" \
		-Dkafka.logs.dir="$dir" ${KAFKA_JVM_OPTS:-} \
		-cp "$(cp_arg)" kafka.Kafka "$dir/server.properties" \
		>"$dir/stdout.log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$dir/kafka.pid"
	local bs
	bs=$(bootstrap_of "$dir")
	# Wait for the listener, then for one answered admin request.
	while :; do
		kill -0 "$pid" 2>/dev/null || {
			tail -n 30 "$dir/stdout.log" "$dir/server.log" >&2 2>/dev/null
			die "broker exited during start (see $dir/server.log)"
		}
		if port_busy "$KAFKA_PORT" && grep -q 'Kafka Server started' "$dir/server.log" 2>/dev/null &&
			broker_answers "$bs"; then
			break
		fi
		if [ $((SECONDS - t0)) -ge "$KAFKA_START_TIMEOUT" ]; then
			cmd_stop "$dir" >/dev/null 2>&1 || true
			die "broker not ready after ${KAFKA_START_TIMEOUT}s (see $dir/server.log)"
		fi
		sleep 0.3
	done
	echo "broker.sh: started pid $pid at $bs in $((SECONDS - t0))s (dir $dir)"
}

cmd_stop() {
	local dir=$1 pid i
	dir=$(cd "$dir" 2>/dev/null && pwd) || { echo "broker.sh: not running (no $1)"; return 0; }
	if ! pid=$(pid_of "$dir"); then
		echo "broker.sh: not running"
		rm -f "$dir/kafka.pid"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < KAFKA_STOP_TIMEOUT * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "broker.sh: pid $pid did not stop in ${KAFKA_STOP_TIMEOUT}s, killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
		while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	fi
	rm -f "$dir/kafka.pid"
	echo "broker.sh: stopped pid $pid"
}

cmd_status() {
	local dir=$1 pid
	if pid=$(pid_of "$dir"); then
		echo "running pid=$pid bootstrap=$(bootstrap_of "$dir") dir=$dir"
		return 0
	fi
	echo "stopped dir=$dir"
	return 3
}

cmd_topic() {
	local name=$1 parts=$2 dir=$3
	[[ "$parts" =~ ^[1-9][0-9]*$ ]] || die "PARTITIONS must be a positive integer, got '$parts'"
	pid_of "$dir" >/dev/null || die "no broker running in $dir"
	resolve_jars
	tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(bootstrap_of "$dir")" \
		--create --if-not-exists --topic "$name" --partitions "$parts" --replication-factor 1
}

cmd_offsets() {
	local name=$1 dir=$2
	pid_of "$dir" >/dev/null || die "no broker running in $dir"
	resolve_jars
	tool org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$(bootstrap_of "$dir")" \
		--topic "$name" --time -1
}

[ $# -ge 1 ] || { sed -n '2,25p' "$0"; exit 2; }
cmd=$1
shift
case "$cmd" in
	start) cmd_start "${1:-$(default_dir)}" ;;
	stop) cmd_stop "${1:-$(default_dir)}" ;;
	status) cmd_status "${1:-$(default_dir)}" ;;
	topic)
		[ $# -ge 2 ] || die "usage: broker.sh topic NAME PARTITIONS [DIR]"
		cmd_topic "$1" "$2" "${3:-$(default_dir)}"
		;;
	offsets)
		[ $# -ge 1 ] || die "usage: broker.sh offsets NAME [DIR]"
		cmd_offsets "$1" "${2:-$(default_dir)}"
		;;
	jars) resolve_jars && echo "$KAFKA_JARS" ;;
	bootstrap) bootstrap_of "${1:-$(default_dir)}" ;;
	*) die "unknown command '$cmd' (start|stop|status|topic|offsets|jars|bootstrap)" ;;
esac
