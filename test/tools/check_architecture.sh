#!/usr/bin/env bash
# Fails when docs/architecture.md's file table and the tree disagree: a .c or .h file under
# src/ that the table does not list, a listed file that does not exist, or a file listed twice.
# Run by `make check-architecture` (and so by test/suites/10-unit.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
doc=docs/architecture.md
listed=$(grep -oE '^\| `src/[^`]+\.[ch]` \|' "$doc" | sed -E 's/^\| `([^`]+)` \|$/\1/' | sort)
present=$(find src -type f \( -name '*.c' -o -name '*.h' \) | sort)
missing=$(comm -13 <(echo "$listed") <(echo "$present"))
stale=$(comm -23 <(sort -u <<<"$listed") <(echo "$present"))
twice=$(uniq -d <<<"$listed")
status=0
for f in $missing; do echo "$doc: $f is missing from the file table"; status=1; done
for f in $stale; do echo "$doc: the file table names $f, which does not exist"; status=1; done
for f in $twice; do echo "$doc: the file table lists $f twice"; status=1; done
[ "$status" -eq 0 ] && echo "$doc: the file table lists all $(wc -l <<<"$present") files under src/"
exit "$status"
