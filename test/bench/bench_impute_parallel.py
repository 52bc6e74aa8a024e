#!/usr/bin/env python3
"""Imputation of a large table with 0, 1 and 2 parallel workers.

gc_impute is declared COST 1000, so at the default parallel_setup_cost and
parallel_tuple_cost the planner evaluates it below a Gather.  For each worker count this
runs CREATE TABLE ... AS SELECT gc_impute((SELECT m FROM model), r) over --rows rows of
--cols columns (20% missing) and reports the best wall time of --runs, the workers the
plan launched, and rows/s; then the same at the old COST 1 with 2 workers allowed (the
planner keeps it serial).  Wall time: parallel work is spread over processes.

    flock /tmp/gc-bench.lock .venv/bin/python test/bench/bench_impute_parallel.py [--rows 400000]
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import Cluster, connect  # noqa: E402


def timed(cur, sql):
    """Wall time of one CREATE TABLE AS of sql, and the workers its plan launched."""
    cur.execute("DROP TABLE IF EXISTS imp_out")
    t0 = time.perf_counter()
    cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) CREATE TABLE imp_out AS " + sql)
    elapsed = time.perf_counter() - t0
    stack, launched = [cur.fetchone()[0][0]["Plan"]], 0
    while stack:
        node = stack.pop()
        launched = max(launched, node.get("Workers Launched", 0))
        stack.extend(node.get("Plans", []))
    return elapsed, launched


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--cols", type=int, default=8)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--port", type=int, default=int(os.environ.get("GC_BENCH_PORT", "55409")))
    ap.add_argument("--dsn")
    a = ap.parse_args()
    conf = ("max_worker_processes = 8", "max_parallel_workers = 4", "shared_buffers = 256MB")
    with Cluster(a.dsn, a.port, "/tmp/gcimpute-bench-impute-par", conf) as dsn:
        conn = connect(dsn)
        cur = conn.cursor()
        cur.execute("DROP EXTENSION IF EXISTS gcimpute CASCADE")
        cur.execute("CREATE EXTENSION gcimpute")
        cols = ", ".join(
            f"CASE WHEN random() < 0.2 THEN NULL ELSE sin(i * {0.37 * (j + 1):.2f}) * {j + 1} "
            f"+ (i % {7 + j})::float8 END" for j in range(a.cols))
        cur.execute("SELECT setseed(0.5)")
        cur.execute(f"CREATE TABLE imp_par AS SELECT i, ARRAY[{cols}] AS r FROM generate_series(1, {a.rows}) i")
        cur.execute("ANALYZE imp_par")
        cur.execute("CREATE TABLE imp_model AS SELECT gc_fit(r) AS m FROM (SELECT r FROM imp_par LIMIT 20000) s")
        cur.execute("SELECT pg_size_pretty(pg_table_size('imp_par')), current_setting('parallel_setup_cost'), "
                    "current_setting('parallel_tuple_cost')")
        size, psc, ptc = cur.fetchone()
        sql = "SELECT i, gc_impute((SELECT m FROM imp_model), r) AS x FROM imp_par"
        print(f"# {a.rows} rows x {a.cols} columns ({size}), parallel_setup_cost {psc}, "
              f"parallel_tuple_cost {ptc}, best wall time of {a.runs} (CREATE TABLE AS)")
        print("| workers allowed | launched | best s | rows/s |")
        print("|---|---|---|---|")
        results = {}
        for k in (0, 1, 2):
            cur.execute(f"SET max_parallel_workers_per_gather = {k}")
            runs = [timed(cur, sql) for _ in range(a.runs)]
            best, launched = min(runs)
            results[k] = best
            print(f"| {k} | {launched} | {best:.3f} | {a.rows / best:,.0f} |")
        cur.execute("SET max_parallel_workers_per_gather = 2")
        cur.execute("ALTER FUNCTION gc_impute(gcmodel, float8[]) COST 1")
        runs = [timed(cur, sql) for _ in range(a.runs)]
        best, launched = min(runs)
        results["cost1"] = best
        print(f"| 2, at COST 1 | {launched} | {best:.3f} | {a.rows / best:,.0f} |")
        cur.execute("ALTER FUNCTION gc_impute(gcmodel, float8[]) COST 1000")
        print("# speed-up over 0 workers: 1 worker %.2fx, 2 workers %.2fx" % (results[0] / results[1], results[0] / results[2]))
        print(json.dumps({"rows": a.rows, "cols": a.cols, "best_s": results}))
        cur.execute("DROP TABLE imp_par, imp_model, imp_out")


if __name__ == "__main__":
    main()
