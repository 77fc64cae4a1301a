"""The kernel generator: one stepping routine that composes models x synapses x tableau x precision x scheme.

For a circuit structure it writes the source of a numba module with one function, ``run``, that advances
a batch of independent copies of the circuit (one per sweep point, the *lane* index ``i`` innermost and
contiguous) by ``n_steps`` steps and accumulates the online metrics. The model equations are the model
modules' own functions, copied in with every numeric literal cast to the working precision ``F`` (numba
would otherwise promote float32 arithmetic to float64) and ``exp`` bound to the vectorisable
``synsweep.engine.fastexp`` exponential. The integrator is the tableau: stage ``j`` evaluates the
circuit's right-hand side at ``y + dt sum_l a_jl k_l``, the step ends with ``y + dt sum_j b_j k_j``.

Coupling schemes (MODELS.md section 1):
    coupled  every synaptic current is re-evaluated at every stage: the circuit is one ODE system.
    split    every synaptic current is evaluated once from the state at t_n and held through the stages
             (what Neun does; first order in the coupling whatever the tableau).

Arrays, all C-contiguous with the lane index last (``B`` lanes, a multiple of the tile):
    X[state_row, lane]        working precision; state in, state out
    P[param_row, lane]        working precision; parameters and external currents
    ACC[acc_row, lane]        float64; spike bookkeeping and running sums (see ``KernelLayout``)
    REC[record_row, sample, lane]   working precision; optional traces, sample 0 is the initial state

Lanes are processed in tiles of ``TILE`` lanes (a multiple of every SIMD width), all steps of one tile
before the next, so the tile's state stays in cache. Because every lane of every tile runs through the
vector body (never a scalar remainder loop), a lane's result does not depend on which lanes share its
chunk: results are bit-identical whatever the chunking.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .circuit import Circuit
from .integrators import INTEGRATORS, Tableau
from .models import NEURON_MODELS
from .synapses import SYNAPSE_MODELS

PRECISIONS = {"float64": "np.float64", "float32": "np.float32"}
SCHEMES = ("coupled", "split")
TILE = {"float64": 64, "float32": 128}

# fastmath without 'nnan'/'ninf' (divergence is detected by NaN-aware comparisons) and without 'reassoc'
# (no reassociation: a lane's arithmetic is the same in every vector lane and every chunking).
FASTMATH = "{'nsz', 'arcp', 'contract'}"

NEURON_ACC = ("count", "first", "last", "isi_sum", "isi_sq")
PAIR_ACC = ("sx", "sy", "sxx", "syy", "sxy", "sad")


@dataclass(frozen=True)
class KernelKey:
    """Everything a compiled kernel depends on; parameter values are data, not part of the key."""

    neuron_models: tuple[str, ...]
    synapses: tuple[tuple[str, int, int], ...]  # (model, pre index, post index)
    pairs: tuple[tuple[int, int], ...]
    integrator: str
    precision: str
    scheme: str
    record: tuple[tuple[int, str], ...] = ()  # (neuron index, state variable) recorded as traces

    @classmethod
    def for_circuit(cls, circuit: Circuit, integrator: str, precision: str, scheme: str,
                    record: tuple[tuple[int, str], ...] = ()) -> KernelKey:
        models, synapses, pairs = circuit.structure()
        return cls(models, synapses, pairs, integrator, precision, scheme, tuple(record))


class KernelLayout:
    """Row indices of the X, P and ACC arrays for one kernel key."""

    def __init__(self, key: KernelKey):
        self.key = key
        self.state_rows: list[tuple[int, str]] = []  # (neuron, variable)
        for k, name in enumerate(key.neuron_models):
            self.state_rows += [(k, v) for v in NEURON_MODELS[name].state_names]
        self.param_rows: list[tuple[str, int, str]] = []  # ('neuron'|'input'|'synapse', index, name)
        for k, name in enumerate(key.neuron_models):
            self.param_rows += [("neuron", k, p) for p in NEURON_MODELS[name].param_names]
            self.param_rows.append(("input", k, "i_ext"))
        for j, (name, _, _) in enumerate(key.synapses):
            self.param_rows += [("synapse", j, p) for p in SYNAPSE_MODELS[name].param_names]
        n, q = len(key.neuron_models), len(key.pairs)
        self.n_acc = len(NEURON_ACC) * n + len(PAIR_ACC) * q + 1

    def state_row(self, neuron: int, var: str) -> int:
        return self.state_rows.index((neuron, var))

    def param_row(self, kind: str, index: int, name: str) -> int:
        return self.param_rows.index((kind, index, name))

    def neuron_acc(self, neuron: int, what: str) -> int:
        return len(NEURON_ACC) * neuron + NEURON_ACC.index(what)

    def pair_acc(self, pair: int, what: str) -> int:
        return len(NEURON_ACC) * len(self.key.neuron_models) + len(PAIR_ACC) * pair + PAIR_ACC.index(what)

    @property
    def diverged_row(self) -> int:
        return self.n_acc - 1


class _CastLiterals(ast.NodeTransformer):
    """Cast numeric literals to the working precision ``F`` and rename calls to copied helpers."""

    def __init__(self, rename: dict[str, str]):
        self.rename = rename

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
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
        node.name = self.rename.get(node.name, node.name)
        node.decorator_list = []
        node.body = [self.visit(s) for s in node.body]
        return node


def _qualname(func: Callable) -> str:
    return f"{func.__module__.rsplit('.', 1)[-1]}__{func.__name__}"


def _copy_functions(funcs: list[Callable]) -> str:
    """Source of ``funcs`` as numba functions of the working precision, helpers renamed uniquely."""
    rename = {f.__name__: _qualname(f) for f in funcs}
    out = []
    for f in funcs:
        tree = ast.parse(textwrap.dedent(inspect.getsource(f)))
        tree = _CastLiterals(rename).visit(tree)
        out.append(f"@njit(fastmath={FASTMATH}, error_model='numpy')\n{ast.unparse(tree)}\n")
    return "\n\n".join(out)


def _frac(x: Fraction) -> str:
    return repr(float(x))


class _Source:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0

    def __call__(self, line: str = "") -> None:
        self.lines.append("    " * self.depth + line if line else "")

    def indent(self) -> None:
        self.depth += 1

    def dedent(self) -> None:
        self.depth -= 1


def generate(key: KernelKey, engine_hash: str) -> str:
    """The complete source of the kernel module for ``key``."""
    if key.integrator not in INTEGRATORS:
        raise ValueError(f"unknown integrator {key.integrator!r}")
    if key.precision not in PRECISIONS or key.scheme not in SCHEMES:
        raise ValueError(f"bad precision {key.precision!r} or scheme {key.scheme!r}")
    tab: Tableau = INTEGRATORS[key.integrator]
    lay = KernelLayout(key)
    tile = TILE[key.precision]
    n_x, n_p = len(lay.state_rows), len(lay.param_rows)
    neurons = [NEURON_MODELS[m] for m in key.neuron_models]
    syn_models = [SYNAPSE_MODELS[s[0]] for s in key.synapses]

    funcs: list[Callable] = []
    for model in [*neurons, *syn_models]:
        for f in [*getattr(model, "helpers", ()), getattr(model, "derivatives", None),
                  getattr(model, "currents", None)]:
            if f is not None and f not in funcs:
                funcs.append(f)

    src = _Source()
    src('"""synsweep kernel: generated by synsweep.engine.codegen; do not edit.')
    src()
    src(f"neurons:    {', '.join(key.neuron_models)}")
    src(f"synapses:   {', '.join(f'{m}({a}->{b})' for m, a, b in key.synapses) or 'none'}")
    src(f"integrator: {tab.name} ({tab.description}); precision: {key.precision}; scheme: {key.scheme}")
    src(f"engine:     {engine_hash}")
    src('"""')
    src("import numpy as np")
    src("from numba import njit")
    exp_name = "exp64" if key.precision == "float64" else "exp32"
    src(f"from synsweep.engine.fastexp import {exp_name} as exp")
    src()
    src(f"F = {PRECISIONS[key.precision]}")
    src(f"TILE = {TILE[key.precision]}")
    src("U = np.uint64")
    src()
    src()
    src.lines += _copy_functions(funcs).splitlines()
    src()
    src()

    rec = bool(key.record)
    ftype = "f8" if key.precision == "float64" else "f4"
    sig = f"void({ftype}[:, ::1], {ftype}[:, ::1], f8[:, ::1], "
    sig += f"{ftype}[:, :, ::1], " if rec else ""
    sig += f"i8, i8, {ftype}, i8, {ftype})"
    args = "X, P, ACC, " + ("REC, " if rec else "") + "n_steps, n_transient, dt, rec_every, v_bound"
    src(f'@njit("{sig}", cache=True, fastmath={FASTMATH}, error_model="numpy", boundscheck=False)')
    src(f"def run({args}):")
    src.indent()
    src('"""Advance every lane of X by n_steps steps of dt; accumulate metrics from step n_transient on."""')
    src("n_lanes = X.shape[1]")
    for j in range(tab.stages):
        for l_, a in enumerate(tab.a[j]):
            if a != 0:
                src(f"a{j}{l_} = dt * F({_frac(a)})")
    for j, b in enumerate(tab.b):
        if b != 0:
            src(f"b{j} = dt * F({_frac(b)})")
    src("dt64 = np.float64(dt)")
    src(f"W = np.empty({(n_x + n_p + len(neurons)) * tile}, dtype=F)")
    src(f"A = np.empty({lay.n_acc * tile}, dtype=np.float64)")
    src("for t0 in range(0, n_lanes, TILE):")
    src.indent()
    src("for j in range(TILE):")
    src.indent()
    src(f"for r in range({n_x}):")
    src("    W[r * TILE + j] = X[r, t0 + j]")
    src(f"for r in range({n_p}):")
    src(f"    W[({n_x} + r) * TILE + j] = P[r, t0 + j]")
    src(f"for r in range({lay.n_acc}):")
    src("    A[r * TILE + j] = ACC[r, t0 + j]")
    for r, (k, var) in enumerate(key.record):
        src(f"REC[{r}, 0, t0 + j] = X[{lay.state_row(k, var)}, t0 + j]")
    src.dedent()
    src("for s in range(n_steps):")
    src.indent()
    src("w = np.float64(1.0) if s >= n_transient else np.float64(0.0)")
    src("counting = s >= n_transient")
    src("s64 = np.float64(s)")
    src("for i in range(U(TILE)):")
    src.indent()

    # --- load state and parameters
    def y(k: int, v: str) -> str:
        return f"y{k}_{v}"

    def xs(row: int) -> str:  # state row of the tile buffer
        return f"W[i + U({row * tile})]"

    def ps(row: int) -> str:  # parameter row of the tile buffer
        return f"W[i + U({(n_x + row) * tile})]"

    def vprev(k: int) -> str:  # voltage of neuron k before the step
        return f"W[i + U({(n_x + n_p + k) * tile})]"

    def acc(row: int) -> str:  # accumulator row of the tile buffer
        return f"A[i + U({row * tile})]"

    for k, model in enumerate(neurons):
        for v in model.state_names:
            src(f"{y(k, v)} = {xs(lay.state_row(k, v))}")
    for k, model in enumerate(neurons):
        for p in model.param_names:
            src(f"p{k}_{p} = {ps(lay.param_row('neuron', k, p))}")
        src(f"iext{k} = {ps(lay.param_row('input', k, 'i_ext'))}")
    for j, sm in enumerate(syn_models):
        for p in sm.param_names:
            src(f"q{j}_{p} = {ps(lay.param_row('synapse', j, p))}")

    def emit_currents(stage: str, vname: Callable[[int, str], str]) -> None:
        for k in range(len(neurons)):
            src(f"i{k}_{stage} = iext{k}")
        for j, (sm, (_, a, b)) in enumerate(zip(syn_models, key.synapses, strict=True)):
            call = _call(sm.currents, {
                "v_pre": vname(a, neurons[a].voltage), "v_post": vname(b, neurons[b].voltage),
                **{p: f"q{j}_{p}" for p in sm.param_names}})
            src(f"ipre, ipost = {call}")
            src(f"i{a}_{stage} += ipre")
            src(f"i{b}_{stage} += ipost")

    # --- stages
    for j in range(tab.stages):
        def stage_var(k: int, v: str, j: int = j) -> str:
            return y(k, v) if j == 0 else f"z{j}_{k}_{v}"

        if j > 0:
            for k, model in enumerate(neurons):
                for v in model.state_names:
                    terms = [f"a{j}{l_} * k{l_}_{k}_{v}" for l_, a in enumerate(tab.a[j]) if a != 0]
                    src(f"{stage_var(k, v)} = {y(k, v)}" + "".join(f" + {t}" for t in terms))
        if key.scheme == "coupled" or j == 0:
            emit_currents("c", stage_var if key.scheme == "coupled" else (lambda k, v: y(k, v)))
        for k, model in enumerate(neurons):
            call = _call(model.derivatives, {
                **{v: stage_var(k, v) for v in model.state_names}, "i_in": f"i{k}_c",
                **{p: f"p{k}_{p}" for p in model.param_names}})
            src(", ".join(f"k{j}_{k}_{v}" for v in model.state_names) + f" = {call}")

    # --- combine
    for k, model in enumerate(neurons):
        for v in model.state_names:
            terms = [f"b{j} * k{j}_{k}_{v}" for j, b in enumerate(tab.b) if b != 0]
            src(f"n{k}_{v} = {y(k, v)}" + "".join(f" + {t}" for t in terms))
            src(f"{xs(lay.state_row(k, v))} = n{k}_{v}")

    # --- keep each neuron's voltage before the step, for the metrics loop
    for k, model in enumerate(neurons):
        src(f"{vprev(k)} = {y(k, model.voltage)}")
    src.dedent()  # ODE lane loop

    # --- the metrics loop: float64 bookkeeping apart from the ODE loop, so that the ODE loop runs at the
    # full SIMD width of the working precision (8 float32 lanes on AVX2, not 4)
    src("for i in range(U(TILE)):")
    src.indent()
    for k, model in enumerate(neurons):
        src(f"{y(k, model.voltage)} = {vprev(k)}")
        src(f"n{k}_{model.voltage} = {xs(lay.state_row(k, model.voltage))}")
        src(f"p{k}_{model.spike_threshold} = {ps(lay.param_row('neuron', k, model.spike_threshold))}")

    # --- divergence: |V| beyond the bound, or NaN (the comparison is False for NaN). Bookkeeping is
    # arithmetic on 0/1 masks, not branches: conditional stores keep LLVM from running the vector body.
    oks = " & ".join(f"(abs(n{k}_{m.voltage}) <= v_bound)" for k, m in enumerate(neurons))
    d = lay.diverged_row
    src(f"bad = np.float64(not ({oks})) * np.float64({acc(d)} < 0.0)")
    src(f"{acc(d)} += bad * (s64 - {acc(d)})")

    # --- spikes: upward crossing of the threshold, time by linear interpolation within the step
    for k, model in enumerate(neurons):
        v0, v1, thr = y(k, model.voltage), f"n{k}_{model.voltage}", f"p{k}_{model.spike_threshold}"
        r = {w: lay.neuron_acc(k, w) for w in NEURON_ACC}
        src(f"up = np.float64(({v0} < {thr}) & ({v1} >= {thr}) & counting)")
        src(f"frac = np.float64({thr} - {v0}) / max(np.float64({v1} - {v0}), 1e-300)")
        src("tc = (s64 + min(max(frac, 0.0), 1.0)) * dt64")
        src(f"cnt = {acc(r['count'])}")
        src("seen = min(cnt, 1.0)")
        src(f"isi = up * seen * (tc - {acc(r['last'])})")
        src(f"{acc(r['isi_sum'])} += isi")
        src(f"{acc(r['isi_sq'])} += isi * isi")
        src(f"{acc(r['first'])} += up * (1.0 - seen) * (tc - {acc(r['first'])})")
        src(f"{acc(r['last'])} += up * (tc - {acc(r['last'])})")
        src(f"{acc(r['count'])} = cnt + up")

    # --- pairwise running sums (voltages shifted by each model's resting value against cancellation)
    for q, (a, b) in enumerate(key.pairs):
        ma, mb = neurons[a], neurons[b]
        sa = ma.state_var(ma.voltage).default or 0.0
        sb = mb.state_var(mb.voltage).default or 0.0
        r = {w: lay.pair_acc(q, w) for w in PAIR_ACC}
        src(f"xa = np.float64(n{a}_{ma.voltage}) + {-sa!r}")
        src(f"xb = np.float64(n{b}_{mb.voltage}) + {-sb!r}")
        src(f"{acc(r['sx'])} += w * xa")
        src(f"{acc(r['sy'])} += w * xb")
        src(f"{acc(r['sxx'])} += w * (xa * xa)")
        src(f"{acc(r['syy'])} += w * (xb * xb)")
        src(f"{acc(r['sxy'])} += w * (xa * xb)")
        src(f"{acc(r['sad'])} += w * abs(np.float64(n{a}_{ma.voltage}) - np.float64(n{b}_{mb.voltage}))")
    src.dedent()  # lane loop
    if rec:
        src("if rec_every > 0 and (s + 1) % rec_every == 0:")
        src.indent()
        src("r = (s + 1) // rec_every")
        src("for j in range(TILE):")
        src.indent()
        for rr, (k, var) in enumerate(key.record):
            src(f"REC[{rr}, r, t0 + j] = W[{lay.state_row(k, var) * tile} + j]")
        src.dedent()
        src.dedent()
    src.dedent()  # steps
    src("for j in range(TILE):")
    src.indent()
    src(f"for r in range({n_x}):")
    src("    X[r, t0 + j] = W[r * TILE + j]")
    src(f"for r in range({lay.n_acc}):")
    src("    ACC[r, t0 + j] = A[r * TILE + j]")
    src.dedent()
    src.dedent()  # tiles
    src.dedent()
    return "\n".join(src.lines) + "\n"


def _call(func: Callable, bindings: dict[str, str]) -> str:
    """A call of the copied ``func`` with its arguments bound by name."""
    names = list(inspect.signature(func).parameters)
    missing = [n for n in names if n not in bindings]
    if missing:
        raise TypeError(f"{func.__module__}.{func.__name__}: no value for argument(s) {missing}")
    return f"{_qualname(func)}({', '.join(bindings[n] for n in names)})"


def engine_source_hash() -> str:
    """Hash of the engine's source files: a generated kernel is stale when any of them changes."""
    h = hashlib.sha256()
    root = Path(__file__).parent
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]
