#!/usr/bin/env bash
# Generates the Python API reference (docs/api/*.txt, docs/api/README.md) from the docstrings
# and annotations of the staged package, with Sphinx's autodoc and its plain-text builder.
#   scripts/gen-api-docs.sh [BUILD_DIR]    (default build; needs `ninja -C BUILD_DIR pathways_python`)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
stage="$build/python"
out="$root/docs/api"
if [[ ! -f "$stage/pathways/__init__.py" ]]; then
  echo "gen-api-docs: no staged package in $stage (build the pathways_python target first)" >&2
  exit 1
fi

# The public modules, in reading order: the package (pmap, program, arrays, devices), the type
# aliases its annotations use, then what it exports.
modules=(pathways pathways._types pathways.numpy pathways.lax pathways.nn pathways.random pathways.optimizers
         pathways.models pathways.moe pathways.pipeline pathways.checkpoint pathways.sharding)

src="$(mktemp -d)"
trap 'rm -rf "$src"' EXIT
cat > "$src/conf.py" <<'CONF'
project = "OpenPathways"
extensions = ["sphinx.ext.autodoc"]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints_format = "short"
# Signatures show the aliases (documented in pathways._types and beside their module's
# functions) rather than their expansions.
autodoc_type_aliases = {name: name for name in (
    "ArrayLike", "Axes", "DTypeLike", "Devices", "PyTree", "RuntimeSharding", "Scalar", "Shape",
    "ShapeLike", "Value", "Spec", "Specs", "AxisName", "ArgNums", "VjpFn", "OptState",
    "Schedule", "JSON", "Path", "HostResult", "MeshAxis", "SpecEntry", "TreeDef")}
text_newlines = "unix"


def literal_blocks(app, what, name, obj, options, lines):
    """The docstrings are plain text: show every indented block (code, tables) verbatim."""
    out = []
    for i, line in enumerate(lines):
        starts_block = line.startswith(" ") and line.strip() and (i == 0 or not lines[i - 1].strip()
                                                                   or not lines[i - 1].startswith(" "))
        if starts_block and not (i > 0 and lines[i - 1].startswith(" ")):
            out.extend(["", "::", ""])
        out.append(line)
    lines[:] = out


def setup(app):
    app.connect("autodoc-process-docstring", literal_blocks)
CONF
{
  echo "Python API reference"
  echo "===================="
  echo
  echo ".. toctree::"
  echo
  for m in "${modules[@]}"; do echo "   $m"; done
} > "$src/index.rst"
for m in "${modules[@]}"; do
  printf '%s\n%s\n\n.. automodule:: %s\n' "$m" "$(printf '%*s' ${#m} '' | tr ' ' '=')" "$m" > "$src/$m.rst"
done

rm -f "$out"/*.txt
mkdir -p "$out"
# -E: no stale environment; -Q: the docstrings are plain text, not reStructuredText, so its
# warnings (emphasis, indentation) are not shown.
PYTHONPATH="$stage" /usr/bin/python3 -m sphinx -Q -E -b text -d "$src/.doctrees" "$src" "$out"
rm -rf "$out/.buildinfo" "$out/.doctrees"

# An index for browsing the repository: each module's first docstring line.
PYTHONPATH="$stage" /usr/bin/python3 - "$out/README.md" "${modules[@]}" <<'PY'
import importlib
import sys

path, modules = sys.argv[1], sys.argv[2:]
lines = ["# Python API reference", "",
         "Generated from the package's docstrings and type annotations by",
         "`scripts/gen-api-docs.sh` (`make docs`); do not edit by hand.", ""]
for name in modules:
    doc = (importlib.import_module(name).__doc__ or "").strip().split("\n\n")[0]
    summary = " ".join(doc.split())
    lines.append(f"- [`{name}`]({name}.txt): {summary}")
with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
PY
echo "gen-api-docs: wrote $out"
