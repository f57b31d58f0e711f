#!/usr/bin/env bash
# The man pages must be clean under mandoc's linter (warnings and up).
# Exit 77 tells CTest the test was skipped (no mandoc), not passed.
set -u
command -v mandoc >/dev/null || { echo "SKIP: mandoc is not installed (apt-get install mandoc)"; exit 77; }
status=0
for page in "$@"; do
  [[ -f $page ]] || { echo "missing: $page"; status=1; continue; }
  out=$(mandoc -Tlint -W warning "$page" 2>&1)
  if [[ -n $out ]]; then
    echo "$out"
    status=1
  fi
done
exit $status
