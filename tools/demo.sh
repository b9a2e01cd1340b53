#!/usr/bin/env bash
# Installs what is missing, then builds and runs the demo (tools/demo/demo.cc).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh
exec bazel run --config=opt --ui_event_filters=-info,-stdout,-stderr --noshow_progress //tools/demo
