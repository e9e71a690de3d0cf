#!/usr/bin/env bash
# Run the live-frame tests under pandas 2.2 (the main environment has pandas 3.x).
#   bash tests/live/run_pandas22.sh [pytest args...]
# Makes (once) a venv in .venv-pandas22 that sees the main environment's packages, pins
# pandas>=2.2,<2.3 inside it, installs jazz_nb there in editable mode, then runs tests/live.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${JAZZ_PANDAS22_VENV:-.venv-pandas22}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv --system-site-packages "$venv"
fi
"$venv/bin/python" -m pip install -q "pandas>=2.2,<2.3"
"$venv/bin/python" -m pip install -q --no-deps -e .
"$venv/bin/python" -c 'import pandas; assert pandas.__version__.startswith("2.2"), pandas.__version__; print("pandas", pandas.__version__)'
exec "$venv/bin/python" -m pytest tests/live -p no:cacheprovider "$@"
