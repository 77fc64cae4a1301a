"""Source assembly: the line writer, and the model (and metric) functions copied into generated modules.

A kernel calls the model modules' own functions, written once the way they read on paper. They are copied
with ``copy_functions``: every numeric literal cast to the working precision ``F`` (numba would otherwise
promote float32 arithmetic to float64), each function renamed uniquely (``module__name``) and compiled with
the kernel's fastmath flags; ``call`` writes a call of such a copy with its arguments bound by name.

The copies of one model in one precision form a module of their own (``model_module``), which every kernel of
that model imports: numba compiles them once per machine (its cache beside the module) instead of once per
kernel, and links them into each kernel, where LLVM inlines them as before: the same code, bit for bit.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import re
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction

# fastmath without 'nnan'/'ninf' (divergence is detected by NaN-aware comparisons) and without 'reassoc'
# (no reassociation: a lane's arithmetic is the same in every vector lane and every chunking).
FASTMATH = "{'nsz', 'arcp', 'contract'}"


class Source:
    """Lines of Python source at a current indentation: ``src(line)`` appends one line."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0

    def __call__(self, line: str = "") -> None:
        self.lines.append("    " * self.depth + line if line else "")

    def indent(self) -> None:
        self.depth += 1

    def dedent(self) -> None:
        self.depth -= 1

    @contextmanager
    def block(self, header: str) -> Iterator[None]:
        """``header`` (a ``for``/``if`` line) and the lines written inside the ``with``, one level deeper."""
        self(header)
        self.indent()
        yield
        self.dedent()

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


class _CastLiterals(ast.NodeTransformer):
    """Cast numeric literals to the working precision ``F`` (when ``cast``) and rename the copied functions.

    ``rename`` maps the names a function's body may call (its module's globals) to the unique names of
    the copied functions; the function itself is renamed to ``own``.
    """

    def __init__(self, own: str, rename: dict[str, str], cast: bool = True):
        self.own = own
        self.rename = rename
        self.cast = cast

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if self.cast and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return ast.copy_location(ast.Call(ast.Name("F", ast.Load()), [node], []), node)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node.left = self.visit(node.left)
        if not isinstance(node.op, ast.Pow):  # keep integer exponents integer (x**3 -> x*x*x)
            node.right = self.visit(node.right)
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in self.rename:
            node.id = self.rename[node.id]
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.name = self.own
        node.decorator_list = []
        node.body = [self.visit(s) for s in node.body]
        return node


def qualname(func: Callable) -> str:
    """The unique name of ``func``'s copy in the kernel module: ``module__name``."""
    return f"{func.__module__.rsplit('.', 1)[-1]}__{func.__name__}"


def copy_functions(funcs: list[Callable], metrics: bool = False, cache: bool = False) -> str:
    """Source of ``funcs`` as numba functions, each renamed uniquely: the models' functions of the working
    precision ``F``; with ``metrics``, the metrics' float64 updates, literals as written and inlined by numba
    (``inline='always'``: LLVM's inliner leaves calls in the spike-gated loop, which then runs scalar).
    ``cache``: compiled code kept in numba's cache beside the module (``model_module``)."""
    out = []
    for f in funcs:
        calls = {name: qualname(g) for name, g in f.__globals__.items() if any(g is h for h in funcs)}
        tree = ast.parse(textwrap.dedent(inspect.getsource(f)))
        tree = _CastLiterals(qualname(f), calls, not metrics).visit(tree)
        options = (", inline='always'" if metrics else "") + (", cache=True" if cache else "")
        out.append(f"@njit(fastmath={FASTMATH}, error_model='numpy'{options})\n{ast.unparse(tree)}\n")
    return "\n\n".join(out)


def module_imports(precision: str) -> list[str]:
    """The imports of a generated module of ``precision`` ('np.float64' or 'np.float32'): numpy, numba's njit and
    ``exp``, the vectorisable exponential of that precision (``synsweep.engine.fastexp``)."""
    exp_name = "exp64" if precision == "np.float64" else "exp32"
    return ["import numpy as np", "from numba import njit", f"from synsweep.engine.fastexp import {exp_name} as exp"]


def model_module(model, precision: str, engine_hash: str) -> tuple[str, str, tuple[str, ...]]:
    """(module name, source, names of its functions) of the module that holds the copies of ``model``'s
    functions (``model_functions``) in ``precision`` ('np.float64' or 'np.float32'), ``exp`` the vectorisable
    exponential of that precision. The name is the hash of the source, which embeds the engine's hash: a changed
    model is a new module."""
    funcs = model_functions([model])
    lines = ['"""synsweep model functions: generated by synsweep.engine.kernel; do not edit.',
             "",
             f"model:      {model.name}; F = {precision}",
             f"engine:     {engine_hash}",
             '"""',
             *module_imports(precision),
             "",
             f"F = {precision}",
             "U = np.uint64",
             "",
             "",
             copy_functions(funcs, cache=True)]
    text = pool_constants("\n".join(lines))
    digest = hashlib.sha256(text.encode()).hexdigest()[:20]
    return f"synsweep_models_{digest}", text, tuple(qualname(f) for f in funcs)


def call(func: Callable, bindings: dict[str, str]) -> str:
    """A call of the copied ``func`` with its arguments bound by name (``bindings``: argument -> expression)."""
    names = list(inspect.signature(func).parameters)
    missing = [n for n in names if n not in bindings]
    if missing:
        raise TypeError(f"{func.__module__}.{func.__name__}: no value for argument(s) {missing}")
    return f"{qualname(func)}({', '.join(bindings[n] for n in names)})"


def model_functions(owners: list) -> list[Callable]:
    """Every model function a kernel of neuron and synapse models ``owners`` calls, helpers first, each once."""
    funcs: list[Callable] = []
    for model in owners:
        candidates = [*getattr(model, "helpers", ())]
        candidates += [getattr(model, name, None) for name in
                       ("derivatives", "spike", "after_step", "refractory", "post_jump", "trigger")]
        if hasattr(model, "outputs"):
            candidates += [out.currents for out in model.outputs.values()]
        for f in candidates:
            if f is not None and f not in funcs:
                funcs.append(f)
    return funcs


_UINT_LITERAL = re.compile(r"\bU\((\d+)\)")
_FLOAT_LITERAL = re.compile(r"\bF\((\d+(?:\.\d*)?(?:e[+-]?\d+)?)\)")


def pool_constants(text: str) -> str:
    """The kernel module ``text`` with every cast literal, ``U(1920)`` or ``F(0.5)``, written once as a module
    constant (``U_1920 = U(1920)``, ``F_0_5 = F(0.5)``, placed after ``U = np.uint64``) that numba freezes into
    the code. The same values and the same arithmetic, bit for bit; numba has some hundreds fewer calls to
    type and lower (a kernel compiles about 10% sooner)."""
    def float_name(literal: str) -> str:
        return "F_" + literal.replace(".", "_").replace("-", "m").replace("+", "p")

    uints = sorted({int(n) for n in _UINT_LITERAL.findall(text)})
    floats = sorted(set(_FLOAT_LITERAL.findall(text)), key=lambda x: (float(x), x))  # ties ('1', '1.0') by text
    text = _UINT_LITERAL.sub(lambda m: f"U_{m.group(1)}", text)
    text = _FLOAT_LITERAL.sub(lambda m: float_name(m.group(1)), text)
    anchor = "U = np.uint64\n"
    at = text.index(anchor) + len(anchor)
    pool = [f"U_{n} = U({n})" for n in uints] + [f"{float_name(x)} = F({x})" for x in floats]
    return text[:at] + "".join(line + "\n" for line in pool) + text[at:]


def frac(x: Fraction) -> str:
    """A tableau coefficient as a float literal."""
    return repr(float(x))


def zero_slopes(derivatives: Callable, names: tuple[str, ...]) -> frozenset[str]:
    """The state variables (``names``, in the order ``derivatives`` returns their slopes) whose slope is the
    literal 0 in every ``return`` of ``derivatives``: states that only a model's ``after_step`` changes (a
    refractory counter). Their stage values and their value after the ODE step are y itself (y + a 0 = y
    exactly), so the kernel copies y instead of integrating them."""
    returns = [node.value for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(derivatives))))
               if isinstance(node, ast.Return)]
    zero: set[str] | None = None
    for value in returns:
        elts = value.elts if isinstance(value, ast.Tuple) else [value]
        here = {n for n, e in zip(names, elts, strict=False)
                if isinstance(e, ast.Constant) and isinstance(e.value, int | float) and e.value == 0}
        zero = here if zero is None else zero & here
    return frozenset(zero or ())

