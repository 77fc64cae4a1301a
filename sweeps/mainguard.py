"""A script that starts a local cluster must guard its run with ``if __name__ == "__main__":``.

The local cluster's worker processes are started with multiprocessing's ``spawn``: each imports the user's
script again (as ``__mp_main__``), so a ``run_sweep`` at the top level of the script would run again in every
worker, find the store the driver just created, and the workers would never start. ``check_main_guard`` finds
that mistake in the driver, before anything is written, by locating the top-level statement of the script that
led to the call and checking that it lies inside an ``if __name__ == "__main__":`` block.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path


class MainGuardError(RuntimeError):
    """A local-cluster run started from a script's top level without the ``__main__`` guard."""


def _is_main_test(test: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either order)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    consts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return bool(names and consts)


@cache
def _guarded_lines(file: str) -> tuple[tuple[int, int], ...]:
    """Line ranges of the ``if __name__ == "__main__":`` blocks of ``file`` (none if it cannot be parsed)."""
    try:
        tree = ast.parse(Path(file).read_text())
    except (OSError, SyntaxError, ValueError):
        return ()
    return tuple((node.lineno, node.end_lineno or node.lineno) for node in ast.walk(tree)
                 if isinstance(node, ast.If) and _is_main_test(node.test))


def unguarded_script() -> str | None:
    """The path of the script (``__main__``) whose top-level code, outside a ``__main__`` guard, is calling
    this; None when the call is guarded, or does not come from a script file (an interactive session, a
    notebook, ``python -c``)."""
    main = sys.modules.get("__main__")
    file = getattr(main, "__file__", None)
    if file is None or getattr(main, "__name__", None) != "__main__":
        return None
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__main__":
            if frame.f_code.co_filename != file:
                return None
            line = frame.f_lineno
            if any(lo <= line <= hi for lo, hi in _guarded_lines(file)):
                return None
            return file
        frame = frame.f_back
    return None


def check_main_guard() -> None:
    """Raise MainGuardError when a script's unguarded top level is starting a local-cluster run."""
    script = unguarded_script()
    if script is not None:
        raise MainGuardError(
            f"the sweep is started at the top level of {script} without the guard 'if __name__ == \"__main__\":'. "
            "The local cluster's worker processes import the script again, so each would start the sweep again "
            "and none would run a task. Put the code that runs the sweep under 'if __name__ == \"__main__\":' "
            "(as in the README's Python example), or pass a running cluster's client= or scheduler=.")
