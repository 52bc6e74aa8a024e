#!/usr/bin/env python3
"""Compare the rows of a topic (kdump output, one JSON row per message) with the union of
the tables that several servers wrote from their shares of it (CSV files of entity, epoch
seconds, then the eight values).  Prints what differs; exit status 1 when anything does.

Usage: union_check.py DUMP TABLE_CSV...
"""
import csv
import json
import sys
from collections import Counter
from datetime import datetime

FIELDS = ["temp", "hum", "pres", "light", "co2", "noise", "vib", "door"]


def topic_rows(path):
    rows = Counter()
    with open(path) as f:
        for line in f:
            payload = line.rstrip("\n").split("\t", 1)[1]
            m = json.loads(payload)
            t = datetime.strptime(m["ts"], "%Y-%m-%dT%H:%M:%SZ")
            epoch = int((t - datetime(1970, 1, 1)).total_seconds())
            rows[(m["entity"], epoch) + tuple(float(m[k]) for k in FIELDS)] += 1
    return rows


def table_rows(paths):
    rows = Counter()
    for p in paths:
        with open(p) as f:
            for r in csv.reader(f):
                rows[(r[0], int(float(r[1]))) + tuple(float(x) for x in r[2:10])] += 1
    return rows


def main():
    want = topic_rows(sys.argv[1])
    got = table_rows(sys.argv[2:])
    missing = want - got
    extra = got - want
    print("topic rows %d, table rows %d, missing %d, extra or repeated %d"
          % (sum(want.values()), sum(got.values()), sum(missing.values()), sum(extra.values())))
    for r in list(missing)[:3]:
        print("  missing", r)
    for r in list(extra)[:3]:
        print("  extra", r)
    sys.exit(1 if missing or extra else 0)


if __name__ == "__main__":
    main()
