"""Shared helpers for the sketch benchmarks: a throwaway cluster (test/pg.sh) or a given DSN,
and wall-clock timing of SQL statements (best of N runs)."""
import os
import subprocess
import time

import psycopg

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _pg(cmd):
    subprocess.run(["bash", "-c", f". '{TOP}/test/pg.sh' && {cmd}"], check=True)


class Cluster:
    """Context manager yielding a DSN: --dsn as given, or a fresh cluster in tmpdir on port."""

    def __init__(self, dsn=None, port=55403, tmpdir="/tmp/gcimpute-bench", conf=()):
        self.dsn, self.port, self.dir, self.conf, self.started = dsn, port, tmpdir, conf, False

    def __enter__(self):
        if self.dsn:
            return self.dsn
        os.makedirs(os.path.dirname(self.dir), exist_ok=True)
        lines = " ".join(f"'{c}'" for c in self.conf)
        _pg(f"pg_start '{self.dir}' {self.port} {lines}")
        self.started = True
        self.dsn = f"host={self.dir} port={self.port} user=postgres dbname=postgres"
        return self.dsn

    def __exit__(self, *exc):
        if self.started:
            _pg(f"pg_stop '{self.dir}'")


def connect(dsn):
    return psycopg.connect(dsn, autocommit=True)


def backend_cpu(conn):
    """CPU seconds (user + system) used so far by the connection's backend process.

    On a shared machine wall time swings with the load of others; the backend's own CPU
    time does not (10 ms resolution).  Needs the server on this machine."""
    with open(f"/proc/{conn.info.backend_pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def best_time(conn, sql, runs=3, params=None, cpu=True):
    """Best time (s) of `runs` executions -- backend CPU time if cpu, else wall time --
    and the first row of the last result."""
    best, row = float("inf"), None
    with conn.cursor() as cur:
        for _ in range(runs):
            c0, t0 = backend_cpu(conn) if cpu else 0.0, time.perf_counter()
            cur.execute(sql, params)
            row = cur.fetchone()
            elapsed = (backend_cpu(conn) - c0) if cpu else (time.perf_counter() - t0)
            best = min(best, elapsed)
    return best, row


def scalar(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]
