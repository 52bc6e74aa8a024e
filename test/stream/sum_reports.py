#!/usr/bin/env python3
"""Add up the reports of several simulator runs into one (key=value lines; numbers are
summed, other values taken from the first report).

Usage: sum_reports.py REPORT...
"""
import sys


def main():
    reps = [dict(l.strip().split("=", 1) for l in open(f) if "=" in l) for f in sys.argv[1:]]
    for k in reps[0]:
        try:
            print("%s=%d" % (k, sum(int(r[k]) for r in reps)))
        except (ValueError, KeyError):
            print("%s=%s" % (k, reps[0][k]))


if __name__ == "__main__":
    main()
