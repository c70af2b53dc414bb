#!/usr/bin/env bash
# Static checks of the Python client: mypy --strict (mypy.ini) over the staged package and the
# examples, then stubtest, which imports the compiled extension and checks that
# python/pathways/_pathways.pyi declares exactly what it binds (python/stubtest-allowlist.txt
# lists the pybind11 details the stub leaves out on purpose).
#   scripts/typecheck.sh [BUILD_DIR]    (default build; needs `ninja -C BUILD_DIR pathways_python`)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
stage="$build/python"
if [[ ! -f "$stage/pathways/__init__.py" ]]; then
  echo "typecheck: no staged package in $stage (build the pathways_python target first)" >&2
  exit 1
fi

# Debian's python3 carries mypy (the pyenv interpreter first on PATH may not).
py=/usr/bin/python3
export MYPYPATH="$stage"
"$py" -m mypy --strict --config-file "$root/mypy.ini" --cache-dir "$build/mypy_cache" \
  "$stage/pathways" "$root"/examples/*.py
PYTHONPATH="$stage" "$py" -m mypy.stubtest --mypy-config-file "$root/mypy.ini" \
  --allowlist "$root/python/stubtest-allowlist.txt" pathways._pathways
