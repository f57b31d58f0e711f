#!/usr/bin/env bash
# The man pages must be clean under mandoc's linter at every level, STYLE
# included, and under groff's warnings (-ww) when groff is installed.
# Two kinds of mandoc message depend on the host, not on the pages, and are
# the only ones ignored: "referenced manual not found" (hinetd's own pages
# are not installed where the test runs, nor are tcpserver(1) or inetd(8))
# and "outdated mandoc.db" (the host's index of installed pages).
# Exit 77 tells CTest the test was skipped (no mandoc), not passed.
set -u
command -v mandoc >/dev/null || { echo "SKIP: mandoc is not installed (apt-get install mandoc)"; exit 77; }
have_groff=0
command -v groff >/dev/null && have_groff=1
status=0
for page in "$@"; do
  [[ -f $page ]] || { echo "missing: $page"; status=1; continue; }
  out=$(mandoc -Tlint -W style "$page" 2>&1 |
        grep -v -e ': STYLE: referenced manual not found: ' -e '^mandoc: outdated mandoc\.db ')
  if [[ -n $out ]]; then
    echo "$out"
    status=1
  fi
  if (( have_groff )); then
    out=$(groff -ww -man -Tutf8 "$page" 2>&1 >/dev/null)
    if [[ -n $out ]]; then
      echo "groff -ww: $page:"
      echo "$out"
      status=1
    fi
  fi
done
(( have_groff )) || echo "note: groff is not installed; only mandoc was run"
exit $status
