#!/usr/bin/env bash
# Records the sample traces shipped in tests/data/ with `heapkit record`:
# python3 running a small workload, sqlite3 running a query script, and
# cc1plus compiling one of HeapKit's sources. Run from anywhere; needs
# python3.11, sqlite3 and g++ (Debian packages python3.11, sqlite3, g++).
#
# Usage: tools/heapkit/record_samples.sh [OUTDIR]   (default: tests/data)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-tests/data}
mkdir -p "$out"
bazel build -c opt //tools/heapkit:heapkit
heapkit=bazel-bin/tools/heapkit/heapkit

"$heapkit" record -o "$out/python.hktrace" -- /usr/bin/python3.11 -c '
import json, re
records = [{"id": i, "name": "item%d" % i, "tags": ["t%d" % (i % 7)] * (i % 5)}
           for i in range(20000)]
text = json.dumps(records)
back = json.loads(text)
words = re.findall(r"item\d+", text)
index = {}
for word in words:
    index.setdefault(word[-2:], []).append(word)
print(len(back), len(words), len(index))
'

"$heapkit" record -o "$out/sqlite.hktrace" -- sqlite3 :memory: '
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, value REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO t SELECT i, printf("name-%08d", (i * 7919) % 20000), i * 0.5 FROM n;
CREATE INDEX t_name ON t(name);
UPDATE t SET value = value * 2 WHERE id % 3 = 0;
DELETE FROM t WHERE id % 10 = 0;
SELECT count(*), sum(value), min(name), max(name) FROM t;
SELECT substr(name, 1, 8), count(*) FROM t GROUP BY 1 ORDER BY 2 DESC LIMIT 3;
'

# The compiler proper, as `g++ -###` shows the driver running it (the driver
# itself allocates little).
cc1plus=$(g++ -print-prog-name=cc1plus)
"$heapkit" record -o "$out/compile.hktrace" -- "$cc1plus" -quiet -I . \
  -imultiarch x86_64-linux-gnu -D_GNU_SOURCE -O1 -std=c++20 \
  tools/heapkit/trace_me.cc -o /dev/null

ls -l "$out"/*.hktrace
