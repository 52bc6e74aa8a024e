#!/usr/bin/env python3
"""Rows of sensor readings split over partitions, as kafka_tool produce lines.

Each row (entity, second) is sent as one message per partition, each carrying its own
share of the eight fields, so a row is complete only once every partition delivered its
piece.  Usage: gen_parts.py ENTITIES SECONDS PARTITIONS [START_EPOCH] [--row-per-message]
With --row-per-message, each row is one message (all fields) on partition
entity % PARTITIONS (keyed by entity, as a producer sharing a topic between servers must).
Output lines are "@P<TAB>payload".
"""
import json
import sys
from datetime import datetime, timezone

FIELDS = ["temp", "hum", "pres", "light", "co2", "noise", "vib", "door"]


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    whole = "--row-per-message" in sys.argv
    entities, seconds, parts = int(args[0]), int(args[1]), int(args[2])
    start = int(args[3]) if len(args) > 3 else 1795000000
    out = sys.stdout
    for t in range(seconds):
        ts = datetime.fromtimestamp(start + t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        for e in range(entities):
            vals = {f: round(10 * k + e + t / 1000.0, 3) for k, f in enumerate(FIELDS)}
            ent = "e%d" % e
            if whole:
                msg = {"publisher_id": ent, "data_id": start + t, "entity": ent, "ts": ts}
                msg.update(vals)
                p = e % parts
                out.write("@%d\t%s\n" % (p, json.dumps(msg, separators=(",", ":"))))
                continue
            for p in range(parts):
                msg = {"publisher_id": "%s-%d" % (ent, p), "data_id": start + t, "entity": ent, "ts": ts}
                for k, f in enumerate(FIELDS):
                    if k % parts == p:
                        msg[f] = vals[f]
                out.write("@%d\t%s\n" % (p, json.dumps(msg, separators=(",", ":"))))


if __name__ == "__main__":
    main()
