#!/usr/bin/env python3
"""Reference reading of a simulated stream, for tests.

Reads what is on a topic (the output of test/kafka/bin/kdump, or gc_sensor_sim --out) and
applies the message contract of docs/kafka-dev.md exactly as the stream worker must:
classify every message as valid or as a dead letter (with a reason), drop duplicates by
(publisher_id, data_id), assemble rows per (entity, ts). Then it checks the result against
the simulator's own account of what it sent (its key=value report and --print-truth file):

  * the number of dead letters per kind equals the simulator's malformed_<kind> counts,
  * the number of distinct valid messages equals valid_sent, duplicates equals duplicates,
  * every row of the truth file with messages > 0 is assembled, with exactly the cells the
    truth file marks observed and exactly the true values; no other row exists.

With --expected FILE it also writes the assembled rows (entity,ts,observed,values; empty =
missing) as CSV: what the worker's target table must hold before imputation.

Exit status 0 when everything matches, 1 otherwise (the mismatches are printed).
"""
import argparse
import csv
import datetime
import io
import json
import math
import re
import sys

TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
REQUIRED = ("publisher_id", "data_id", "entity", "ts")


def ts_ms(s):
    """Milliseconds since the epoch of an RFC 3339 time."""
    d = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    return int(round(d.timestamp() * 1000))


def unescape(s):
    out = bytearray()
    i = 0
    b = s.encode("utf-8", "surrogateescape")
    while i < len(b):
        c = b[i]
        if c == 0x5C and i + 1 < len(b):
            n = b[i + 1]
            out += {0x5C: b"\\", 0x30: b"\0", 0x6E: b"\n", 0x74: b"\t"}.get(n, bytes([c, n]))
            i += 2
        else:
            out.append(c)
            i += 1
    return bytes(out)


def read_dump(path):
    msgs = []
    with open(path, "r", encoding="utf-8", errors="surrogateescape", newline="\n") as f:
        for line in f:
            line = line.rstrip("\n")
            key, _, payload = line.partition("\t")
            msgs.append((unescape(key), unescape(payload)))
    return msgs


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


class Dead(Exception):
    def __init__(self, kind, why):
        super().__init__(why)
        self.kind = kind


def parse_json(payload, columns):
    try:
        text = payload.decode("utf-8")
        obj = json.loads(text)
    except (UnicodeDecodeError, ValueError) as e:
        raise Dead("syntax", "invalid json: %s" % e)
    if not isinstance(obj, dict):
        raise Dead("syntax", "not a json object")
    for k in REQUIRED:
        if k not in obj:
            raise Dead("type", "missing %s" % k)
    if not isinstance(obj["publisher_id"], str) or not isinstance(obj["entity"], str):
        raise Dead("type", "publisher_id and entity must be strings")
    if not isinstance(obj["data_id"], int) or isinstance(obj["data_id"], bool) or obj["data_id"] < 0:
        raise Dead("type", "data_id must be a non-negative integer")
    if not isinstance(obj["ts"], str) or not TS_RE.match(obj["ts"]):
        raise Dead("type", "ts must be an RFC 3339 time")
    values = {}
    for c in columns:
        if c in obj:
            v = obj[c]
            if v is None:
                continue
            if not is_number(v):
                raise Dead("type", "column %s is not a number" % c)
            values[c] = float(v)
    return obj["publisher_id"], obj["data_id"], obj["entity"], obj["ts"], values


def parse_csv(payload, columns):
    try:
        text = payload.decode("utf-8")
        rows = list(csv.reader(io.StringIO(text), strict=True))
    except (UnicodeDecodeError, csv.Error) as e:
        raise Dead("syntax", "invalid csv: %s" % e)
    if len(rows) != 1 or len(rows[0]) != 4 + len(columns):
        raise Dead("syntax", "expected one line of %d fields" % (4 + len(columns)))
    f = rows[0]
    if not re.fullmatch(r"\d+", f[1]):
        raise Dead("type", "data_id must be a non-negative integer")
    if not TS_RE.match(f[3]):
        raise Dead("type", "ts must be an RFC 3339 time")
    values = {}
    for c, v in zip(columns, f[4:]):
        if v == "":
            continue
        try:
            x = float(v)
        except ValueError:
            raise Dead("type", "column %s is not a number" % c)
        if not math.isfinite(x):
            raise Dead("type", "column %s is not finite" % c)
        values[c] = x
    return f[0], int(f[1]), f[2], f[3], values


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dump", required=True, help="kdump output (key TAB escaped payload)")
    ap.add_argument("--truth", required=True, help="gc_sensor_sim --print-truth file")
    ap.add_argument("--report", required=True, help="gc_sensor_sim stdout (key=value lines)")
    ap.add_argument("--format", choices=("json", "csv"), default="json")
    ap.add_argument("--max-bytes", type=int, default=65536,
                    help="payloads longer than this are dead letters (oversize)")
    ap.add_argument("--expected", help="write the assembled rows here (CSV)")
    ap.add_argument("--window", type=int, default=0,
                    help="assemble rows per (entity, event-time window of this many ms, aligned "
                         "to the epoch) instead of per exact ts (use with gc_sensor_sim --ts-jitter)")
    a = ap.parse_args()

    with open(a.report) as f:
        rep = dict(l.strip().split("=", 1) for l in f if "=" in l)
    with open(a.truth, newline="") as f:
        truth = list(csv.reader(f))
    header, truth = truth[0], truth[1:]
    columns = header[4:]
    parse = parse_json if a.format == "json" else parse_csv

    errors = []
    dead = {"syntax": 0, "type": 0, "nul": 0, "oversize": 0, "empty": 0}
    seen = set()
    dups = 0
    rows = {}
    for _key, payload in read_dump(a.dump):
        try:
            if len(payload) == 0:
                raise Dead("empty", "empty payload")
            if len(payload) > a.max_bytes:
                raise Dead("oversize", "payload of %d bytes" % len(payload))
            if b"\0" in payload:
                raise Dead("nul", "NUL byte in payload")
            pub, did, ent, ts, values = parse(payload, columns)
        except Dead as d:
            dead[d.kind] += 1
            continue
        if (pub, did) in seen:
            dups += 1
            continue
        seen.add((pub, did))
        row = rows.setdefault((ent, ts), {})
        for c, v in values.items():
            if c in row:
                errors.append("cell %s of row %s %s arrives twice" % (c, ent, ts))
            row[c] = v

    def expect(name, got, want):
        if int(got) != int(want):
            errors.append("%s: topic has %s, simulator reports %s" % (name, got, want))

    for k, n in dead.items():
        expect("malformed_" + k, n, rep["malformed_" + k])
    expect("valid_sent", len(seen), rep["valid_sent"])
    expect("duplicates", dups, rep["duplicates"])

    def key(ent, ts):
        return (ent, ts) if a.window <= 0 else (ent, ts_ms(ts) // a.window)

    if a.window > 0:
        merged = {}
        for (ent, ts), row in rows.items():
            m = merged.setdefault(key(ent, ts), {})
            for c, v in row.items():
                if c in m:
                    errors.append("cell %s of entity %s arrives twice in window of %s" % (c, ent, ts))
                m[c] = v
        rows = merged
    expect("rows_announced", len(rows), rep["rows_announced"])
    truth_keys = set()
    for t in truth:
        ent, ts, nmsg, mask = t[0], t[1], int(t[2]), t[3]
        if nmsg == 0:
            if key(ent, ts) in rows:
                errors.append("row %s %s exists but the simulator lost all its messages" % (ent, ts))
            continue
        truth_keys.add(key(ent, ts))
        row = rows.get(key(ent, ts))
        if row is None:
            errors.append("row %s %s missing" % (ent, ts))
            continue
        for j, c in enumerate(columns):
            if mask[j] == "1":
                if c not in row:
                    errors.append("row %s %s: observed cell %s missing" % (ent, ts, c))
                elif row[c] != float(t[4 + j]):
                    errors.append("row %s %s: %s = %r, true value %s" % (ent, ts, c, row[c], t[4 + j]))
            elif c in row:
                errors.append("row %s %s: cell %s present but not observed in truth" % (ent, ts, c))
    for k in rows:
        if k not in truth_keys:
            errors.append("row %s %s not in the truth file" % k)

    if a.expected:
        with open(a.expected, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["entity", "ts", "observed"] + columns)
            for (ent, ts), row in sorted(rows.items()):
                if a.window > 0:  # the start of the window
                    ts = datetime.datetime.fromtimestamp(ts * a.window / 1000, datetime.timezone.utc) \
                        .strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
                w.writerow([ent, ts, "".join("1" if c in row else "0" for c in columns)]
                           + [("%r" % row[c]) if c in row else "" for c in columns])

    print("check_stream: rows=%d valid=%d duplicates=%d dead=%d (%s)" % (
        len(rows), len(seen), dups, sum(dead.values()),
        ", ".join("%s=%d" % kv for kv in dead.items())))
    for e in errors[:20]:
        print("FAIL: " + e)
    if len(errors) > 20:
        print("FAIL: ... %d more" % (len(errors) - 20))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
