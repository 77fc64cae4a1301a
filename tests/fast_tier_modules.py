"""Does the fast tier exercise every module of the package? Reads a coverage data file and lists, per module of
engine/, sweeps/ and workflows/, whether a line inside one of its functions ran (not just its import: the
``def`` and module-level lines run on import, so they do not count). A module without functions counts as
exercised when it was imported. Functions that only ever run as numba code are invisible to coverage: the
neuron and synapse models (module-level functions of engine/models and engine/synapses, whose source the kernel
generator reads) and ``@njit`` functions; a module made only of those counts when it was imported. Not part of
the test run; coverage (with pytest-cov for -n 2) is needed only here:

    .venv/bin/pip install coverage pytest-cov
    SYNSWEEP_CACHE_DIR=$(mktemp -d) .venv/bin/python -m pytest -q -n 2 --dist loadgroup -m "not slow" \\
        --cov=engine --cov=sweeps --cov=workflows --cov-report= tests
    .venv/bin/python tests/fast_tier_modules.py .coverage

Exit status 1 when a module was not exercised. Code run only inside dask workers or CLI sub-processes is not
measured (their in-process callers usually are), so a miss names a module to look at, not a proof of a gap.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from coverage import CoverageData

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"engine": "synsweep.engine", "sweeps": "synsweep.sweeps", "workflows": "synsweep.workflows"}


COMPILED_FOLDERS = ("engine/models", "engine/synapses")  # model functions: source read into the kernels


def is_jitted(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Decorated with numba's ``njit`` or ``jit`` (called or not)."""
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if (target.id if isinstance(target, ast.Name) else getattr(target, "attr", "")) in ("njit", "jit"):
            return True
    return False


def function_body_lines(path: Path) -> set[int]:
    """Line numbers of the statements inside the module's functions and methods (their bodies only), leaving out
    the functions that run only as compiled numba code."""
    tree = ast.parse(path.read_text())
    compiled = set()
    if path.parent.relative_to(ROOT).as_posix() in COMPILED_FOLDERS:  # module-level functions; methods do run
        compiled = {id(node) for node in tree.body if isinstance(node, ast.FunctionDef)}
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not (is_jitted(node) or id(node) in compiled):
            for statement in node.body:
                lines.update(range(statement.lineno, (statement.end_lineno or statement.lineno) + 1))
    return lines


def main(data_file: str) -> int:
    data = CoverageData(basename=data_file)
    data.read()
    measured = {Path(f).resolve(): set(data.lines(f) or ()) for f in data.measured_files()}
    missing = []
    rows = []
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join((package, *(parts[:-1] if parts[-1] == "__init__" else parts)))
            ran = measured.get(path.resolve())
            body = function_body_lines(path)
            if ran is None:
                state = "not imported"
            elif not body:
                state = "imported (no functions, or compiled ones only)"
            elif ran & body:
                state = f"exercised ({len(ran & body)}/{len(body)} function lines)"
            else:
                state = "imported only"
            rows.append((name, state))
            if not state.startswith(("exercised", "imported (no")):
                missing.append(name)
    for name, state in rows:
        print(f"{name:50s} {state}")
    print(f"{len(rows) - len(missing)} of {len(rows)} modules exercised by the measured run")
    if missing:
        print("not exercised:", ", ".join(missing))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".coverage"))
