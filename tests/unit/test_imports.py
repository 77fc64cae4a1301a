"""No import cycles among the package's modules.

The imports of every module under engine/, sweeps/ and workflows/ are read with ``ast`` (module-level and
function-level alike; imports under ``if TYPE_CHECKING:`` are left out, they never run). Relative imports and
absolute ``synsweep.`` imports are resolved to the module they load: ``from .a import b`` is an edge to
``a``, or to ``a.b`` where that is a module. A cycle is a strongly connected component of that graph.

The test fails on any cycle that is not inside one listed in ``KNOWN_CYCLES`` (none).

The same reading checks that a module-level constant (an upper-case name) is defined in one module only,
so a value such as ``STATUS_OK`` or ``DEFAULT_CHUNK_POINTS`` has one home that the others import; that the
helpers once defined twice (``sweep_dims``, ``format_bytes``, the kernel key, the trace layout, ...) have one
home; and that no module uses another module's private (``_underscore``) names.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"engine": "synsweep.engine", "sweeps": "synsweep.sweeps", "workflows": "synsweep.workflows"}

# Cycles tolerated, each the set of modules of one cycle (SCC): none since issue 13 removed the last five
# (codegen<->looped, chunks<->continuation, clusters<->spec, damage<->store, the CLI's sub-command registration).
KNOWN_CYCLES: tuple[frozenset[str], ...] = ()

# Upper-case names that several modules define on purpose, each with its own meaning.
SHARED_NAMES = {
    "WORKFLOW",  # every study module's entry point (workflows/studies/*.py)
    "REDUCTIONS",  # spec/refinement.py: a refine criterion's reductions; selection.py: the analysis reductions
}

# Helpers that had two or three definitions (some with different results): each has one home, and no other
# module defines a function of that name, public or private.
ONE_HOME = {
    "sweep_dims": "synsweep.workflows.selection",
    "format_bytes": "synsweep.sweeps.errors",
    "kernel_key": "synsweep.engine.simulate",  # the engine's; a sweep's is TaskPlan.kernel (sweeps/plan.py)
    "task_plan": "synsweep.sweeps.plan",
    "trace_layout": "synsweep.sweeps.traces",
    "traced_indices": "synsweep.sweeps.traces",
    "grid_index": "synsweep.sweeps.traces",  # a record point's coordinate on the grid (was also store.point_index)
    "estimate": "synsweep.sweeps.spec.sizing",
    "load_spec": "synsweep.sweeps.spec.loading",
}


def module_files(root: Path = ROOT, packages: dict[str, str] = PACKAGES) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (its file, whether it is a package ``__init__``)."""
    out: dict[str, tuple[Path, bool]] = {}
    for folder, package in packages.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = path.relative_to(root / folder).with_suffix("").parts
            is_init = parts[-1] == "__init__"
            name = ".".join((package, *(parts[:-1] if is_init else parts)))
            out[name] = (path, is_init)
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (never executed at run time)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                skip.update(id(n) for n in ast.walk(stmt))
    return skip


def _resolve(name: str, is_init: bool, node: ast.ImportFrom) -> str:
    """The module an ``ImportFrom`` reads from, absolute."""
    if not node.level:
        return node.module or ""
    here = name if is_init else name.rpartition(".")[0]
    base = here.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def private_uses(root: Path = ROOT, packages: dict[str, str] = PACKAGES) -> set[tuple[str, str]]:
    """(module, "other.module._name") for every private name of another package module that a module
    imports (``from .x import _y``) or reads as an attribute of an imported module (``x._y``)."""
    modules = module_files(root, packages)
    found: set[tuple[str, str]] = set()
    for name, (path, is_init) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        aliases: dict[str, str] = {}  # local name -> package module
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_init, node)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    if full in modules:
                        aliases[alias.asname or alias.name] = full
                    elif base in modules and alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.add((name, full))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in modules and alias.asname:
                        aliases[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                found.add((name, f"{aliases[node.value.id]}.{node.attr}"))
    return {(user, used) for user, used in found if used.rpartition(".")[0] != user}


def import_graph(root: Path = ROOT, packages: dict[str, str] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the package modules it imports (anywhere in the file)."""
    modules = module_files(root, packages)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, is_init) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        skip = _type_checking_nodes(tree)
        here = name if is_init else name.rpartition(".")[0]  # the package a relative import starts from
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    base_name = ".".join(base + ([node.module] if node.module else []))
                else:
                    base_name = node.module or ""
                targets = [f"{base_name}.{alias.name}" if f"{base_name}.{alias.name}" in modules else base_name
                           for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:  # `import synsweep.engine.x.y` -> the module part
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def cycle_path(graph: dict[str, set[str]], component: frozenset[str]) -> list[str]:
    """One concrete cycle through a component, ``[a, b, ..., a]`` (breadth-first from its first module)."""
    start = min(component)
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for child in sorted(graph[node] & component):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]
                if child not in parents:
                    parents[child] = node
                    nxt.append(child)
        frontier = nxt
    raise AssertionError(f"{sorted(component)} is not a cycle")


def test_the_graph_sees_relative_absolute_and_function_level_imports(tmp_path: Path) -> None:
    files = {
        "__init__.py": "from .a import f\n",
        "a.py": "import synsweep.pkg.b\n\ndef f():\n    from .sub import c\n",
        "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import f\nimport os\n",
        "sub/__init__.py": "",
        "sub/c.py": "from .. import b\nfrom synsweep.pkg import f\nfrom synsweep.pkg.a import f as g\n",
    }
    for name, text in files.items():
        (tmp_path / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pkg" / name).write_text(text)
    graph = import_graph(tmp_path, {"pkg": "synsweep.pkg"})
    assert graph == {
        "synsweep.pkg": {"synsweep.pkg.a"},
        "synsweep.pkg.a": {"synsweep.pkg.b", "synsweep.pkg.sub.c"},
        "synsweep.pkg.b": set(),  # the TYPE_CHECKING import never runs
        "synsweep.pkg.sub": set(),
        "synsweep.pkg.sub.c": {"synsweep.pkg.b", "synsweep.pkg", "synsweep.pkg.a"},
    }
    assert cycles(graph) == [frozenset({"synsweep.pkg", "synsweep.pkg.a", "synsweep.pkg.sub.c"})]


def test_cycle_finder_reports_a_planted_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [frozenset("abc")]
    assert cycle_path(graph, frozenset("abc")) == ["a", "b", "c", "a"]


def test_no_new_import_cycles() -> None:
    graph = import_graph()
    new = [c for c in cycles(graph) if not any(c <= known for known in KNOWN_CYCLES)]
    assert not new, "import cycles: " + "; ".join(" -> ".join(cycle_path(graph, c)) for c in new)


def test_each_constant_is_defined_once() -> None:
    homes: dict[str, list[str]] = {}
    for name, (path, _) in module_files().items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, ast.AnnAssign) else []
            for target in targets:
                for leaf in target.elts if isinstance(target, ast.Tuple) else [target]:
                    if isinstance(leaf, ast.Name) and leaf.id.isupper() and leaf.id not in SHARED_NAMES:
                        homes.setdefault(leaf.id, []).append(name)
    twice = {constant: modules for constant, modules in homes.items() if len(modules) > 1}
    assert not twice, f"constants defined in more than one module (import them from one): {twice}"


def test_each_listed_helper_has_one_home() -> None:
    homes: dict[str, list[str]] = {}
    for name, (path, _) in module_files().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.lstrip("_") in ONE_HOME:
                homes.setdefault(node.name.lstrip("_"), []).append(name)
    assert {helper: homes.get(helper) for helper in ONE_HOME} == {h: [m] for h, m in ONE_HOME.items()}


def test_the_private_name_check_sees_imports_and_attributes(tmp_path: Path) -> None:
    files = {"__init__.py": "", "a.py": "def _f():\n    pass\n\ndef g():\n    _f()\n",
             "b.py": "from .a import _f\n", "c.py": "from . import a\n\na._f()\n", "d.py": "from .a import g\n"}
    for name, text in files.items():
        (tmp_path / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pkg" / name).write_text(text)
    assert private_uses(tmp_path, {"pkg": "synsweep.pkg"}) == {("synsweep.pkg.b", "synsweep.pkg.a._f"),
                                                               ("synsweep.pkg.c", "synsweep.pkg.a._f")}


def test_no_module_uses_another_modules_private_names() -> None:
    found = private_uses()
    assert not found, f"private names used from another module (make them public or move the code): {sorted(found)}"
