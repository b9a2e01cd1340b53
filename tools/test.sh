#!/usr/bin/env bash
# Installs what is missing, then builds everything and runs every test.
# Extra arguments go to `bazel test`, e.g. tools/test.sh --config=asan
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh
exec bazel test "$@" -- //...
