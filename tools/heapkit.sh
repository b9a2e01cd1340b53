#!/usr/bin/env bash
# Installs what is missing, builds the heapkit command (optimised) and runs it
# with the arguments given, in the current directory, e.g.
#   tools/heapkit.sh replay tests/data/sqlite.hktrace --svg heapkit.svg
# (docs/heapkit_command.md). Build output goes to stderr.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
(
  cd "$root"
  tools/bootstrap.sh
  bazel build -c opt --ui_event_filters=-info,-stdout,-stderr --noshow_progress \
    //tools/heapkit:heapkit
) >&2
exec "$root/bazel-bin/tools/heapkit/heapkit" "$@"
