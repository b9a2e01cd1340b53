#!/usr/bin/env bash
# Checks that every snippet of a source file marked "// [name]" ... "// [name]"
# appears, as it is, in a Markdown document, so that the document quotes code
# that builds and runs. Usage: doc_snippets_test.sh <source> <document>
set -euo pipefail
source_file="$1"
document="$2"
status=0
names=$(sed -n 's|^// \[\([a-z_]*\)\]$|\1|p' "$source_file" | sort -u)
if [ -z "$names" ]; then
  echo "doc_snippets_test: no // [name] markers in $source_file" >&2
  exit 1
fi
for name in $names; do
  snippet=$(awk -v marker="// [$name]" '
    $0 == marker { inside = !inside; next }
    inside { print }' "$source_file")
  if ! python3 - "$document" "$snippet" <<'PY'
import sys
document, snippet = open(sys.argv[1]).read(), sys.argv[2]
sys.exit(0 if "```cpp\n" + snippet + "\n```" in document else 1)
PY
  then
    echo "doc_snippets_test: $document does not quote [$name] of" \
      "$source_file as it is" >&2
    status=1
  fi
done
[ "$status" -eq 0 ] && echo "doc_snippets_test: $(wc -w <<<"$names") snippets quoted"
exit "$status"
