#!/usr/bin/env python3
"""Stream ingest benchmark: sustained rate of a stream worker next to a plain COPY of the
same rows into the same kind of table, measured in the same run, and end-to-end latency at
a paced rate.

  throughput  --rows JSON messages of 8 numeric fields (10% of the cells dropped, so the
              model imputes them), each with (publisher_id, data_id), are put on a topic of
              --partitions partitions first; then a stream with dedup and imputation on
              ingests them (one row per message) and the time from gc_stream_start to the
              last committed offset gives messages/s.  The same rows (as CSV, NULL for a
              dropped cell) are then loaded with COPY ... FROM STDIN into an identical table
              (publisher_id text, data_id bigint, c1 ... c8 float8, imputed bool[],
              raw float8[]).  --rounds repeats the pair and reports the median ratio; the
              server runs with fsync and synchronous_commit on (--durability relaxed: off).
              --workers 1,2 runs the stream with one and with two workers in each round
              (the "workers" option), each against the round's COPY; the CPU per message
              counts every worker.
  latency     test/stream/kafka_tool paces --rate messages/s for --seconds s; each row
              records the Kafka timestamp of its message and clock_timestamp() when the
              worker wrote it: produce-to-written p50/p99, plus the worker's own
              produce-to-committed histogram (gc_stream_status.latency_p50_ms/_p99_ms).

It starts its own broker (test/kafka/broker.sh, KAFKA_PORT, default 19194) and its own server
(--port, default 55604) with shared_preload_libraries=gcimpute, and stops both at the end.

    .venv/bin/python test/bench/bench_ingest.py [--rows 1000000] [--rate 10000] [--seconds 20]
        [--rounds 3] [--workers 1,2] [--durability default|relaxed] [--figures docs/figures] [--json out.json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import psycopg

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def sh(cmd, **kw):
    return subprocess.run(["bash", "-c", cmd], check=True, **kw)


def pg(cmd):
    sh(f". '{TOP}/test/pg.sh' && {cmd}")


def cpu_seconds(pids):
    """user + system CPU seconds of the processes (all their threads) so far"""
    tck = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tck
        except (OSError, IndexError):
            pass
    return total


def broker_pids(kdir):
    try:
        with open(f"{kdir}/kafka.pid") as f:
            return [int(f.read().split()[0])]
    except (OSError, ValueError, IndexError):
        return []


def wait_committed(conn, name, total, timeout, samples=None):
    t0 = time.time()
    while time.time() - t0 < timeout:
        r = conn.execute("""SELECT coalesce((SELECT sum(x) FROM unnest(committed_offsets) x), 0), state, last_error
                            FROM gc_stream_status WHERE name = %s""", (name,)).fetchone()
        if samples is not None:
            samples.append((time.time(), int(r[0])))
        if r[0] >= total:
            return time.time()
        time.sleep(0.05)
    raise SystemExit(f"stream {name}: only {r[0]} of {total} committed after {timeout}s ({r[1]}: {r[2]})")


def temporal_vs_plain(conn, bs, total):
    """Stream the topic again with entity and time columns, once with the plain model and
    once with a temporal one (each row imputed from its entity's earlier rows); both are
    fitted on the same truth rows. Returns the rates and their ratio."""
    cols = ", ".join(f"c{i}" for i in range(1, 9))
    conn.execute("INSERT INTO gc_models SELECT 'bench_t', gc_fit_series(entity, ts::timestamptz, ARRAY["
                 + cols + "], '{\"lags\": 2}' ORDER BY ts::timestamptz) "
                 "FROM (SELECT * FROM truth ORDER BY ts LIMIT 20000) t")
    out = {}
    for name, model in (("plain", "bench"), ("temporal", "bench_t")):
        table = f"ingest_{name}"
        conn.execute(f"CREATE TABLE {table} (entity text, ts timestamptz, "
                     + ", ".join(f"c{i} float8" for i in range(1, 9)) + ", imputed bool[], raw float8[])")
        conn.execute(f"SELECT gc_stream_create(%s, %s, 'ingest', %s, "
                     "'{\"entity_column\": \"entity\", \"time_column\": \"ts\", \"window\": 1, "
                     "\"lateness\": 0.5, \"batch_size\": 20000, \"model\": \"" + model + "\"}')",
                     (table, bs, table))
        t0 = time.time()
        conn.execute("SELECT gc_stream_start(%s)", (table,))
        t1 = wait_committed(conn, table, total, 900)
        rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        conn.execute("SELECT gc_stream_stop(%s)", (table,))
        out[f"{name}_entity_rows_per_s"] = round(rows / (t1 - t0))
        print(f"entity/time stream, {name} model: {rows} rows in {t1 - t0:.2f}s = {rows / (t1 - t0):,.0f} rows/s",
              flush=True)
    out["temporal_vs_plain"] = round(out["temporal_entity_rows_per_s"] / out["plain_entity_rows_per_s"], 3)
    print(f"temporal/plain = {out['temporal_vs_plain']:.2f} (target >= 0.80)", flush=True)
    return out


def stream_run(conn, a, kdir, bs, name, nworkers):
    """One stream over the whole topic with nworkers workers: wall time, steady rate, CPU of
    all its workers (every thread) and of the broker."""
    conn.execute("TRUNCATE ingest")
    conn.execute("CHECKPOINT")
    conn.execute("SELECT gc_stream_create(%s, %s, 'ingest', 'ingest', "
                 "jsonb_build_object('model', 'bench', 'batch_size', 20000, 'workers', %s::int))", (name, bs, nworkers))
    samples = []
    t0 = time.time()
    bcpu0, load0 = cpu_seconds(broker_pids(kdir)), os.getloadavg()[0]
    conn.execute("SELECT gc_stream_start(%s)", (name,))
    pids = []
    while len(pids) < nworkers:
        pids = [r[0] for r in conn.execute("SELECT pid FROM gc_stream_workers WHERE name = %s AND pid IS NOT NULL", (name,))]
        time.sleep(0.01)
    perf = None
    if a.perf:
        perf = subprocess.Popen(["perf", "record", "-g", "-o", f"{a.perf}.w{nworkers}", "-p", ",".join(map(str, pids))],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t1 = wait_committed(conn, name, a.rows, 600, samples)
    # CPU of the worker(s) (all threads: librdkafka's fetch and decompression too) and broker
    wcpu, bcpu = cpu_seconds(pids), cpu_seconds(broker_pids(kdir)) - bcpu0
    load1 = os.getloadavg()[0]
    if perf:
        perf.send_signal(2)
        perf.wait()
    secs = t1 - t0
    n, imputed, dups = conn.execute("""SELECT (SELECT count(*) FROM ingest), imputed_cells, duplicates
                                       FROM gc_stream_status WHERE name = %s""", (name,)).fetchone()
    assert n == a.rows, f"{n} rows in the table, {a.rows} produced"
    # steady state: between 10% and 90% of the rows
    ts = np.array([s[0] for s in samples])
    cs = np.array([s[1] for s in samples])
    lo, hi = np.searchsorted(cs, 0.1 * a.rows), np.searchsorted(cs, 0.9 * a.rows)
    steady = (cs[hi] - cs[lo]) / (ts[hi] - ts[lo]) if hi > lo and ts[hi] > ts[lo] else a.rows / secs
    conn.execute("SELECT gc_stream_drop(%s)", (name,))
    print(f"stream, {nworkers} worker(s): {a.rows} messages in {secs:.2f}s = {a.rows / secs:,.0f} msg/s "
          f"(steady {steady:,.0f} msg/s), {imputed} cells imputed; CPU: workers {wcpu:.2f}s "
          f"({wcpu / a.rows * 1e6:.2f} us/msg), broker {bcpu:.2f}s; load average {load0:.2f} -> {load1:.2f}", flush=True)
    return dict(stream_seconds=round(secs, 2), stream_msgs_per_s=round(a.rows / secs),
                stream_steady_msgs_per_s=round(steady), imputed_cells=imputed, duplicates=dups,
                worker_cpu_s=round(wcpu, 2), worker_cpu_us_per_msg=round(wcpu / a.rows * 1e6, 2),
                broker_cpu_s=round(bcpu, 2), load_avg_before=round(load0, 2), load_avg_after=round(load1, 2))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--rate", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--port", type=int, default=int(os.environ.get("GC_BENCH_PORT", 55604)))
    ap.add_argument("--figures", default=None, help="directory for the PNG figures")
    ap.add_argument("--json", default=None, help="write the results as JSON")
    ap.add_argument("--perf", default=None, help="perf record -g the stream worker(s) during the throughput run into this file")
    ap.add_argument("--skip-latency", action="store_true", help="throughput and COPY only")
    ap.add_argument("--temporal", action="store_true",
                    help="also: the same messages assembled per (entity, 1 s window), imputed by a plain "
                         "and by a temporal model (gc_fit_series, 2 lags): rows/s of each")
    ap.add_argument("--rounds", type=int, default=1, help="paired rounds of stream then COPY (the median ratio is reported)")
    ap.add_argument("--workers", type=lambda v: [int(x) for x in v.split(",")], default=[1, 2],
                    help="worker counts of the stream (\"workers\" option) to run in each round, e.g. 1,2 (default)")
    ap.add_argument("--durability", choices=["default", "relaxed"], default="default",
                    help="default: fsync and synchronous_commit on; relaxed: both off")
    a = ap.parse_args()

    kport = int(os.environ.get("KAFKA_PORT", 19194))
    env = dict(os.environ, KAFKA_PORT=str(kport), KAFKA_CONTROLLER_PORT=str(kport + 1))
    bs = f"127.0.0.1:{kport}"
    work = tempfile.mkdtemp(prefix="gcimpute-bench-ingest-")
    os.chmod(work, 0o755)
    kdir, pdir = f"{work}/broker", f"{work}/pg"
    sim, tool = f"{TOP}/test/sim/bin/gc_sensor_sim", f"{work}/kafka_tool"
    sh(f"make -s -C '{TOP}/test/sim' >/dev/null && gcc -O2 -o '{tool}' '{TOP}/test/stream/kafka_tool.c' -lrdkafka")
    results = {"rows": a.rows, "partitions": a.partitions, "rate": a.rate}
    sh(f"bash '{TOP}/test/kafka/broker.sh' start '{kdir}' >/dev/null", env=env)
    try:
        durability = ("'fsync = on' 'synchronous_commit = on'" if a.durability == "default"
                      else "'fsync = off' 'synchronous_commit = off'")
        pg(f"pg_start {pdir} {a.port} \"shared_preload_libraries = 'gcimpute'\" 'shared_buffers = 512MB' "
           f"'max_wal_size = 4GB' {durability} 'gcimpute.launcher_naptime = 100'")
        conn = psycopg.connect(f"host={pdir} port={a.port} user=postgres dbname=postgres", autocommit=True)
        conn.execute("CREATE EXTENSION gcimpute")
        cols = ", ".join(f"c{i} float8" for i in range(1, 9))
        # the table shape the docs recommend: the flags and the values as received beside the values
        conn.execute(f"CREATE TABLE ingest (publisher_id text, data_id bigint, {cols}, imputed bool[], raw float8[])")
        conn.execute(f"CREATE TABLE ingest_copy (publisher_id text, data_id bigint, {cols}, imputed bool[], raw float8[])")

        # the rows: put them on the topic, keep a copy for COPY
        sh(f"bash '{TOP}/test/kafka/broker.sh' topic ingest {a.partitions} '{kdir}' >/dev/null", env=env)
        out = f"{work}/sent.txt"
        t0 = time.time()
        sh(f"'{sim}' --brokers {bs} --topic ingest --columns 8 --entities 100 --count {a.rows} --seed 1 "
           f"--drop 0.1 --delay-scale 0 --quiet -X compression.codec=lz4 --out '{out}' --print-truth '{work}/truth.csv' "
           f"> '{work}/sim.txt'")
        print(f"produced {a.rows} messages in {time.time() - t0:.1f}s", flush=True)
        # the model: fitted on complete rows of the truth file
        conn.execute("CREATE TEMP TABLE truth (entity text, ts text, m int, o text, "
                     + ", ".join(f"c{i} float8" for i in range(1, 9)) + ")")
        with conn.cursor().copy("COPY truth FROM STDIN (FORMAT csv, HEADER)") as cp:
            with open(f"{work}/truth.csv", "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    cp.write(block)
        conn.execute("INSERT INTO gc_models SELECT 'bench', gc_fit(ARRAY[" + ", ".join(f"c{i}" for i in range(1, 9))
                     + "]) FROM (SELECT * FROM truth LIMIT 20000) t")
        csv_path = f"{work}/rows.csv"
        with open(out) as f, open(csv_path, "w") as g:
            for line in f:
                m = json.loads(line.split("\t", 1)[1].replace("\\\\", "\\"))
                vals = [str(m[f"c{i}"]) if f"c{i}" in m else "" for i in range(1, 9)]
                raw = '"{' + ",".join(v or "NULL" for v in vals) + '}"'
                g.write(",".join([m["publisher_id"], str(m["data_id"])] + vals) + ",," + raw + "\n")

        # paired rounds: the stream (with each worker count), then COPY of the same rows
        ratios = {w: [] for w in a.workers}
        for rnd in range(a.rounds):
            streams = {w: stream_run(conn, a, kdir, bs, f"ingest{rnd}w{w}", w) for w in a.workers}
            conn.execute("TRUNCATE ingest_copy")
            conn.execute("CHECKPOINT")
            # plain COPY of the same rows, same run
            bpid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            ccpu0 = cpu_seconds([bpid])
            t0 = time.time()
            with conn.cursor().copy("COPY ingest_copy (publisher_id, data_id, "
                                    + ", ".join(f"c{i}" for i in range(1, 9)) + ", imputed, raw) FROM STDIN (FORMAT csv)") as cp:
                with open(csv_path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        cp.write(block)
            copy_secs = time.time() - t0
            ccpu = cpu_seconds([bpid]) - ccpu0
            copy = dict(copy_seconds=round(copy_secs, 2), copy_rows_per_s=round(a.rows / copy_secs),
                        copy_backend_cpu_s=round(ccpu, 2), copy_cpu_us_per_row=round(ccpu / a.rows * 1e6, 2))
            print(f"COPY:   {a.rows} rows in {copy_secs:.2f}s = {a.rows / copy_secs:,.0f} rows/s, "
                  f"{copy['copy_cpu_us_per_row']} us/row CPU", flush=True)
            for w, st in streams.items():
                st.update(copy, stream_vs_copy=round(st["stream_msgs_per_s"] / copy["copy_rows_per_s"], 3))
                print(f"round {rnd + 1}, {w} worker(s): stream/COPY = {st['stream_vs_copy']:.2f} wall, "
                      f"{st['worker_cpu_us_per_msg']} vs {copy['copy_cpu_us_per_row']} us CPU per message/row", flush=True)
                ratios[w].append((st["stream_vs_copy"], copy["copy_cpu_us_per_row"] / max(st["worker_cpu_us_per_msg"], 1e-9),
                                  st["worker_cpu_us_per_msg"]))
                results.setdefault("round_results", []).append(dict(st, round=rnd + 1, workers=w))
                results.update(st)
        for w in a.workers:
            r = ratios[w]
            med = dict(median_stream_vs_copy=float(np.median([x[0] for x in r])),
                       median_cpu_ratio=round(float(np.median([x[1] for x in r])), 3),
                       median_worker_cpu_us_per_msg=round(float(np.median([x[2] for x in r])), 2))
            results[f"workers_{w}"] = med
            results.update(med)
            print(f"{w} worker(s), {a.rounds} paired rounds: stream/COPY wall {[x[0] for x in r]} median "
                  f"{med['median_stream_vs_copy']:.2f}; COPY CPU/stream CPU per row {[round(x[1], 2) for x in r]} "
                  f"median {med['median_cpu_ratio']:.2f}; worker CPU {med['median_worker_cpu_us_per_msg']} us/msg", flush=True)

        if a.temporal:
            results.update(temporal_vs_plain(conn, bs, a.rows))
        if a.skip_latency:
            print(json.dumps(results))
            return

        # end-to-end latency at a paced rate
        conn.execute("CREATE TABLE lat (publisher_id text, data_id bigint, " + cols
                     + ", imputed bool[], kafka_ts timestamptz, written_at timestamptz DEFAULT clock_timestamp())")
        sh(f"bash '{TOP}/test/kafka/broker.sh' topic lat {a.partitions} '{kdir}' >/dev/null", env=env)
        conn.execute("SELECT gc_stream_create('lat', %s, 'lat', 'lat', "
                     "'{\"model\": \"bench\", \"timestamp_column\": \"kafka_ts\", \"start\": \"latest\", "
                     "\"flush_interval\": 0.02}')", (bs,))
        conn.execute("SELECT gc_stream_start('lat')")
        time.sleep(3)
        t0 = time.time()
        sh(f"'{tool}' rate {bs} lat {a.rate} {a.seconds} 100 1 2>/dev/null")
        total = int(a.rate * a.seconds)
        wait_committed(conn, "lat", total * 0.999, 120)
        time.sleep(1)
        lat = np.array([r[0] for r in conn.execute(
            "SELECT extract(epoch FROM written_at - kafka_ts) * 1000 FROM lat").fetchall()], dtype=float)
        s50, s99 = conn.execute("SELECT latency_p50_ms, latency_p99_ms FROM gc_stream_status WHERE name = 'lat'").fetchone()
        results.update(latency_rows=len(lat), latency_p50_ms=round(float(np.percentile(lat, 50)), 1),
                       latency_p99_ms=round(float(np.percentile(lat, 99)), 1),
                       latency_max_ms=round(float(lat.max()), 1),
                       committed_p50_ms=round(s50, 1), committed_p99_ms=round(s99, 1))
        print(f"latency at {a.rate} msg/s over {a.seconds:.0f}s ({len(lat)} rows): produce->written "
              f"p50 {results['latency_p50_ms']} ms, p99 {results['latency_p99_ms']} ms, max {results['latency_max_ms']} ms; "
              f"produce->committed (worker histogram) p50 {results['committed_p50_ms']} ms, p99 {results['committed_p99_ms']} ms",
              flush=True)

        if a.figures:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            os.makedirs(a.figures, exist_ok=True)
            fig, ax = plt.subplots(figsize=(6, 3.5))
            ax.hist(lat, bins=np.logspace(np.log10(max(lat.min(), 0.1)), np.log10(lat.max() + 1), 60))
            ax.set_xscale("log")
            ax.axvline(results["latency_p50_ms"], color="k", ls="--", label=f"p50 {results['latency_p50_ms']} ms")
            ax.axvline(results["latency_p99_ms"], color="r", ls="--", label=f"p99 {results['latency_p99_ms']} ms")
            ax.set_xlabel("produce -> row written (ms)")
            ax.set_ylabel("messages")
            ax.set_title(f"End-to-end latency at {a.rate} msg/s")
            ax.legend()
            fig.tight_layout()
            fig.savefig(os.path.join(a.figures, "stream_latency.png"), dpi=110)
            fig, ax = plt.subplots(figsize=(6, 3.5))
            rate_t = (ts[1:] + ts[:-1]) / 2 - ts[0]
            rate_v = np.diff(cs) / np.maximum(np.diff(ts), 1e-6)
            k = 10
            if len(rate_v) > k:
                rate_v = np.convolve(rate_v, np.ones(k) / k, mode="same")
            ax.plot(rate_t, rate_v / 1000, label="stream worker (dedup + imputation)")
            ax.axhline(a.rows / copy_secs / 1000, color="g", ls="--", label="plain COPY, same rows")
            ax.axhline(100, color="r", ls=":", label="target 100k msg/s")
            ax.set_xlabel("seconds since gc_stream_start")
            ax.set_ylabel("thousand messages/s committed")
            ax.set_title(f"Ingest of {a.rows:,} JSON messages, {a.partitions} partitions")
            ax.legend(loc="lower right", fontsize=8)
            fig.tight_layout()
            fig.savefig(os.path.join(a.figures, "stream_throughput.png"), dpi=110)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(results, f, indent=1)
        print(json.dumps(results))
    finally:
        pg(f"pg_stop {pdir}")
        sh(f"bash '{TOP}/test/kafka/broker.sh' stop '{kdir}' >/dev/null 2>&1", env=env)
        sh(f"rm -rf '{work}'")


if __name__ == "__main__":
    main()
