#!/usr/bin/env bash
# Kafka test infrastructure: the sensor simulator (determinism, statistics), the real
# single-node KRaft broker of test/kafka/broker.sh (start, topics, restart, stop), that
# everything the simulator reports as sent is on the topic byte for byte and reads back
# to exactly the rows of its truth file (JSON and CSV), and a librdkafka mock-cluster
# fault smoke test. Broker port: KAFKA_PORT (default 19092) and KAFKA_PORT+1.
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$TOP"
GC_TEST_TMP=${GC_TEST_TMP:-/tmp/gcimpute-test-$$}
VENV=${VENV:-$TOP/.venv}
PY=$VENV/bin/python
[ -x "$PY" ] || PY=/usr/bin/python3
export KAFKA_PORT=${KAFKA_PORT:-19092}
BS=127.0.0.1:$KAFKA_PORT
W=$GC_TEST_TMP/kafka-suite
KDIR=$W/broker
rm -rf "$W"
mkdir -p "$W"
SIM=test/sim/bin/gc_sensor_sim
KDUMP=test/kafka/bin/kdump
MOCK=test/kafka/bin/mock_cluster
pass=0 fail=0
. test/lib.sh
mock_pid=
cleanup() {
	[ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null
	bash test/kafka/broker.sh stop "$KDIR" >/dev/null 2>&1
}
trap cleanup EXIT

# ---- build -------------------------------------------------------------------------
if make -s -C test/sim >/dev/null && make -s -C test/kafka >/dev/null; then
	ok "build simulator, kdump, mock_cluster"
else
	notok "build simulator, kdump, mock_cluster"
	echo "SUITE passed=$pass failed=$fail"
	exit 1
fi

# ---- simulator without a broker ------------------------------------------------------
DR=(--dry-run --quiet --entities 7 --count 5000 --drop 0.2 --split 0.3 --lose 0.1 --dup 0.2
	--malformed 0.05 --start-time 2026-11-22T03:00:00Z)
d1=$($SIM "${DR[@]}" --seed 11 | val digest /dev/stdin)
d2=$($SIM "${DR[@]}" --seed 11 | val digest /dev/stdin)
d3=$($SIM "${DR[@]}" --seed 12 | val digest /dev/stdin)
check "simulator is deterministic per seed" test -n "$d1" -a "$d1" = "$d2" -a "$d1" != "$d3"
$SIM "${DR[@]}" --seed 11 --print-truth "$W/t1.csv" >/dev/null
$SIM "${DR[@]}" --seed 11 --drop 0.5 --lose 0 --split 0 --print-truth "$W/t2.csv" >/dev/null
check "true values do not depend on the damage options" \
	cmp -s <(cut -d, -f1,2,5- "$W/t1.csv") <(cut -d, -f1,2,5- "$W/t2.csv")
check "bad options are refused" bash -c \
	"! $SIM --dry-run --drop 2 2>/dev/null && ! $SIM --dry-run --columns 'a:foo(1)' 2>/dev/null &&
	 ! $SIM --dry-run --corr 1.5 2>/dev/null && ! $SIM --dry-run --corr -0.9 --columns 3 2>/dev/null"

# Split rows with jittered time stamps must be assembled by event-time window.
$SIM --dry-run --quiet --entities 5 --count 2000 --seed 9 --split 0.5 --drop 0.1 --dup 0.1 --lose 0.05 \
	--malformed 0.03 --ts-jitter 400 --start-time 2026-11-22T03:00:00Z --delay-scale 0.01 \
	--print-truth "$W/jt.csv" --out "$W/jo.txt" >"$W/jr.txt"
check "jittered split rows assemble per 1 s window (and not per exact ts)" bash -c \
	"'$PY' test/sim/check_stream.py --window 1000 --dump '$W/jo.txt' --truth '$W/jt.csv' --report '$W/jr.txt' &&
	 ! '$PY' test/sim/check_stream.py --dump '$W/jo.txt' --truth '$W/jt.csv' --report '$W/jr.txt' >/dev/null"

# Statistics of a large dry run: damage rates and the copula's correlation.
$SIM --dry-run --quiet --entities 50 --count 40000 --columns 'a:normal(0,1),b:normal(5,2),c:exp(1),d:uniform(0,1),e:ordinal(4)' \
	--corr random --seed 3 --drop 0.2 --lose 0.1 --dup 0.15 --malformed 0.1 --split 0.25 \
	--print-truth "$W/stat_truth.csv" --print-sigma "$W/stat_sigma.csv" >"$W/stat.txt"
check "damage rates and copula correlation within bounds" "$PY" - "$W/stat.txt" "$W/stat_truth.csv" "$W/stat_sigma.csv" <<'EOF'
import sys, csv, math
import numpy as np
from scipy.stats import norm
rep = dict(l.strip().split("=", 1) for l in open(sys.argv[1]) if "=" in l)
r = {k: float(v) for k, v in rep.items() if k != "digest"}
bad = []
def near(name, got, want, tol):
    if abs(got - want) > tol:
        bad.append("%s=%.4f, expected %.4f +- %.4f" % (name, got, want, tol))
near("drop rate", r["cells_dropped"] / r["cells"], 0.2, 0.01)
near("loss rate", r["lost"] / r["valid_messages"], 0.1, 0.01)
near("dup rate", r["duplicates"] / r["valid_sent"], 0.15, 0.01)
near("malformed share", r["malformed"] / (r["malformed"] + r["valid_messages"]), 0.1, 0.01)
near("split rate", r["rows_split"] / r["rows"], 0.25, 0.01)
rows = list(csv.reader(open(sys.argv[2])))[1:]
x = np.array([[float(v) for v in t[4:]] for t in rows])
sig = np.loadtxt(sys.argv[3], delimiter=",", skiprows=1)
# normal scores of the continuous columns: exact inverses of their marginals
z = np.column_stack([x[:, 0], (x[:, 1] - 5) / 2, norm.ppf(1 - np.exp(-x[:, 2])), norm.ppf(x[:, 3])])
z = z[np.all(np.isfinite(z), axis=1)]
c = np.corrcoef(z, rowvar=False)
err = np.abs(c - sig[:4, :4]).max()
if err > 0.03:
    bad.append("max |corr - Sigma| = %.3f" % err)
if abs(np.std(x[:, 0]) - 1) > 0.03 or abs(np.mean(x[:, 1]) - 5) > 0.05:
    bad.append("normal marginals off")
levels = np.bincount(x[:, 4].astype(int), minlength=5)[1:] / len(x)
if np.abs(levels - 0.25).max() > 0.01:
    bad.append("ordinal levels %s" % levels)
print("  stats: corr err %.4f, ordinal levels %s" % (err, np.round(levels, 3)))
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
EOF

# ---- real broker ---------------------------------------------------------------------
t0=$(date +%s.%N)
if bash test/kafka/broker.sh start "$KDIR"; then
	ok "broker starts ($(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)") s including jar check)"
else
	notok "broker starts"
	echo "SUITE passed=$pass failed=$fail"
	exit 1
fi
check "broker status reports running" bash test/kafka/broker.sh status "$KDIR"
check "topic creation (and again, idempotent)" bash -c \
	"bash test/kafka/broker.sh topic sim_json 3 '$KDIR' >/dev/null && bash test/kafka/broker.sh topic sim_json 3 '$KDIR' >/dev/null &&
	 bash test/kafka/broker.sh topic sim_csv 2 '$KDIR' >/dev/null && bash test/kafka/broker.sh topic sim_delay 1 '$KDIR' >/dev/null"
check "offsets of a new topic are 0" bash -c \
	"[ \"\$(bash test/kafka/broker.sh offsets sim_json '$KDIR' | cut -d: -f3 | paste -sd+ | bc)\" = 0 ]"

for fmt in json csv; do
	$SIM --brokers "$BS" --topic "sim_$fmt" --format "$fmt" --entities 20 --count 4000 --seed 7 \
		--drop 0.15 --split 0.2 --lose 0.05 --dup 0.1 --malformed 0.05 --delay-scale 0.002 \
		--print-truth "$W/truth_$fmt.csv" --out "$W/sent_$fmt.txt" >"$W/rep_$fmt.txt" 2>"$W/sim_$fmt.err"
	rc=$?
	check "$fmt: simulator delivered everything (exit $rc, $(val total_sent "$W/rep_$fmt.txt") messages, $(val msgs_per_sec "$W/rep_$fmt.txt") msg/s)" \
		test "$rc" = 0 -a "$(val failed "$W/rep_$fmt.txt")" = 0 \
		-a "$(val delivered "$W/rep_$fmt.txt")" = "$(val total_sent "$W/rep_$fmt.txt")"
	$KDUMP -b "$BS" "sim_$fmt" >"$W/dump_$fmt.txt" 2>/dev/null
	check "$fmt: topic end offsets sum to the reported total" test \
		"$(bash test/kafka/broker.sh offsets "sim_$fmt" "$KDIR" | cut -d: -f3 | paste -sd+ | bc)" = "$(val total_sent "$W/rep_$fmt.txt")"
	check "$fmt: the topic holds exactly the messages sent, byte for byte" \
		cmp -s <(sort "$W/sent_$fmt.txt") <(sort "$W/dump_$fmt.txt")
	check "$fmt: topic reads back to the truth rows, dead letters and duplicates reported" \
		"$PY" test/sim/check_stream.py --format "$fmt" --dump "$W/dump_$fmt.txt" \
		--truth "$W/truth_$fmt.csv" --report "$W/rep_$fmt.txt" --expected "$W/expected_$fmt.csv"
done
# The check must be able to fail: drop one valid message from the dump.
grep -n '"data_id":' "$W/dump_json.txt" | grep -v pad | head -1 | cut -d: -f1 >"$W/victim"
sed "$(cat "$W/victim")d" "$W/dump_json.txt" >"$W/dump_bad.txt"
check "check_stream detects a missing message" bash -c \
	"! '$PY' test/sim/check_stream.py --dump '$W/dump_bad.txt' --truth '$W/truth_json.csv' --report '$W/rep_json.txt' >/dev/null"

# Delivery delays: Kafka timestamps are event time + lognormal delay (virtual clock).
$SIM --brokers "$BS" --topic sim_delay --entities 5 --count 3000 --seed 5 --drop 0 --delay-max 0 \
	--start-time 2026-11-22T00:00:00Z >"$W/rep_delay.txt" 2>/dev/null
$KDUMP -b "$BS" -T sim_delay >"$W/dump_delay.txt" 2>/dev/null
check "delays are lognormal(-0.2359, 1.8964) s (the paper's fit)" "$PY" - "$W/dump_delay.txt" <<'EOF'
import sys, json, math, datetime
import numpy as np
d = []
for line in open(sys.argv[1]):
    kts, _key, payload = line.rstrip("\n").split("\t", 2)
    ev = datetime.datetime.strptime(json.loads(payload)["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
    ev_ms = (ev - datetime.datetime(1970, 1, 1)).total_seconds() * 1000
    d.append((int(kts) - ev_ms) / 1000.0)
d = np.array(d)
l = np.log(d[d > 0.002])
print("  delays: n=%d median %.3f s, log-mean %.3f, log-sd %.3f, max %.0f s" % (len(d), np.median(d), l.mean(), l.std(), d.max()))
sys.exit(0 if len(d) == 3000 and abs(l.mean() + 0.2359) < 0.12 and abs(l.std() - 1.8964) < 0.1 else 1)
EOF

# Real-time pacing: 600 rows at 1500 rows/s take about 0.4 s.
$SIM --brokers "$BS" --topic sim_delay --rate 1500 --count 600 --entities 3 --delay-scale 0 >"$W/rep_rate.txt" 2>/dev/null
check "real-time rate is kept ($(val seconds "$W/rep_rate.txt") s for 600 rows at 1500/s)" \
	"$PY" -c "import sys; s=float('$(val seconds "$W/rep_rate.txt")'); sys.exit(0 if 0.35 <= s <= 1.5 else 1)"

# Restart: the data survives a clean stop and start.
t0=$(date +%s.%N)
bash test/kafka/broker.sh stop "$KDIR" >/dev/null
t1=$(date +%s.%N)
bash test/kafka/broker.sh start "$KDIR" >/dev/null
t2=$(date +%s.%N)
n=$($KDUMP -b "$BS" sim_json 2>/dev/null | wc -l)
check "broker restart keeps the topic (stop $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s, start $(printf '%.1f' "$(echo "$t2 - $t1" | bc)") s, $n messages)" \
	test "$n" = "$(val total_sent "$W/rep_json.txt")"

kpid=$(cat "$KDIR/kafka.pid" 2>/dev/null)
bash test/kafka/broker.sh stop "$KDIR" >/dev/null
check "broker stopped, its JVM (pid $kpid) is gone" bash -c \
	"! bash test/kafka/broker.sh status '$KDIR' >/dev/null && [ -n '$kpid' ] && ! kill -0 '$kpid' 2>/dev/null"

# ---- mock cluster fault smoke test ---------------------------------------------------
rm -f "$W/mock.in"
mkfifo "$W/mock.in"
$MOCK -n 2 -t faults:2 <"$W/mock.in" >"$W/mock.out" 2>"$W/mock.err" &
mock_pid=$!
exec 3>"$W/mock.in"
for _ in $(seq 50); do grep -q '^bootstrap=' "$W/mock.out" && break; sleep 0.1; done
MBS=$(sed -n 's/^bootstrap=//p' "$W/mock.out" | head -1)
mock() { # mock "command" expected-reply-regex
	local before
	before=$(wc -l <"$W/mock.out")
	echo "$1" >&3
	for _ in $(seq 50); do
		[ "$(wc -l <"$W/mock.out")" -gt "$before" ] && break
		sleep 0.1
	done
	tail -n +$((before + 1)) "$W/mock.out" | head -1 | grep -qE "$2"
}
msim() { $SIM --brokers "$MBS" --topic faults --entities 4 --delay-scale 0 --quiet "$@"; }
check "mock cluster starts with two brokers" test "$(tr ',' '\n' <<<"$MBS" | grep -c '^127.0.0.1:')" = 2
msim --count 300 --seed 1 >"$W/m1.txt" 2>/dev/null
check "mock: 300 messages produced and read back" test \
	"$(val delivered "$W/m1.txt")" = 300 -a "$($KDUMP -b "$MBS" faults 2>/dev/null | wc -l)" = 300
# Both brokers down: the producer waits; back up: everything is delivered once.
mock2() { mock "$1" '^ok' && mock "$2" '^ok'; }
check "mock: brokers go down" mock2 'down 1' 'down 2'
msim --count 300 --seed 2 -X message.timeout.ms=60000 >"$W/m2.txt" 2>"$W/m2.err" &
spid=$!
sleep 2
check "mock: the producer is blocked while the brokers are down" kill -0 "$spid"
mock 'up 1' '^ok' && mock 'up 2' '^ok'
wait "$spid"
check "mock: after the brokers return every message is delivered exactly once" test \
	"$(val delivered "$W/m2.txt")" = 300 -a "$(val failed "$W/m2.txt")" = 0 \
	-a "$($KDUMP -b "$MBS" faults 2>/dev/null | wc -l)" = 600
# Retriable request errors and a slow broker: delivered, later.
check "mock: inject retriable produce errors" mock 'error Produce NOT_LEADER_FOR_PARTITION 4' '^ok NOT_LEADER_FOR_PARTITION x4'
check "mock: 300 ms RTT on both brokers" mock2 'rtt 1 300' 'rtt 2 300'
msim --count 200 --seed 3 >"$W/m3.txt" 2>/dev/null
check "mock: delivered despite errors and latency ($(val seconds "$W/m3.txt") s)" "$PY" -c \
	"import sys; sys.exit(0 if '$(val delivered "$W/m3.txt")' == '200' and float('$(val seconds "$W/m3.txt")') >= 0.3 else 1)"
mock 'rtt 1 0' '^ok' && mock 'rtt 2 0' '^ok'
# A non-retriable error is reported as a failure, not hidden.
mock 'error Produce TOPIC_AUTHORIZATION_FAILED 1000' '^ok'
msim --count 20 --seed 4 >"$W/m4.txt" 2>/dev/null
rc=$?
check "mock: a fatal produce error makes the simulator fail (exit $rc, failed=$(val failed "$W/m4.txt"))" \
	test "$rc" = 1 -a "$(val failed "$W/m4.txt")" -gt 0
badcmds() { mock 'clear Produce' '^ok' && mock 'down x' '^error' && mock 'frobnicate' '^error' &&
	mock 'error Produce NO_SUCH_ERROR' '^error'; }
check "mock: bad commands are answered with an error" badcmds
mock quit '^ok'
exec 3>&-
wait "$mock_pid" 2>/dev/null
check "mock cluster exits on quit" bash -c "! kill -0 $mock_pid 2>/dev/null"
mock_pid=

echo "SUITE passed=$pass failed=$fail"
