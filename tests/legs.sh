#!/usr/bin/env bash
# The whole test suite again, in environments other than the pinned one of the README:
#   lowest  the lowest release of every declared dependency (constraints/lowest.txt)
#   newest  the newest release of everything, unconstrained; a failure names the releases
#           that differ from constraints/tested.txt
#   pin     write the newest leg's versions to constraints/tested.txt (after it passed)
# Usage: bash tests/legs.sh [lowest] [newest] [pin] [-- pytest args]   (default: lowest newest)
# Without pytest args a leg runs the in-process tier (-m "not slow"): the tests that reach
# pandas, pyarrow and DuckDB directly. The multi-process tier (servers, kernels, fault
# campaigns) runs once, in the pinned environment; pass -- -m "" to run it in a leg too.
# Each leg keeps its virtualenv in .venv-<leg> and brings it up to date on every run.
set -euo pipefail
cd "$(dirname "$0")/.."

legs=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do legs+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#legs[@]} -gt 0 ] || legs=(lowest newest)

venv() {  # venv NAME: the leg's interpreter, created once
  local dir=".venv-$1"
  [ -x "$dir/bin/python" ] || python3 -m venv "$dir"
  echo "$dir/bin/python"
}

run_leg() {  # run_leg NAME PIP-ARGS...: install, show versions, run the suite
  local name=$1; shift
  local py; py=$(venv "$name")
  echo "== $name leg: installing"
  "$py" -m pip install -q "$@" 2>&1 | grep -v "^WARNING: Location" || true
  "$py" -c 'import duckdb, pandas, pyarrow, numpy; print("==", "duckdb", duckdb.__version__,
    "pandas", pandas.__version__, "pyarrow", pyarrow.__version__, "numpy", numpy.__version__)'
  local changed; changed=$("$py" tests/packaging/versions.py diff)
  echo "== $name leg: releases other than constraints/tested.txt: $changed"
  if ! "$py" -m pytest -p no:cacheprovider "${pytest_args[@]}"; then
    echo "== $name leg FAILED with: $changed"
    [ "$name" = newest ] && echo "== a new release broke the suite; fix it, then: bash tests/legs.sh newest pin"
    return 1
  fi
}

pytest_args=("$@")
[ ${#pytest_args[@]} -gt 0 ] || pytest_args=(-m "not slow")
status=0
for leg in "${legs[@]}"; do
  case "$leg" in
    lowest) run_leg lowest -e ".[test]" -c constraints/lowest.txt || status=1 ;;
    newest) run_leg newest --upgrade --upgrade-strategy eager -e ".[test]" || status=1 ;;
    pin) if [ $status = 0 ]; then "$(venv newest)" tests/packaging/versions.py pin
         else echo "== not pinning: a leg failed"; fi ;;
    *) echo "unknown leg '$leg' (lowest, newest, pin)"; exit 2 ;;
  esac
done
exit $status
