#!/usr/bin/env python3
"""Online training throughput and memory: gc_fit(..., '{"training": "minibatch-online"}')
over 1 million rows x 20 columns, next to the Python gcimpute's minibatch-online mode
measured in the same run on a subset (it processes ~1-2k rows/s, so a million rows
would take hours). Prints rows/s for both, the ratio, and the backend's peak memory.

    .venv/bin/python test/bench/bench_online.py [--rows 1000000] [--cols 20] [--ref-rows 5000]
"""
import argparse
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import psycopg

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def pg(cmd):
    subprocess.run(["bash", "-c", f". '{TOP}/test/pg.sh' && {cmd}"], check=True)


def vm_hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--cols", type=int, default=20)
    ap.add_argument("--ref-rows", type=int, default=5000)
    ap.add_argument("--port", type=int, default=54398)
    a = ap.parse_args()

    rng = np.random.default_rng(5)
    p = a.cols
    W = rng.normal(size=(p, 3))
    S = W @ W.T + np.eye(p)
    d = np.sqrt(np.diag(S))
    S = S / np.outer(d, d)
    L = np.linalg.cholesky(S)

    d_ = "/tmp/gcimpute-bench-online"
    pg(f"pg_start {d_} {a.port} 'shared_buffers = 256MB' 'maintenance_work_mem = 64MB'")
    try:
        conn = psycopg.connect(f"host={d_} port={a.port} user=postgres dbname=postgres", autocommit=True)
        conn.execute("CREATE EXTENSION gcimpute")
        conn.execute("CREATE TABLE stream (id bigint, r float8[])")
        t0 = time.time()
        with conn.cursor().copy("COPY stream FROM STDIN") as cp:
            chunk = 100_000
            for start in range(0, a.rows, chunk):
                n = min(chunk, a.rows - start)
                X = np.exp((rng.normal(size=(n, p)) @ L.T) * 0.5)
                X[rng.random(X.shape) < 0.2] = np.nan
                for i in range(n):
                    cp.write_row((start + i, [None if np.isnan(v) else float(v) for v in X[i]]))
        print(f"loaded {a.rows} rows x {p} columns in {time.time() - t0:.1f}s", flush=True)
        conn.execute("VACUUM ANALYZE stream")

        # a fresh backend so its peak memory is the fit's
        fit = psycopg.connect(f"host={d_} port={a.port} user=postgres dbname=postgres", autocommit=True)
        fit.execute("SET max_parallel_workers_per_gather = 0")
        pid = fit.execute("SELECT pg_backend_pid()").fetchone()[0]
        fit.execute("SELECT count(*) FROM stream")          # warm the cache
        base = vm_hwm_kb(pid)
        t0 = time.time()
        info = fit.execute("""SELECT gc_model_info(gc_fit(r, '{"training": "minibatch-online"}')) FROM stream""").fetchone()[0]
        secs = time.time() - t0
        peak = vm_hwm_kb(pid)
        ours = a.rows / secs

        # the reference, same generator, a subset
        from gcimpute.gaussian_copula import GaussianCopula
        warnings.resetwarnings()
        Xr = np.exp((rng.normal(size=(a.ref_rows, p)) @ L.T) * 0.5)
        Xr[rng.random(Xr.shape) < 0.2] = np.nan
        np.random.seed(0)
        t0 = time.time()
        GaussianCopula(training_mode="minibatch-online").fit_transform(Xr)
        rsecs = time.time() - t0
        ref = a.ref_rows / rsecs

        print()
        print(f"{'':34s} {'rows':>9s} {'seconds':>9s} {'rows/s':>10s}")
        print(f"{'gcimpute (SQL, minibatch-online)':34s} {a.rows:9d} {secs:9.2f} {ours:10.0f}")
        print(f"{'Python gcimpute (minibatch-online)':34s} {a.ref_rows:9d} {rsecs:9.2f} {ref:10.0f}")
        print(f"batches {info['iterations']}, model {info['size_bytes']} bytes")
        print(f"backend peak RSS {peak / 1024:.0f} MB (before the fit {base / 1024:.0f} MB, "
              f"growth {(peak - base) / 1024:.0f} MB; includes shared buffers touched)")
        fit.close()
        conn.close()
        print(f"RESULT online rows/s {ours:.0f} (target >= 200000), ratio to reference {ours / ref:.0f}x, "
              f"peak memory {peak / 1024:.0f} MB (target < 200 MB)")
    finally:
        pg(f"pg_stop {d_}")


if __name__ == "__main__":
    sys.exit(main())
