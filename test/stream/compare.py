#!/usr/bin/env python3
"""Compare a stream's target table with the rows check_stream.py expects.

    compare.py EXPECTED_CSV TABLE_CSV [--imputed]

EXPECTED_CSV: check_stream.py --expected output (entity,ts,observed,<columns>; an empty
value is a cell that never arrived).  TABLE_CSV: the target table exported as
entity,epoch,<columns>,imputed (imputed as a PostgreSQL bool[] literal).

Checks: the same set of (entity, ts) rows, no row twice, every observed cell equal to the
value sent, every missing cell flagged imputed and (with --imputed) filled with a finite
number.  Prints a one-line summary; exit status 1 on any mismatch.
"""
import csv
import datetime
import math
import sys


def epoch(ts):
    ts = ts.replace("Z", "+00:00")
    return round(datetime.datetime.fromisoformat(ts).timestamp(), 3)


def main():
    exp_path, tab_path = sys.argv[1], sys.argv[2]
    want_imputed = "--imputed" in sys.argv[3:]
    bad = []
    expected = {}
    with open(exp_path) as f:
        r = csv.reader(f)
        header = next(r)
        ncol = len(header) - 3
        for row in r:
            expected[(row[0], epoch(row[1]))] = row[3:]
    got = {}
    dupes = 0
    with open(tab_path) as f:
        for row in csv.reader(f):
            key = (row[0], round(float(row[1]), 3))
            if key in got:
                dupes += 1
            got[key] = (row[2:2 + ncol], row[2 + ncol])
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    if dupes:
        bad.append("%d rows written twice" % dupes)
    if missing:
        bad.append("%d rows missing, e.g. %s" % (len(missing), missing[:3]))
    if extra:
        bad.append("%d unexpected rows, e.g. %s" % (len(extra), extra[:3]))
    wrong = unflagged = unfilled = observed = imputed = 0
    for k, want in expected.items():
        if k not in got:
            continue
        vals, flags = got[k]
        flags = flags.strip("{}").split(",")
        for j in range(ncol):
            if want[j] != "":
                observed += 1
                if vals[j] == "" or abs(float(vals[j]) - float(want[j])) > 1e-9 or flags[j] != "f":
                    wrong += 1
                    if wrong <= 3:
                        bad.append("cell %s[%d]: got %r (imputed=%s), sent %s" % (k, j, vals[j], flags[j], want[j]))
            else:
                imputed += 1
                if want_imputed:
                    if flags[j] != "t":
                        unflagged += 1
                    if vals[j] == "" or not math.isfinite(float(vals[j])):
                        unfilled += 1
                elif vals[j] != "":
                    unfilled += 1
    if wrong:
        bad.append("%d observed cells differ" % wrong)
    if unflagged:
        bad.append("%d missing cells not flagged imputed" % unflagged)
    if unfilled:
        bad.append("%d missing cells %s" % (unfilled, "not imputed" if want_imputed else "not NULL"))
    print("  compare: %d rows expected, %d in table, %d observed cells, %d imputed cells%s"
          % (len(expected), len(got), observed, imputed, "" if not bad else ": " + "; ".join(bad)))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
