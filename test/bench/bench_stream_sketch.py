#!/usr/bin/env python3
"""An approximate stream-computing experiment (HyperLogLog and Count-Min over
1 million random IPv4 addresses), in SQL: exact count(DISTINCT) and GROUP BY counts versus
gc_approx_count_distinct / gc_hll_agg and gc_cms_agg -- throughput, memory and error.

    PG_CONFIG=... python3 test/bench/bench_stream_sketch.py [--events 1000000] [--port 55405]

Two streams of --events requests: "uniform" (addresses drawn uniformly from the IPv4 space,
as in the article's generator; nearly all distinct) and "clients" (addresses of 50,000
clients with Zipf(1.1) request rates, where per-key counts matter).  Single core.  Memory of
the exact answers is the executor's own report (EXPLAIN ANALYZE: hash table or sort space);
memory of a sketch is its aggregate state / value size.  Times are the best of --runs in
CPU seconds of the backend process (robust on a shared machine).
"""
import argparse
import json
import re

import numpy as np

from benchlib import Cluster, best_time, connect, scalar


def ips(rng, kind, n):
    if kind == "uniform":
        a = rng.integers(0, 2**32, size=n, dtype=np.uint64)
    else:
        pool = rng.integers(0, 2**32, size=50000, dtype=np.uint64)
        rank = rng.zipf(1.1, size=n * 2)
        rank = rank[rank <= 50000][:n] - 1
        a = pool[rank]
    return [f"{x >> 24}.{(x >> 16) & 255}.{(x >> 8) & 255}.{x & 255}" for x in a.tolist()]


def explain_memory(conn, sql):
    """Peak memory reported by EXPLAIN ANALYZE for hash/sort nodes, in kB (disk included)."""
    with conn.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql)
        text = "\n".join(r[0] for r in cur.fetchall())
    kb = [int(x) for x in re.findall(r"Memory(?: Usage)?: (\d+)kB", text)]
    kb += [int(x) for x in re.findall(r"Disk(?: Usage)?: (\d+)kB", text)]
    return max(kb) if kb else None, text


def run(conn, kind, n, runs, rng):
    conn.execute("DROP TABLE IF EXISTS ev")
    conn.execute("CREATE TABLE ev (id bigint, ip text)")
    with conn.cursor() as cur, cur.copy("COPY ev (id, ip) FROM STDIN") as cp:
        for i, ip in enumerate(ips(rng, kind, n)):
            cp.write_row((i, ip))
    conn.execute("VACUUM ANALYZE ev")
    r = {"stream": kind, "events": n}
    exact = scalar(conn, "SELECT count(DISTINCT ip) FROM ev")
    r["distinct_exact"] = exact
    r["t_distinct_exact"], _ = best_time(conn, "SELECT count(DISTINCT ip) FROM ev", runs)
    r["t_distinct_hll"], (est,) = best_time(conn, "SELECT gc_approx_count_distinct(ip) FROM ev", runs)
    r["distinct_hll"] = est
    r["distinct_err"] = (est - exact) / exact
    r["mem_distinct_exact_kb"], _ = explain_memory(conn, "SELECT count(*) FROM (SELECT DISTINCT ip FROM ev) s")
    r["mem_distinct_sort_kb"], _ = explain_memory(conn, "SELECT count(*) FROM (SELECT ip FROM ev ORDER BY ip) s")
    r["hll_bytes"] = scalar(conn, "SELECT pg_column_size(gc_hll_agg(ip)) FROM ev")

    r["t_counts_exact"], _ = best_time(conn, "SELECT count(*) FROM (SELECT ip, count(*) FROM ev GROUP BY ip) s", runs)
    r["mem_counts_exact_kb"], _ = explain_memory(conn, "SELECT ip, count(*) FROM ev GROUP BY ip")
    r["t_counts_cms"], _ = best_time(conn, "SELECT pg_column_size(gc_cms_agg(ip, 0.001, 0.01)) FROM ev", runs)
    r["t_counts_cms_notopk"], _ = best_time(conn, "SELECT pg_column_size(gc_cms_agg(ip, 0.001, 0.01, 0)) FROM ev", runs)
    r["cms_bytes"] = scalar(conn, "SELECT pg_column_size(gc_cms_agg(ip, 0.001, 0.01)) FROM ev")
    with conn.cursor() as cur:
        cur.execute("""
            WITH s AS MATERIALIZED (SELECT gc_cms_agg(ip, 0.001, 0.01) AS s FROM ev),
                 t AS (SELECT ip, count(*) AS n FROM ev GROUP BY ip)
            SELECT count(*), sum((gc_cms_count(s, ip) < n)::int),
                   avg(gc_cms_count(s, ip) - n), max(gc_cms_count(s, ip) - n),
                   avg((gc_cms_count(s, ip) - n <= 0.001 * %s)::int),
                   avg((abs(gc_cms_count(s, ip) - n) <= 0.05 * n)::int) FILTER (WHERE n >= 1000),
                   count(*) FILTER (WHERE n >= 1000)
            FROM t, s""", (n,))
        keys, under, mean_over, max_over, within, heavy_within, heavy = cur.fetchone()
        cur.execute("""
            SELECT count(*) FILTER (WHERE a.value = e.ip)
            FROM (SELECT value, row_number() OVER () AS r FROM gc_cms_topk((SELECT gc_cms_agg(ip) FROM ev), 10)) a
            JOIN (SELECT ip, row_number() OVER (ORDER BY count(*) DESC, ip) AS r FROM ev GROUP BY ip) e
              ON a.value = e.ip AND e.r <= 10""")
        top10 = cur.fetchone()[0]
    r.update(keys=keys, under=under, mean_over=float(mean_over), max_over=max_over, bound=0.001 * n,
             within_bound=float(within), heavy_keys=heavy,
             heavy_within_5pct=None if heavy_within is None else float(heavy_within), top10_found=top10)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--port", type=int, default=55405)
    ap.add_argument("--dsn")
    ap.add_argument("--json")
    a = ap.parse_args()
    rng = np.random.default_rng(2018)
    out = []
    with Cluster(a.dsn, a.port, "/tmp/gcimpute-bench/stream") as dsn, connect(dsn) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS gcimpute")
        conn.execute("SET max_parallel_workers_per_gather = 0")
        for kind in ("uniform", "clients"):
            r = run(conn, kind, a.events, a.runs, rng)
            out.append(r)
            n = a.events
            print(f"## stream {kind}: {n} events, {r['distinct_exact']} distinct addresses, {r['keys']} keys")
            print("| query | time s | events/s | vs exact | memory | error |")
            print("|---|---|---|---|---|---|")
            print(f"| count(DISTINCT ip) | {r['t_distinct_exact']:.3f} | {n / r['t_distinct_exact']:,.0f} | | "
                  f"hash {r['mem_distinct_exact_kb']} kB / sort {r['mem_distinct_sort_kb']} kB | exact |")
            print(f"| gc_approx_count_distinct(ip) | {r['t_distinct_hll']:.3f} | {n / r['t_distinct_hll']:,.0f} | "
                  f"{(r['t_distinct_exact'] / r['t_distinct_hll'] - 1) * 100:+.0f}% | {r['hll_bytes']} B | "
                  f"{r['distinct_err']:+.4f} |")
            print(f"| GROUP BY ip, count(*) | {r['t_counts_exact']:.3f} | {n / r['t_counts_exact']:,.0f} | | "
                  f"{r['mem_counts_exact_kb']} kB | exact |")
            print(f"| gc_cms_agg(ip, 0.001, 0.01) | {r['t_counts_cms']:.3f} | {n / r['t_counts_cms']:,.0f} | "
                  f"{(r['t_counts_exact'] / r['t_counts_cms'] - 1) * 100:+.0f}% | {r['cms_bytes']} B | "
                  f"mean +{r['mean_over']:.1f}, max +{r['max_over']} (eps*N = {r['bound']:.0f}); "
                  f"{r['within_bound'] * 100:.2f}% of keys within eps*N |")
            print(f"| gc_cms_agg(ip, 0.001, 0.01, 0) (no top-k) | {r['t_counts_cms_notopk']:.3f} | "
                  f"{n / r['t_counts_cms_notopk']:,.0f} | {(r['t_counts_exact'] / r['t_counts_cms_notopk'] - 1) * 100:+.0f}% | | |")
            hw = "n/a" if r["heavy_within_5pct"] is None else f"{r['heavy_within_5pct'] * 100:.1f}%"
            print(f"\nunderestimates: {r['under']}; keys with >= 1000 requests: {r['heavy_keys']}, "
                  f"within +/-5%: {hw}; true top 10 found by gc_cms_topk: {r['top10_found']}/10\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
