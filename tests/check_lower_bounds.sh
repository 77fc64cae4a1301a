#!/usr/bin/env bash
# Are pyproject.toml's lower bounds true? Installs exactly the lowest version every dependency allows (each
# "name>=X" pinned to "name==X"; the test tools unpinned) into a fresh virtual environment, then runs a subset
# of the tests that covers the store, the runner, the CLI, the exports (the CF checker included) and the
# dashboard extra. Not part of the CI run: it downloads a second set of packages. Measured on the shared 2-core
# machine: 8 min 44 s with a cold pip cache (install 402 s, tests 90 s), 4 min 35 s into an existing VENV_DIR
# (install 25 s, 56 tests 233 s under a load of 5).
#
#   tests/check_lower_bounds.sh [VENV_DIR]        (default: a temporary folder, removed afterwards)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${1:-}
if [ -z "$VENV" ]; then
    VENV=$(mktemp -d)/venv
    trap 'rm -rf "$(dirname "$VENV")"' EXIT
fi
PYTHON=${PYTHON:-python3}
"$PYTHON" -m venv "$VENV"
CONSTRAINTS=$(dirname "$VENV")/lowest.txt
"$VENV/bin/python" - "$ROOT/pyproject.toml" > "$CONSTRAINTS" <<'PY'
import re, sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
extras = project["optional-dependencies"]
for dep in [*project["dependencies"], *extras.get("cluster", []), *extras.get("dashboard", [])]:
    m = re.match(r"^([A-Za-z0-9_.-]+)(\[[^]]*\])?\s*>=\s*([^,;\s]+)", dep)
    if m:
        print(f"{m.group(1)}=={m.group(3)}")
PY
echo "lowest versions:"; sed 's/^/  /' "$CONSTRAINTS"
start=$(date +%s)
"$VENV/bin/pip" install -q -c "$CONSTRAINTS" -e "$ROOT[test,dashboard]"
echo "installed in $(( $(date +%s) - start )) s"
"$VENV/bin/pip" list 2>/dev/null | grep -i -E "^(numpy|numba|llvmlite|dask|distributed|xarray|zarr|numcodecs|h5netcdf|h5py|click|tqdm|matplotlib|dask-jobqueue|bokeh) "
start=$(date +%s)
cd "$ROOT"
"$VENV/bin/python" -m pytest -q -n 0 -p no:cacheprovider \
    tests/unit/test_spec.py tests/unit/test_cf_attrs.py tests/unit/test_auto_chunks.py \
    tests/e2e/test_first_time_messages.py tests/e2e/test_damaged_stores.py tests/e2e/test_readme_example.py \
    tests/e2e/test_dashboard.py
echo "tests ran in $(( $(date +%s) - start )) s"
