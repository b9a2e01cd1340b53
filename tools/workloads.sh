# shellcheck shell=bash
# Real-program workloads for checking and timing a malloc replacement: CPython's own
# test suite, sqlite3, sort and g++. A bash library: `source tools/workloads.sh`
# only defines functions (no options set, no variables, nothing run). Interface:
#
#   workloads_prepare DIR       creates every input the workloads need in DIR
#                               (idempotent: what exists is kept)
#   workload_names SET          prints the workload names of SET (short or long),
#                               one per line
#   workload_run NAME DIR OUT   runs workload NAME on the inputs in DIR with the
#                               caller's environment (set LD_PRELOAD to test a
#                               malloc replacement), writes its normalised output,
#                               the same for every correct allocator, to OUT and
#                               returns the program's exit status (124 or 137:
#                               killed after WORKLOAD_TIMEOUT seconds, default 600)
#
# Only the programs under test see LD_PRELOAD; the helpers that normalise their
# output (sed, sha256sum, wc, ...) run without it. Python runs with
# PYTHONMALLOC=malloc so that every object allocation, not just the large ones,
# reaches the allocator under test.

# Prints the names of the workloads of SET: short (CI, under a minute) or long.
workload_names() {
  local set="${1:-}"
  case "$set" in
    short) printf '%s\n' python_tests_short sqlite sort_10mb gxx ;;
    long)
      printf '%s\n' python_tests_short sqlite sort_10mb gxx \
        python_tests_long sort_50mb gxx_large
      ;;
    *)
      echo "usage: workload_names short|long (not '$set')" >&2
      return 2
      ;;
  esac
}

# Runs a command with LD_PRELOAD removed: for helpers that are not under test.
_workload_host() {
  (
    unset LD_PRELOAD
    exec "$@"
  )
}

# Prints the root of the HeapKit checkout this library belongs to.
_workload_repo() {
  local tools_dir=.
  [[ "${BASH_SOURCE[0]}" != */* ]] || tools_dir="${BASH_SOURCE[0]%/*}"
  _workload_host realpath "$tools_dir/.."
}

# Prints the repo-relative C++ source that workload NAME (gxx or gxx_large) compiles.
_workload_gxx_source() {
  case "$1" in
    gxx) echo core/layout.cc ;;
    gxx_large) echo adapters/growing_allocator_test.cc ;;
  esac
}

# Prints the CPython test modules that workload NAME runs.
_workload_python_modules() {
  case "$1" in
    python_tests_short)
      # Containers, and threads starting and exiting (where thread caches go
      # back); the long set has the slower modules. Short to keep CI short.
      echo test_dict test_list test_set test_json test_collections test_itertools \
        test_struct test_bytes test_array test_weakref test_gc test_thread \
        test_threading test_queue
      ;;
    python_tests_long)
      # Not test_asyncio: its test_get_event_loop_new_process sometimes hangs in
      # ProcessPoolExecutor.shutdown, on glibc too.
      echo test_dict test_list test_set test_unicode test_json test_re test_threading \
        test_pickle test_io test_logging test_subprocess test_zipfile test_tarfile \
        test_bz2 test_lzma test_csv test_marshal test_tokenize test_typing \
        test_inspect test_argparse test_ast test_compile test_decimal test_long \
        test_codecs test_zlib test_difflib test_statistics test_xml_etree \
        test_email
      ;;
  esac
}

# Writes the deterministic text file PATH of about BYTES bytes (words and numbers
# from a fixed-seed Park-Miller generator, exact in awk's doubles); atomic.
_workload_make_text() {
  local path="$1" bytes="$2"
  _workload_host awk -v target="$bytes" '
    BEGIN {
      x = 20240601
      nw = split("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima " \
                 "mike november oscar papa quebec romeo sierra tango uniform victor " \
                 "whiskey xray yankee zulu", word, " ")
      ns = split("ka lo mi ne ru sa ti vo", syllable, " ")
      written = 0
      while (written < target) {
        x = (x * 16807) % 2147483647
        count = 3 + x % 6
        line = ""
        for (i = 0; i < count; i++) {
          x = (x * 16807) % 2147483647
          if (x % 3 == 0) {
            token = x % 100000
          } else if (x % 3 == 1) {
            token = word[1 + int(x / 3) % nw]
          } else {
            token = ""
            y = int(x / 3)
            length_in_syllables = 2 + y % 4
            for (j = 0; j < length_in_syllables; j++) {
              y = int(y / ns)
              token = token syllable[1 + y % ns]
            }
          }
          line = (i == 0) ? token : line " " token
        }
        print line
        written += length(line) + 1
      }
    }' >"$path.partial"
  mv "$path.partial" "$path"
}

# Writes the SQL script PATH: a 100,000-row table built with a recursive CTE,
# indexes, UPDATEs and DELETEs, then queries whose output is fully ordered.
_workload_make_sql() {
  local path="$1"
  cat >"$path.partial" <<'SQL'
-- HeapKit workload: a deterministic SQLite session over a 100,000-row table.
CREATE TABLE customers (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  region TEXT NOT NULL,
  score INTEGER NOT NULL
);
CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL,
  amount INTEGER NOT NULL,
  status TEXT NOT NULL,
  note TEXT NOT NULL
);
BEGIN;
WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 5000)
INSERT INTO customers
SELECT n, printf('customer-%05d', n), 'region-' || (n * 37 % 17), n * 7919 % 1000 FROM seq;
WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 100000)
INSERT INTO orders
SELECT n,
       n * 7877 % 5000 + 1,
       n * 104729 % 100003,
       CASE n % 5 WHEN 0 THEN 'new' WHEN 1 THEN 'paid' WHEN 2 THEN 'shipped'
                  WHEN 3 THEN 'returned' ELSE 'cancelled' END,
       printf('note-%08d-%s', n * 40503 % 1000003,
              substr('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ',
                     n % 26 + 1, n % 23 + 1))
FROM seq;
COMMIT;
CREATE INDEX orders_by_customer ON orders(customer_id);
CREATE INDEX orders_by_amount ON orders(amount);
CREATE INDEX orders_by_note ON orders(note);
CREATE INDEX customers_by_region ON customers(region, score);
UPDATE orders SET amount = amount + 17 WHERE id % 3 = 0;
UPDATE orders SET status = 'shipped', note = note || '-expedited'
  WHERE status = 'paid' AND amount > 50000;
UPDATE customers SET score = score / 2 WHERE region IN ('region-3', 'region-11');
DELETE FROM orders WHERE id % 7 = 0 OR amount < 1000;
DELETE FROM orders WHERE customer_id % 101 = 0;
DELETE FROM customers WHERE id % 101 = 0;
.print == totals
SELECT count(*), sum(amount), min(amount), max(amount), sum(length(note)) FROM orders;
.print == by status
SELECT status, count(*), sum(amount), max(note) FROM orders GROUP BY status ORDER BY status;
.print == by region
SELECT c.region, count(o.id), sum(o.amount), count(DISTINCT c.id)
FROM customers AS c JOIN orders AS o ON o.customer_id = c.id
GROUP BY c.region ORDER BY c.region;
.print == top customers
SELECT c.name, count(*) AS n, sum(o.amount) AS total
FROM customers AS c JOIN orders AS o ON o.customer_id = c.id
GROUP BY c.id ORDER BY total DESC, c.id LIMIT 25;
.print == best per region
SELECT region, name, score FROM (
  SELECT region, name, score,
         row_number() OVER (PARTITION BY region ORDER BY score DESC, id) AS rank
  FROM customers)
WHERE rank <= 3 ORDER BY region, rank;
.print == notes
SELECT id, amount, note FROM orders ORDER BY note DESC, id LIMIT 20;
SELECT count(*), sum(length(note)), min(note), max(note)
FROM (SELECT note FROM orders ORDER BY substr(note, 15), amount, id);
.print == orphans
SELECT count(*) FROM orders AS o
WHERE NOT EXISTS (SELECT 1 FROM customers AS c WHERE c.id = o.customer_id);
.print == amount histogram
SELECT amount / 10000 AS bucket, count(*), sum(amount) FROM orders GROUP BY bucket ORDER BY bucket;
.print == integrity
PRAGMA integrity_check;
SQL
  mv "$path.partial" "$path"
}

# Creates every input the workloads need in DIR; keeps what already exists.
workloads_prepare() {
  if [ "$#" -ne 1 ]; then
    echo "usage: workloads_prepare DIR" >&2
    return 2
  fi
  local dir="$1"
  (
    unset LD_PRELOAD  # Nothing here is under test.
    _workloads_prepare_inputs "$dir"
  )
}

# Does workloads_prepare's work for DIR.
_workloads_prepare_inputs() {
  local dir="$1" version=1
  mkdir -p "$dir"
  # Inputs of an older format are dropped, so a changed generator takes effect.
  if [ "$(cat "$dir/FORMAT" 2>/dev/null)" != "$version" ]; then
    rm -f "$dir/sort_50mb.txt" "$dir/sort_10mb.txt" "$dir/sqlite.sql"
    echo "$version" >"$dir/FORMAT"
  fi
  [ -s "$dir/sort_50mb.txt" ] || _workload_make_text "$dir/sort_50mb.txt" $((50 * 1024 * 1024))
  if [ ! -s "$dir/sort_10mb.txt" ]; then
    # The first whole lines of the 50 MB file, up to 10 MB.
    # shellcheck disable=SC2016 # sed's $d is not a shell expansion.
    _workload_host head -c $((10 * 1024 * 1024)) "$dir/sort_50mb.txt" |
      _workload_host sed '$d' >"$dir/sort_10mb.txt.partial"
    mv "$dir/sort_10mb.txt.partial" "$dir/sort_10mb.txt"
  fi
  [ -s "$dir/sqlite.sql" ] || _workload_make_sql "$dir/sqlite.sql"
  # g++ compiles sources in place in the checkout (copies would go stale against
  # its headers); check that they are there.
  local repo name source
  repo="$(_workload_repo)"
  for name in gxx gxx_large; do
    source="$(_workload_gxx_source "$name")"
    if [ ! -f "$repo/$source" ]; then
      echo "workloads_prepare: $repo/$source (compiled by $name) is missing" >&2
      return 1
    fi
  done
}

# Runs a CPython regrtest workload; keeps its output less timings and load averages.
_workload_python() {
  local name="$1" out="$2" tmp="$3" limit="$4" status=0
  local -a modules
  read -r -a modules <<<"$(_workload_python_modules "$name")"
  # Debian's interpreter, whose tests libpython3.11-testsuite installs (python3 on
  # PATH may be a pyenv shim). Sequential (no -j), so the order of the output is
  # fixed; --timeout makes a hung test dump its stacks before the outer timeout.
  (cd "$tmp" && TMPDIR="$tmp" PYTHONMALLOC=malloc \
    timeout --kill-after=30 "$limit" /usr/bin/python3.11 -m test --timeout=300 \
    "${modules[@]}" </dev/null >"$tmp/raw" 2>&1) || status=$?
  # Drops the "0:01:02 load avg: 0.52 " prefixes, the "-- test_x passed in 31.2 sec"
  # tails of progress lines and the last test's "test_x passed in 31.2 sec" line
  # (both shown only past 30 s), every other duration ("1.2 sec", "1 min 2 sec",
  # "345 ms", "1 hour 2 min") and the total duration.
  local duration='[0-9.]+ (hour|min|sec|ms)( [0-9]+ (min|sec))?'
  _workload_host sed -E \
    -e 's/^[0-9]+:[0-9]{2}:[0-9]{2} (load avg: [0-9.]+ )?//' \
    -e 's/^(\[ *[0-9]+\/[0-9]+\] [A-Za-z0-9_.]+) -- .*$/\1/' \
    -e "/^[A-Za-z0-9_.]+ passed in $duration\$/d" \
    -e "s/ in $duration\$//" \
    -e "s/$duration/TIME/g" \
    -e '/^Total duration: /d' \
    "$tmp/raw" >"$out"
  return "$status"
}

# Runs sort in several modes on the text file INPUT; records each result's hash.
_workload_sort() {
  local input="$1" out="$2" tmp="$3" limit="$4" status=0 mode
  local -a modes=("" "-n -k3,3 -k1,1" "-u -k2,2" "-s -r -k4,4")
  : >"$out"
  for mode in "${modes[@]}"; do
    local -a options
    read -r -a options <<<"$mode"
    LC_ALL=C timeout --kill-after=30 "$limit" sort --parallel=2 -T "$tmp" \
      "${options[@]}" -o "$tmp/sorted" "$input" </dev/null 2>>"$out" || status=$?
    [ "$status" -eq 0 ] || break
    printf 'sort %s: %s %s lines\n' "${mode:-(plain)}" \
      "$(_workload_host sha256sum <"$tmp/sorted" | _workload_host cut -d' ' -f1)" \
      "$(_workload_host wc -l <"$tmp/sorted")" >>"$out"
  done
  return "$status"
}

# Compiles one of the checkout's sources with g++ -O2; records its diagnostics
# and the hash of the object file (byte-identical under any correct allocator).
_workload_gxx() {
  local name="$1" out="$2" tmp="$3" limit="$4" status=0 repo source
  repo="$(_workload_repo)"
  source="$(_workload_gxx_source "$name")"
  # A fixed -frandom-seed keeps the few randomly named symbols stable across runs.
  (cd "$repo" && timeout --kill-after=30 "$limit" g++ -std=c++20 -O2 \
    -frandom-seed=heapkit -I "$repo" -c "$source" -o "$tmp/object.o" \
    </dev/null >"$out" 2>&1) || status=$?
  if [ "$status" -eq 0 ]; then
    printf '%s: %s\n' "$source" \
      "$(_workload_host sha256sum <"$tmp/object.o" | _workload_host cut -d' ' -f1)" >>"$out"
  fi
  return "$status"
}

# Runs workload NAME on the inputs in DIR, writes its normalised output to OUT and
# returns the program's exit status.
workload_run() {
  if [ "$#" -ne 3 ]; then
    echo "usage: workload_run NAME DIR OUT" >&2
    return 2
  fi
  local name="$1" dir="$2" out="$3"
  local limit="${WORKLOAD_TIMEOUT:-600}" tmp status=0
  tmp="$(_workload_host mktemp -d "${TMPDIR:-/tmp}/heapkit-workload.XXXXXX")"
  case "$name" in
    python_tests_short | python_tests_long)
      _workload_python "$name" "$out" "$tmp" "$limit" || status=$?
      ;;
    sqlite)
      # An in-memory database: every page SQLite touches comes from malloc.
      timeout --kill-after=30 "$limit" sqlite3 -bail :memory: \
        <"$dir/sqlite.sql" >"$out" 2>&1 || status=$?
      ;;
    sort_10mb | sort_50mb)
      _workload_sort "$dir/$name.txt" "$out" "$tmp" "$limit" || status=$?
      ;;
    gxx | gxx_large)
      _workload_gxx "$name" "$out" "$tmp" "$limit" || status=$?
      ;;
    *)
      echo "workload_run: unknown workload '$name'" >&2
      status=2
      ;;
  esac
  _workload_host rm -rf "$tmp"
  return "$status"
}
