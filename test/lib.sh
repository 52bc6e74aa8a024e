#!/usr/bin/env bash
# Helpers of the shell test suites (source it; the psql helpers need test/pg.sh first).
# The caller keeps the pass/fail counts, and for q: PGD (cluster dir), PORT, DB.

ok() { echo "ok - $*"; pass=$((pass + 1)); }
notok() { echo "not ok - $*"; fail=$((fail + 1)); }
check() { # check "description" command...
	local d=$1
	shift
	if "$@"; then ok "$d"; else notok "$d"; fi
}
val() { sed -n "s/^$1=//p" "$2"; } # val KEY REPORTFILE
# finish: the suite's result line and exit status
finish() {
	echo "SUITE passed=$pass failed=$fail"
	exit $([ "$fail" -eq 0 ] && echo 0 || echo 1)
}
q() { "$PG_BINDIR/psql" -h "$PGD" -p "$PORT" -U postgres -d "${QDB:-$DB}" -XAtq -v ON_ERROR_STOP=1 "$@"; }
# server_procs: "pid args" of the processes of the cluster in PGD (the postmaster's
# children: other clusters on the machine may run streams of the same names)
server_procs() {
	local pm
	pm=$(head -1 "$PGD/data/postmaster.pid" 2>/dev/null) && [ -n "$pm" ] && ps -o pid=,args= --ppid "$pm"
}
# workers STREAM: pids of the stream's worker processes
workers() { server_procs | grep -E "postgres: gcimpute stream $1( |$)" | awk '{print $1}'; }
# committed STREAM: the sum of its committed offsets
committed() {
	q -c "SELECT coalesce((SELECT sum(x) FROM unnest(committed_offsets) x), 0) FROM gc_stream_status WHERE name = '$1'"
}

# wait_for SECONDS command...: poll every 0.1 s until the command succeeds
wait_for() {
	local limit=$1 i
	shift
	for ((i = 0; i < limit * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# wait_done STREAM TOTAL [SECONDS]: all TOTAL messages committed and no row pending.
wait_done() {
	local s=$1 total=$2 limit=${3:-60} i r
	for ((i = 0; i < limit * 5; i++)); do
		r=$(q -c "SELECT coalesce((SELECT sum(x) FROM unnest(committed_offsets) x), 0) || ' ' || coalesce(pending_rows, 0)
				  FROM gc_stream_status WHERE name = '$s'" 2>/dev/null)
		[ "$r" = "$total 0" ] && return 0
		sleep 0.2
	done
	echo "  $s: committed/pending = $r, want $total 0"
	q -c "SELECT state, last_error FROM gc_stream_status WHERE name = '$s'"
	return 1
}

# topic_holds TOPIC N: the topic (read from its log start) holds exactly N messages; every
# check on what a stream wrote starts with this, so data the broker lost fails loudly.
topic_holds() {
	local n
	n=$("$TOP/test/kafka/bin/kdump" -b "$BS" "$1" 2>/dev/null | wc -l)
	[ "$n" = "$2" ] || { echo "  topic $1 holds $n messages, $2 were produced"; return 1; }
}

# build_stream_tools TOOL: the simulator, kdump and kafka_tool (built as TOOL), counted as
# a check; a suite that cannot have them ends here.
build_stream_tools() {
	if make -s -C "$TOP/test/sim" >/dev/null && make -s -C "$TOP/test/kafka" >/dev/null &&
		gcc -O2 -Wall -Werror -o "$1" "$TOP/test/stream/kafka_tool.c" -lrdkafka; then
		ok "build simulator, kdump, kafka_tool"
	else
		notok "build simulator, kdump, kafka_tool"
		finish
	fi
}

# start_broker DIR: a broker (test/kafka/broker.sh) in DIR, counted as a check; a suite
# that cannot have one ends here.
start_broker() {
	if ! bash "$TOP/test/kafka/broker.sh" start "$1" >"$1.out" 2>&1; then
		notok "broker starts"
		tail -5 "$1.out"
		finish
	fi
	ok "broker starts"
}

# The stream suites' sensor table (test/sim's eight columns) and its checks. They use the
# suite's W (work dir), PY (python), BS (bootstrap servers) and KDUMP.
# mktable NAME: a target with the recommended shape (imputed bool[], raw float8[])
mktable() {
	q -c "CREATE TABLE $1 (entity text, ts timestamptz, temp float8, hum float8, pres float8, light float8,
			co2 float8, noise float8, vib float8, door float8, imputed bool[], raw float8[])"
}
# expected_rows TOPIC FORMAT TRUTH REPORT OUT: the rows the topic must produce. First a
# check that the topic still holds every message produced (a broker that expired them
# would make the expected rows wrong, not the table).
expected_rows() {
	"${KDUMP:-$TOP/test/kafka/bin/kdump}" -b "$BS" "$1" >"$W/$1.dump" 2>/dev/null
	check "$1: the topic still holds the $(val total_sent "$4") messages produced" \
		test "$(wc -l <"$W/$1.dump")" = "$(val total_sent "$4")"
	"$PY" test/sim/check_stream.py --format "$2" --dump "$W/$1.dump" --truth "$3" --report "$4" \
			--expected "$5" >"$W/$1.check"
}
# table_matches TABLE EXPECTED [--imputed]: the table equals the expected rows, cell by cell
table_matches() {
	q -c "\\copy (SELECT entity, extract(epoch FROM ts), temp, hum, pres, light, co2, noise, vib, door, imputed FROM $1) TO '$W/$1.csv' CSV" &&
		"$PY" test/stream/compare.py "$2" "$W/$1.csv" "${@:3}"
}
