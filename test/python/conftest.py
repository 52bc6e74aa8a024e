"""Shared fixtures: one throwaway PostgreSQL cluster for the Python test session.

The cluster is started with test/pg.sh (as the postgres user, on its own port and socket
directory) with the extension already installed by test/run_all.sh, and stopped at the end.
"""
import os
import subprocess
import warnings

import sys

import psycopg
import pytest

TOP = os.environ.get("TOP") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TMP = os.environ.get("GC_TEST_TMP", "/tmp/gcimpute-pytest")
PORT = int(os.environ.get("GC_PY_PORT", int(os.environ.get("GC_REGRESS_PORT", "54391")) + 1))
DATA = os.path.join(TOP, "test", "data")

# The extension's gcimpute.so in the repository root would shadow the Python reference
# package `gcimpute` if the root (or the current directory, '') is on sys.path.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != os.path.abspath(TOP)]


def _pg(cmd):
    subprocess.run(["bash", "-c", f". '{TOP}/test/pg.sh' && {cmd}"], check=True)


@pytest.fixture(scope="session")
def cluster():
    d = os.path.join(TMP, "pytest-cluster")
    os.makedirs(TMP, exist_ok=True)
    _pg(f"pg_start '{d}' {PORT} 'max_parallel_workers_per_gather = 2'")
    dsn = f"host={d} port={PORT} user=postgres dbname=postgres"
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS gcimpute")
    yield dsn
    _pg(f"pg_stop '{d}'")


@pytest.fixture
def conn(cluster):
    with psycopg.connect(cluster, autocommit=True) as c:
        yield c


def reset_warnings():
    """gcimpute.helper_evaluation turns every warning into an error process-wide."""
    warnings.resetwarnings()
