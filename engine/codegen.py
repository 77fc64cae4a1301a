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
    split    Neun's order: the synapses' own states (if any) are first advanced from t_n to t_{n+1} with the
             voltages held at t_n; then every synaptic current is evaluated once, from the synapses' new
             states and the voltages at t_n, and held through the neurons' stages (first order in the
             coupling whatever the tableau).

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

# circuits up to this size are unrolled (every state variable a register); larger ones loop over groups of
# neurons and synapses of one model (state in the tile buffer), so that compile time grows linearly
MAX_UNROLLED_NEURONS = 8
MAX_UNROLLED_SYNAPSES = 16

NEURON_ACC = ("count", "first", "last", "isi_sum", "isi_sq", "last_isi")
PAIR_ACC = ("sx", "sy", "sxx", "syy", "sxy", "sad", "n_coinc", "t_desync", "plv_c", "plv_s", "plv_n",
            "sync_a", "sync_b")
# per circuit of at least KURAMOTO_MIN_NEURONS neurons: the sum of the Kuramoto order parameter R over its samples
# and the number of samples (see ``synsweep.engine.metrics``)
CIRCUIT_ACC = ("kur_sum", "kur_n")
KURAMOTO_MIN_NEURONS = 3
# per neuron and step, for the pairs' spike synchrony: spiked (0/1), spike time, and before this step: last
# spike time, spike count, latest ISI
SPIKE_SCRATCH = ("up", "tc", "last", "count", "last_isi")

# what the kernel keeps for each metric (``synsweep.engine.metrics``); a kernel computes only what its metric
# set needs (KernelKey.keeps): count = spike counts; last = spike times and the last spike time; isi = ISI sums;
# first = first spike time; last_isi = the latest ISI; sums = the Pearson running sums; sad = sum of |V_a - V_b|;
# coinc, desync, plv = the pairs' spike synchrony parts; kuramoto = the circuit's order parameter samples
METRIC_NEEDS = {
    "spike_count": ("count",),
    "rate_count": ("count",),
    "rate_isi": ("count", "last", "isi"),
    "isi_cv": ("count", "last", "isi"),
    "first_spike_time": ("count", "first"),
    "pearson": ("sums",),
    "mean_abs_dv": ("sad",),
    "coincidence": ("count", "last", "coinc"),
    "plv": ("count", "last", "plv"),
    "time_to_sync": ("count", "last", "first", "last_isi", "desync"),
    "kuramoto": ("count", "last", "last_isi", "kuramoto"),
}
# kept whatever the metrics: the evidence of the runaway status (spike counts, mean and latest ISI)
STATUS_NEEDS = ("count", "isi", "last", "last_isi")
EVERYTHING = tuple(sorted({need for needs in (STATUS_NEEDS, *METRIC_NEEDS.values()) for need in needs}))


def keeps_for(metrics: tuple[str, ...] | None) -> tuple[str, ...]:
    """What a kernel keeps for ``metrics`` (sorted, the kernel key's ``keeps``); None: every metric."""
    if metrics is None:
        return EVERYTHING
    return tuple(sorted({need for m in metrics for need in METRIC_NEEDS[m]} | set(STATUS_NEEDS)))


@dataclass(frozen=True)
class KernelKey:
    """Everything a compiled kernel depends on; parameter values are data, not part of the key.

    synapses: (model, pre index, post index, output form, ring) per synapse; ``ring`` is the length of
    the delay ring buffer of a spike-triggered synapse (a power of two above the largest delay in steps
    of the batch), 1 without delay.
    record: (unit, state variable) recorded as traces; units are the neurons 0..N-1, then the synapses.
    varying: the parameter rows (of P) that may differ between lanes; every other parameter is uniform
        over the batch and read once per tile as a scalar, not per lane. None: every parameter varies.
    tied: classes of uniform parameter rows (P rows, each class sorted, two rows or more) known to hold the
        same value; the looped layout sums an all-to-all group of diffusive synapses (gap junctions) whose
        conductances are tied in O(N) per stage instead of O(N^2) (``synsweep.engine.looped``). Only
        conductances of diffusive synapses are tied (``simulate.tied_rows``); () ties nothing.
    keeps: what the metrics loop computes (``keeps_for`` the requested metrics, see ``METRIC_NEEDS``); the
        divergence check always runs. Accumulators not kept stay at their initial values.
    """

    neuron_models: tuple[str, ...]
    synapses: tuple[tuple[str, int, int, str | None, int], ...]
    pairs: tuple[tuple[int, int], ...]
    integrator: str
    precision: str
    scheme: str
    record: tuple[tuple[int, str], ...] = ()
    varying: tuple[int, ...] | None = None
    tied: tuple[tuple[int, ...], ...] = ()
    keeps: tuple[str, ...] = EVERYTHING

    @classmethod
    def for_circuit(cls, circuit: Circuit, integrator: str, precision: str, scheme: str,
                    record: tuple[tuple[int, str], ...] = (), rings: tuple[int, ...] | None = None,
                    varying: tuple[int, ...] | None = None, tied: tuple[tuple[int, ...], ...] = (),
                    metrics: tuple[str, ...] | None = None) -> KernelKey:
        models, synapses, pairs = circuit.structure()
        rings = rings or (1,) * len(synapses)
        synapses = tuple((*syn, ring) for syn, ring in zip(synapses, rings, strict=True))
        return cls(models, synapses, pairs, integrator, precision, scheme, tuple(record), varying, tuple(tied),
                   keeps_for(metrics))


class KernelLayout:
    """Row indices of the X, P and ACC arrays and of the per-tile buffer W for one kernel key.

    W holds, per tile, rows of TILE lanes: the state rows (as X), the parameter rows (as P), three rows
    per neuron for the metrics and event loops (voltage before the step, voltage after the integrator's
    step before any reset, spike flag 0/1), then the delay ring buffers.
    """

    def __init__(self, key: KernelKey):
        self.key = key
        self.neurons = [NEURON_MODELS[m] for m in key.neuron_models]
        self.synapse_models = [SYNAPSE_MODELS[s[0]] for s in key.synapses]
        n = len(self.neurons)
        self.state_rows: list[tuple[int, str]] = []  # (unit, variable); synapse j is unit n + j
        for k, model in enumerate(self.neurons):
            self.state_rows += [(k, v) for v in model.state_names]
        for j, sm in enumerate(self.synapse_models):
            self.state_rows += [(n + j, v) for v in sm.state_names]
        self.param_rows: list[tuple[str, int, str]] = []  # ('neuron'|'input'|'synapse', index, name)
        for k, model in enumerate(self.neurons):
            self.param_rows += [("neuron", k, p) for p in model.param_names]
            self.param_rows.append(("input", k, "i_ext"))
        for j, (sm, syn) in enumerate(zip(self.synapse_models, key.synapses, strict=True)):
            self.param_rows += [("synapse", j, p) for p in sm.param_names(syn[3])]
        self.n_state, self.n_param = len(self.state_rows), len(self.param_rows)
        self.varying = list(range(self.n_param)) if key.varying is None else sorted(key.varying)
        self._w_param = {r: self.n_state + q for q, r in enumerate(self.varying)}  # P row -> W row
        self.ring_rows: list[int] = []  # first W row of each synapse's ring buffer (-1: none)
        row = self.n_state + len(self.varying) + 3 * n
        for syn in key.synapses:
            self.ring_rows.append(row if syn[4] > 1 else -1)
            row += syn[4] if syn[4] > 1 else 0
        self.looped = n > MAX_UNROLLED_NEURONS or len(key.synapses) > MAX_UNROLLED_SYNAPSES
        stages = INTEGRATORS[key.integrator].stages if key.integrator in INTEGRATORS else 0
        if self.looped:  # stage states Z, stage slopes K (stage-major), input currents I, three scratch rows
            self.z_base, row = row, row + self.n_state
            self.k_base, row = row, row + stages * self.n_state
            self.i_base, row = row, row + n
            self.scratch, row = row, row + 3  # the metrics' 'ok' flag; two running sums of the gap groups
        self.n_work = row
        self.kuramoto = n >= KURAMOTO_MIN_NEURONS
        n_circuit = len(CIRCUIT_ACC) if self.kuramoto else 0
        self.n_acc = len(NEURON_ACC) * n + len(PAIR_ACC) * len(key.pairs) + n_circuit + 1
        # + scratch rows of A (looped): SPIKE_SCRATCH per neuron, then the Kuramoto sums (cos, sin, all-valid)
        self.n_acc_work = self.n_acc + ((len(SPIKE_SCRATCH) * n + 3 * self.kuramoto) if self.looped else 0)

    def state_row(self, unit: int, var: str) -> int:
        return self.state_rows.index((unit, var))

    def param_row(self, kind: str, index: int, name: str) -> int:
        return self.param_rows.index((kind, index, name))

    def w_param_row(self, p_row: int) -> int | None:
        """W row of a varying parameter (P row ``p_row``); None for a parameter uniform over the batch."""
        return self._w_param.get(p_row)

    def neuron_row(self, neuron: int, what: str) -> int:
        """W row of a neuron's 'v_before', 'v_after' or 'spiked'."""
        return self.n_state + len(self.varying) + 3 * neuron + ("v_before", "v_after", "spiked").index(what)

    def neuron_acc(self, neuron: int, what: str) -> int:
        return len(NEURON_ACC) * neuron + NEURON_ACC.index(what)

    def pair_acc(self, pair: int, what: str) -> int:
        return len(NEURON_ACC) * len(self.key.neuron_models) + len(PAIR_ACC) * pair + PAIR_ACC.index(what)

    def circuit_acc(self, what: str) -> int:
        """Accumulator row of a circuit-level sum (only for a circuit with ``kuramoto``)."""
        return len(NEURON_ACC) * len(self.key.neuron_models) + len(PAIR_ACC) * len(self.key.pairs) + \
            CIRCUIT_ACC.index(what)

    @property
    def diverged_row(self) -> int:
        return self.n_acc - 1


class _CastLiterals(ast.NodeTransformer):
    """Cast numeric literals to the working precision ``F`` and rename the copied functions.

    ``rename`` maps the names a function's body may call (its module's globals) to the unique names of
    the copied functions; the function itself is renamed to ``own``.
    """

    def __init__(self, own: str, rename: dict[str, str]):
        self.own = own
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
        node.name = self.own
        node.decorator_list = []
        node.body = [self.visit(s) for s in node.body]
        return node


def _qualname(func: Callable) -> str:
    return f"{func.__module__.rsplit('.', 1)[-1]}__{func.__name__}"


def _copy_functions(funcs: list[Callable]) -> str:
    """Source of ``funcs`` as numba functions of the working precision, each renamed uniquely."""
    out = []
    for f in funcs:
        calls = {name: _qualname(g) for name, g in f.__globals__.items() if any(g is h for h in funcs)}
        tree = ast.parse(textwrap.dedent(inspect.getsource(f)))
        tree = _CastLiterals(_qualname(f), calls).visit(tree)
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


def _model_functions(lay: KernelLayout) -> list[Callable]:
    """Every model function the kernel calls, helpers first, each once."""
    funcs: list[Callable] = []
    owners: list = [*lay.neurons, *lay.synapse_models]
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


def spike_lateness(vb: str, va: str, thr: str | None) -> str:
    """Expression of the fraction of the step between a spike and the step's end, (V_after - thr) /
    (V_after - V_before) in [0, 1] (the crossing interpolated linearly, as the spike times of the metrics);
    0 for a model without a threshold (its spikes fall on the step's end)."""
    if thr is None:
        return "F(0.0)"
    return f"min(max(({va} - {thr}) / max({va} - {vb}, F(1e-30)), F(0.0)), F(1.0))"


def emit_spike_bookkeeping(src: _Source, acc: dict[str, str], up: str, tc: str, keeps: tuple[str, ...]) -> None:
    """A neuron's spike count, first and last spike time and ISI sums, given its spike flag and time; only
    what ``keeps`` asks for (each accumulator's arithmetic is the same whatever else is kept)."""
    if "count" not in keeps:
        return
    src(f"cnt = {acc['count']}")
    if {"isi", "last_isi", "first"} & set(keeps):
        src("seen = min(cnt, 1.0)")
    if {"isi", "last_isi"} & set(keeps):
        src(f"isi = {up} * seen * ({tc} - {acc['last']})")
    if "last_isi" in keeps:
        src(f"{acc['last_isi']} += {up} * seen * (isi - {acc['last_isi']})")
    if "isi" in keeps:
        src(f"{acc['isi_sum']} += isi")
        src(f"{acc['isi_sq']} += isi * isi")
    if "first" in keeps:
        src(f"{acc['first']} += {up} * (1.0 - seen) * ({tc} - {acc['first']})")
    if "last" in keeps:
        src(f"{acc['last']} += {up} * ({tc} - {acc['last']})")
    src(f"{acc['count']} = cnt + {up}")


def emit_spike_gate(src: _Source, lay: KernelLayout, tile: int) -> None:
    """Open ``if n_up > 0:`` over the number of spikes in the tile this step (the neurons' 'spiked' rows of
    the tile buffer), counted only in the analysed window; both layouts.

    Spikes are rare (a spiking lane fires in a few percent of the steps), so most steps of a tile have none;
    in such a step every spike accumulator would only add 0 (``x + 0 * y`` is ``x`` for finite y), so skipping
    it changes no value of a lane that has not diverged (a diverged lane reports NaN / -1 anyway). The branch is
    on a count over the whole tile, the same for every lane, so the lane loops under it stay vector loops; the
    count is an integer sum (vectorised without reassociation)."""
    first = lay.neuron_row(0, "spiked")
    step = lay.neuron_row(1, "spiked") - first if len(lay.neurons) > 1 else 0
    src("n_up = np.int64(0)")
    src("if counting:")
    if lay.looped:  # a loop over the neurons around the lane loop
        src(f"    for e in range({len(lay.neurons)}):")
        src(f"        o_up = U(({first} + {step} * e) * {tile})")
        src("        for i in range(U(TILE)):")
        src("            n_up += np.int64(W[i + o_up] > F(0.0))")
    else:  # one lane loop whatever the number of neurons
        flags = " + ".join(f"np.int64(W[i + U({(first + step * k) * tile})] > F(0.0))" for k in range(len(lay.neurons)))
        src("    for i in range(U(TILE)):")
        src(f"        n_up += {flags}")
    src("if n_up > 0:")
    src.indent()


def needs_spike_times(keeps: tuple[str, ...]) -> bool:
    """Whether the metrics loop needs each spike's interpolated time (not only its count)."""
    return bool({"last", "first"} & set(keeps))


def needs_synchrony(keeps: tuple[str, ...]) -> bool:
    """Whether the metrics loop runs the pairs' spike synchrony (``emit_spike_synchrony``)."""
    return bool({"coinc", "desync", "plv"} & set(keeps))


def emit_spike_synchrony(src: _Source, acc: dict[str, str], a: dict[str, str], b: dict[str, str],
                         keeps: tuple[str, ...]) -> None:
    """Spike synchrony of a pair (see ``synsweep.engine.metrics``), from each neuron's SPIKE_SCRATCH values
    of this step (before its own bookkeeping): coincidences, the last out-of-sync spike and each neuron's
    spikes since then, phase sums; only the parts that ``keeps`` asks for."""
    if {"desync", "plv"} & set(keeps):
        src(f"la = {a['up']} * {a['tc']} + (1.0 - {a['up']}) * {a['last']}")  # latest spike, this step's included
        src(f"ha = min({a['count']} + {a['up']}, 1.0)")  # has spiked (0/1)
    if "coinc" in keeps:
        # coincidences: the later spike of a pair within coinc_window of the other neuron's spike, counted once
        src(f"both = {a['up']} * {b['up']} * np.float64(abs({a['tc']} - {b['tc']}) <= coinc_window)")
        src(f"near_a = {a['up']} * (1.0 - {b['up']}) * min({b['count']}, 1.0) * "
            f"np.float64({a['tc']} - {b['last']} <= coinc_window)")
        src(f"near_b = {b['up']} * (1.0 - {a['up']}) * min({a['count']}, 1.0) * "
            f"np.float64({b['tc']} - {a['last']} <= coinc_window)")
        src(f"{acc['n_coinc']} += both + near_a + near_b")
    if "desync" in keeps:
        _emit_desync(src, acc, a, b)
    if "plv" in keeps:
        # phase of a's latest spike in b's inter-spike interval that ends with b's spike of this step
        src(f"valid = {b['up']} * min({b['count']}, 1.0) * ha * np.float64(la > {b['last']}) * "
            f"np.float64(la <= {b['tc']})")
        src(f"sn, cs = sincos2pi((la - {b['last']}) / max({b['tc']} - {b['last']}, 1e-300))")
        src(f"{acc['plv_c']} += valid * cs")
        src(f"{acc['plv_s']} += valid * sn")
        src(f"{acc['plv_n']} += valid")


def _emit_desync(src: _Source, acc: dict[str, str], a: dict[str, str], b: dict[str, str]) -> None:
    """The time of the pair's last out-of-sync spike and each neuron's spikes since then (time_to_sync)."""
    src(f"lb = {b['up']} * {b['tc']} + (1.0 - {b['up']}) * {b['last']}")
    src(f"hb = min({b['count']} + {b['up']}, 1.0)")
    # lag of a spike to the other neuron's nearest spike (the last one, or the next one expected one ISI
    # later); the last spike whose lag is >= sync_tol marks the end of the time to synchrony
    # (the other's latest ISI; before it has one, this neuron's ISI that ends with this spike)
    src(f"own_a = ({a['tc']} - {a['last']}) if {a['count']} >= 1.0 else 1e300")
    src(f"own_b = ({b['tc']} - {b['last']}) if {b['count']} >= 1.0 else 1e300")
    src(f"period_b = {b['last_isi']} if {b['count']} >= 2.0 else own_a")
    src(f"period_a = {a['last_isi']} if {a['count']} >= 2.0 else own_b")
    src(f"da = abs({a['tc']} - lb)")
    src(f"db = abs({b['tc']} - la)")
    src(f"bad_a = {a['up']} * hb * np.float64(min(da, abs(period_b - da)) >= sync_tol)")
    src(f"bad_b = {b['up']} * ha * np.float64(min(db, abs(period_a - db)) >= sync_tol)")
    src(f"{acc['t_desync']} = max({acc['t_desync']}, max(bad_a * ({a['tc']} + 1.0), bad_b * ({b['tc']} + 1.0)) - 1.0)")
    # each neuron's spikes since the last step with an out-of-sync spike (the evidence behind time_to_sync)
    src("insync = 1.0 - max(bad_a, bad_b)")
    src(f"{acc['sync_a']} = insync * ({acc['sync_a']} + {a['up']})")
    src(f"{acc['sync_b']} = insync * ({acc['sync_b']} + {b['up']})")


def emit_kuramoto_sample(src: _Source, lay: KernelLayout, tile: int) -> None:
    """The Kuramoto order parameter R of the circuit at the end of this step, added to its running sum
    (see ``synsweep.engine.metrics``), every ``kur_every`` steps of the analysed window.

    The branch is on the step index, the same for every lane, so the lane loop under it stays a vector
    loop; it runs after the metrics loop, from each neuron's spike bookkeeping (last spike, latest ISI,
    count). The unrolled layout keeps the sums in locals, the looped one in three scratch rows of A, with
    the same operations in the same order (neuron 0 first); their compiled code can still round a sample
    differently in the last bit (tests/unit/test_looped.py allows 1 ulp).
    """
    n = len(lay.neurons)

    def acc(row: int, offset: str = "") -> str:
        return f"A[i + {offset}U({row * tile})]"

    def neuron(k: int | None, what: str) -> str:
        if k is None:  # looped: neuron e, at offset o_acc
            return acc(NEURON_ACC.index(what), "o_acc + ")
        return acc(lay.neuron_acc(k, what))

    def term(k: int | None, kc: str, ks: str, ok: str) -> None:
        src(f"{ok} = {ok} * np.float64({neuron(k, 'count')} >= 2.0)")
        src(f"sn, cs = sincos2pi((t_s - {neuron(k, 'last')}) / max({neuron(k, 'last_isi')}, 1e-300))")
        src(f"{kc} = {kc} + cs")
        src(f"{ks} = {ks} + sn")

    src("if kur_every > 0 and counting and (s + 1) % kur_every == 0:")
    src.indent()
    src("t_s = (s64 + 1.0) * dt64")
    if lay.looped:
        base = lay.n_acc + len(SPIKE_SCRATCH) * n
        kc, ks, ok = (acc(base + c) for c in range(3))
        src("for i in range(U(TILE)):")
        src(f"    {kc} = 0.0")
        src(f"    {ks} = 0.0")
        src(f"    {ok} = 1.0")
        src(f"for e in range({n}):")
        src.indent()
        src(f"o_acc = U(e) * U({len(NEURON_ACC) * tile})")
        src("for i in range(U(TILE)):")
        src.indent()
        term(None, kc, ks, ok)
        src.dedent()
        src.dedent()
        src("for i in range(U(TILE)):")
        src.indent()
    else:
        kc, ks, ok = "kc", "ks", "ok"
        src("for i in range(U(TILE)):")
        src.indent()
        src("kc = 0.0")
        src("ks = 0.0")
        src("ok = 1.0")
        for k in range(n):
            term(k, kc, ks, ok)
    src(f"{acc(lay.circuit_acc('kur_sum'))} += {ok} * (np.sqrt({kc} * {kc} + {ks} * {ks}) / {float(n)!r})")
    src(f"{acc(lay.circuit_acc('kur_n'))} += {ok}")
    src.dedent()
    src.dedent()


def _emit_uniform_params(src: _Source, lay: KernelLayout) -> None:
    """The parameters uniform over the batch, as scalars of the tile (the names the unrolled step uses)."""
    for r, (kind, index, name) in enumerate(lay.param_rows):
        if lay.w_param_row(r) is None:
            local = f"iext{index}" if kind == "input" else f"{'p' if kind == 'neuron' else 'q'}{index}_{name}"
            src(f"{local} = P[{r}, t0]")


def _emit_unrolled_step(src: _Source, lay: KernelLayout, tab: Tableau, tile: int) -> None:
    """One step of a small circuit, fully unrolled: every state variable of every neuron and synapse is a
    local (a register) through the stages."""
    key = lay.key
    neurons, syn_models = lay.neurons, lay.synapse_models
    n_neurons = len(neurons)
    outputs = [sm.output(syn[3]) for sm, syn in zip(syn_models, key.synapses, strict=True)]

    def w_row(row: int) -> str:  # a row of the tile buffer, for lane i
        return f"W[i + U({row * tile})]"

    def acc(row: int) -> str:  # accumulator row of the tile buffer
        return f"A[i + U({row * tile})]"

    def y(unit: int, v: str) -> str:  # state at the start of the step
        return f"y{unit}_{v}"

    def unit_states(unit: int) -> tuple[str, ...]:
        return neurons[unit].state_names if unit < n_neurons else syn_models[unit - n_neurons].state_names

    def param_names(kind: str, index: int) -> tuple[str, ...]:
        if kind == "neuron":
            return neurons[index].param_names
        return syn_models[index].param_names(key.synapses[index][3])

    def params_of(kind: str, index: int) -> dict[str, str]:
        prefix = "p" if kind == "neuron" else "q"
        return {p: f"{prefix}{index}_{p}" for p in param_names(kind, index)}

    def load_params(kind: str, index: int) -> None:
        """Per-lane loads of the varying parameters (uniform ones are scalars, set once per tile)."""
        for p, name in params_of(kind, index).items():
            w = lay.w_param_row(lay.param_row(kind, index, p))
            if w is not None:
                src(f"{name} = {w_row(w)}")

    # --- 1. the ODE loop ---------------------------------------------------------------------------------
    src("for i in range(U(TILE)):")
    src.indent()
    units = list(range(n_neurons + len(syn_models)))
    for unit in units:
        for v in unit_states(unit):
            src(f"{y(unit, v)} = {w_row(lay.state_row(unit, v))}")
    for k in range(n_neurons):
        load_params("neuron", k)
        w = lay.w_param_row(lay.param_row("input", k, "i_ext"))
        if w is not None:
            src(f"iext{k} = {w_row(w)}")
    for j in range(len(syn_models)):
        load_params("synapse", j)

    def emit_currents(vname: Callable[[int, str], str]) -> None:
        for k in range(n_neurons):
            src(f"i{k}_c = iext{k}")
        for j, (sm, out, (_, a, b, _, _)) in enumerate(zip(syn_models, outputs, key.synapses, strict=True)):
            if out is None:
                continue
            call = _call(out.currents, {
                "v_pre": vname(a, neurons[a].voltage), "v_post": vname(b, neurons[b].voltage),
                **{v: vname(n_neurons + j, v) for v in sm.state_names}, **params_of("synapse", j)})
            src(f"ipre, ipost = {call}")
            for target, current in ((a, "ipre"), (b, "ipost")):
                factor = neurons[target].conductance_factor if out.conductance else 1.0
                src(f"i{target}_c += {current}" if factor == 1.0 else f"i{target}_c += F({factor!r}) * {current}")

    def emit_stages(stage_units: list[int], with_neurons: bool, with_synapses: bool,
                    current_var: Callable[[int, str, int], str]) -> None:
        """The tableau's stages over ``stage_units``; the synapses' currents (at every stage for 'coupled',
        at stage 0 for 'split') read their variables through ``current_var(unit, v, stage)``."""
        for j in range(tab.stages):
            def stage_var(unit: int, v: str, j: int = j) -> str:
                return y(unit, v) if j == 0 else f"z{j}_{unit}_{v}"

            held = stage_var if key.scheme == "coupled" else y  # the voltages synapses see in this stage
            if j > 0:
                for unit in stage_units:
                    for v in unit_states(unit):
                        terms = [f"a{j}{l_} * k{l_}_{unit}_{v}" for l_, a in enumerate(tab.a[j]) if a != 0]
                        src(f"{stage_var(unit, v)} = {y(unit, v)}" + "".join(f" + {t}" for t in terms))
            if with_neurons and (key.scheme == "coupled" or j == 0):
                emit_currents(lambda unit, v, j=j: current_var(unit, v, j))
            if with_neurons:
                for k, model in enumerate(neurons):
                    call = _call(model.derivatives, {
                        **{v: stage_var(k, v) for v in model.state_names}, "i_in": f"i{k}_c",
                        **params_of("neuron", k)})
                    src(", ".join(f"k{j}_{k}_{v}" for v in model.state_names) + f" = {call}")
            if with_synapses:
                for js, (sm, (_, a, b, _, _)) in enumerate(zip(syn_models, key.synapses, strict=True)):
                    if sm.derivatives is None:
                        continue
                    unit = n_neurons + js
                    call = _call(sm.derivatives, {
                        **{v: stage_var(unit, v) for v in sm.state_names}, **params_of("synapse", js),
                        "v_pre": held(a, neurons[a].voltage), "v_post": held(b, neurons[b].voltage)})
                    src(", ".join(f"k{j}_{unit}_{v}" for v in sm.state_names) + f" = {call}")

    def combine(stage_units: list[int]) -> None:
        """y_{n+1} = y_n + (dt sum_j b_j k_j): the increments are summed first and added to y once, so that
        y (|v| ~ 65 mV) is rounded to the working precision once per step, not once per stage."""
        for unit in stage_units:
            for v in unit_states(unit):
                terms = [f"b{j} * k{j}_{unit}_{v}" for j, b in enumerate(tab.b) if b != 0]
                src(f"n{unit}_{v} = {y(unit, v)} + ({' + '.join(terms)})")

    if key.scheme == "coupled":  # one ODE system: every current at every stage from that stage's state
        emit_stages(units, True, True, lambda unit, v, j: y(unit, v) if j == 0 else f"z{j}_{unit}_{v}")
        combine(units)
    else:  # split, Neun's order: the synapses' own states advance to t_{n+1} first (voltages held at t_n),
        # then the currents from the synapses' new states and the voltages at t_n, held through the neurons' stages
        syn_units = units[n_neurons:]
        emit_stages(syn_units, False, True, y)
        combine(syn_units)
        emit_stages(units[:n_neurons], True, False,
                    lambda unit, v, j: f"n{unit}_{v}" if unit >= n_neurons else y(unit, v))
        combine(units[:n_neurons])

    # --- spikes and resets of the neurons
    for k, model in enumerate(neurons):
        vb, va = y(k, model.voltage), f"n{k}_{model.voltage}"
        src(f"{w_row(lay.neuron_row(k, 'v_before'))} = {vb}")
        src(f"{w_row(lay.neuron_row(k, 'v_after'))} = {va}")
        thr = params_of("neuron", k)[model.spike_threshold] if model.spike_threshold else None
        src(f"late = {spike_lateness(vb, va, thr)}")
        if model.spike is None:
            src(f"spiked = ({vb} < {thr}) & ({va} >= {thr})")
        else:
            names = {**{v: f"n{k}_{v}" for v in model.state_names}, **params_of("neuron", k),
                     "v_before": vb, "t": "t_end", "dt": "dt"}
            src(f"spiked = {_call(model.spike, names)}")
            names["spiked"] = "spiked"
            src(", ".join(f"n{k}_{v}" for v in model.state_names) + f" = {_call(model.after_step, names)}")
        src(f"{w_row(lay.neuron_row(k, 'spiked'))} = (F(1.0) + late) if spiked else F(0.0)")
    for unit in units:
        for v in unit_states(unit):
            src(f"{w_row(lay.state_row(unit, v))} = n{unit}_{v}")
    src.dedent()  # ODE lane loop

    # --- 2. the event loop -------------------------------------------------------------------------------
    triggered = [j for j, sm in enumerate(syn_models) if sm.spike_triggered]
    if triggered:
        src("for i in range(U(TILE)):")
        src.indent()
        for j in triggered:
            sm, (_, a, b, _, ring) = syn_models[j], key.synapses[j]
            unit = n_neurons + j
            load_params("synapse", j)
            # the event: 0 for none, else 1 + the fraction of the step from the spike to the step's end
            if sm.trigger is not None:
                src(f"ev = F(1.0) if {_call(sm.trigger, {'v_pre_before': w_row(lay.neuron_row(a, 'v_before')), 'v_pre': w_row(lay.neuron_row(a, 'v_after')), **params_of('synapse', j)})} else F(0.0)")  # noqa: E501
            else:
                src(f"ev = {w_row(lay.neuron_row(a, 'spiked'))}")
            if ring > 1:  # write this step's event into the ring, read the one sent delay steps ago
                base = lay.ring_rows[j]
                src(f"W[i + U({base * tile}) + U((s & {ring - 1}) * TILE)] = ev")
                src(f"steps = np.int64(np.floor(q{j}_delay / dt + F(0.5)))")
                src(f"ev = W[i + U({base * tile}) + U(((s - steps) & {ring - 1}) * TILE)]")
            src("spike = ev > F(0.0)")
            if sm.after_step is not None:
                for v in sm.state_names:
                    src(f"{y(unit, v)} = {w_row(lay.state_row(unit, v))}")
                call = _call(sm.after_step, {"spike": "spike", **{v: y(unit, v) for v in sm.state_names},
                                             **params_of("synapse", j), "dt": "dt",
                                             "lag": "max(ev - F(1.0), F(0.0)) * dt"})
                src(", ".join(f"n{unit}_{v}" for v in sm.state_names) + f" = {call}")
                for v in sm.state_names:
                    src(f"{w_row(lay.state_row(unit, v))} = n{unit}_{v}")
            if sm.post_jump is not None:
                post = neurons[b]
                names = {"spike": "spike", **params_of("synapse", j), "post_refractory": "False"}
                if post.refractory is not None:
                    pnames = {v: w_row(lay.state_row(b, v)) for v in post.state_names}
                    pnames.update(params_of("neuron", b))
                    load_params("neuron", b)
                    names["post_refractory"] = _call(post.refractory, pnames)
                vrow = w_row(lay.state_row(b, post.voltage))
                src(f"{vrow} = {vrow} + {_call(sm.post_jump, names)}")
        src.dedent()

    # --- 3. the metrics loops: float64 bookkeeping apart from the ODE loop, so that the ODE loop runs at the
    # full SIMD width of the working precision (8 float32 lanes on AVX2, not 4). Only what key.keeps asks for.
    keeps = key.keeps
    src("for i in range(U(TILE)):")  # every step: divergence and the pairs' running sums
    src.indent()
    for k, model in enumerate(neurons):
        src(f"v{k} = np.float64({w_row(lay.state_row(k, model.voltage))})")

    # divergence: |V| beyond the bound, or NaN (the comparison is False for NaN). Bookkeeping is arithmetic
    # on 0/1 masks, not branches: conditional stores keep LLVM from running the vector body.
    oks = " & ".join(f"(abs(v{k}) <= v_bound)" for k in range(n_neurons))
    d = lay.diverged_row
    src(f"bad = np.float64(not ({oks})) * np.float64({acc(d)} < 0.0)")
    src(f"{acc(d)} += bad * (s64 - {acc(d)})")

    # pairwise running sums (voltages shifted by each model's resting value against cancellation)
    for q, (a, b) in enumerate(key.pairs):
        ma, mb = neurons[a], neurons[b]
        sa = ma.state_var(ma.voltage).default or 0.0
        sb = mb.state_var(mb.voltage).default or 0.0
        r = {w: lay.pair_acc(q, w) for w in PAIR_ACC}
        if "sums" in keeps:
            src(f"xa = v{a} + {-sa!r}")
            src(f"xb = v{b} + {-sb!r}")
            src(f"{acc(r['sx'])} += w * xa")
            src(f"{acc(r['sy'])} += w * xb")
            src(f"{acc(r['sxx'])} += w * (xa * xa)")
            src(f"{acc(r['syy'])} += w * (xb * xb)")
            src(f"{acc(r['sxy'])} += w * (xa * xb)")
        if "sad" in keeps:
            src(f"{acc(r['sad'])} += w * abs(v{a} - v{b})")
    src.dedent()
    if "count" not in keeps:
        return

    # spikes: only in a step in which a lane of the tile spiked (emit_spike_gate); time by linear
    # interpolation of the crossing of the threshold within the step
    emit_spike_gate(src, lay, tile)
    src("for i in range(U(TILE)):")
    src.indent()
    for k, model in enumerate(neurons):
        r = {w: lay.neuron_acc(k, w) for w in NEURON_ACC}
        src(f"up{k} = np.float64(({w_row(lay.neuron_row(k, 'spiked'))} > 0.0) & counting)")
        if not needs_spike_times(keeps):
            src(f"tc{k} = 0.0")  # unused: no metric asks for spike times
        elif model.spike_threshold:
            thr = f"np.float64(p{k}_{model.spike_threshold})"
            w = lay.w_param_row(lay.param_row("neuron", k, model.spike_threshold))
            if w is not None:
                thr = f"np.float64({w_row(w)})"
            vb = f"np.float64({w_row(lay.neuron_row(k, 'v_before'))})"
            va = f"np.float64({w_row(lay.neuron_row(k, 'v_after'))})"
            src(f"frac = ({thr} - {vb}) / max({va} - {vb}, 1e-300)")
            src(f"tc{k} = (s64 + min(max(frac, 0.0), 1.0)) * dt64")
        else:
            src(f"tc{k} = (s64 + 1.0) * dt64")
        if needs_synchrony(keeps):
            src(f"count{k} = {acc(r['count'])}")
            src(f"last{k} = {acc(r['last'])}")
            src(f"last_isi{k} = {acc(r['last_isi'])}")
    for q, (a, b) in enumerate(key.pairs if needs_synchrony(keeps) else ()):
        emit_spike_synchrony(src, {w: acc(lay.pair_acc(q, w)) for w in PAIR_ACC},
                             {w: f"{w}{a}" for w in SPIKE_SCRATCH}, {w: f"{w}{b}" for w in SPIKE_SCRATCH}, keeps)
    for k in range(n_neurons):
        r = {w: lay.neuron_acc(k, w) for w in NEURON_ACC}
        emit_spike_bookkeeping(src, {w: acc(r[w]) for w in NEURON_ACC}, f"up{k}", f"tc{k}", keeps)
    src.dedent()  # spike lane loop
    src.dedent()  # spike gate


def generate(key: KernelKey, engine_hash: str) -> str:
    """The complete source of the kernel module for ``key``.

    Per step and tile the kernel runs up to three loops over the tile's lanes, each a vector loop:
      1. the ODE loop (working precision): the integrator's stages over every neuron and synapse state,
         then each neuron's spike rule and reset;
      2. the event loop (only with spike-triggered synapses): delay ring buffers, spike-triggered state
         updates of the synapses (increments, transmitter pulses) and jumps of post voltages;
      3. the metrics loops (float64): divergence and pairwise running sums every step; spike times, counts
         and synchrony only in a step in which a lane of the tile spiked (``emit_spike_gate``);
      4. for circuits of >= 3 neurons, every ``kur_every`` steps: the Kuramoto order parameter's sample.
    """
    if key.integrator not in INTEGRATORS:
        raise ValueError(f"unknown integrator {key.integrator!r}")
    if key.precision not in PRECISIONS or key.scheme not in SCHEMES:
        raise ValueError(f"bad precision {key.precision!r} or scheme {key.scheme!r}")
    tab: Tableau = INTEGRATORS[key.integrator]
    lay = KernelLayout(key)
    tile = TILE[key.precision]

    src = _Source()
    src('"""synsweep kernel: generated by synsweep.engine.codegen; do not edit.')
    src()
    src(f"neurons:    {', '.join(key.neuron_models)}")
    syn_text = ", ".join(f"{m}({a}->{b}{', ' + o if o else ''}{f', ring {r}' if r > 1 else ''})"
                         for m, a, b, o, r in key.synapses)
    src(f"synapses:   {syn_text or 'none'}")
    src(f"integrator: {tab.name} ({tab.description}); precision: {key.precision}; scheme: {key.scheme}")
    src(f"engine:     {engine_hash}")
    src('"""')
    src("import numpy as np")
    src("from numba import njit")
    exp_name = "exp64" if key.precision == "float64" else "exp32"
    src(f"from synsweep.engine.fastexp import {exp_name} as exp")
    src("from synsweep.engine.phase import sincos2pi")
    src()
    src(f"F = {PRECISIONS[key.precision]}")
    src(f"TILE = {tile}")
    src("U = np.uint64")
    src()
    src()
    src.lines += _copy_functions(_model_functions(lay)).splitlines()
    src()
    src()
    src(f"VARYING = np.array({lay.varying!r}, dtype=np.int64)  # parameter rows that differ between lanes")
    if lay.looped:
        from .looped import looped_tables

        src.lines += looped_tables(lay)
        src()
        src()

    rec = bool(key.record)
    ftype = "f8" if key.precision == "float64" else "f4"
    sig = f"void({ftype}[:, ::1], {ftype}[:, ::1], f8[:, ::1], "
    sig += f"{ftype}[:, :, ::1], " if rec else ""
    sig += f"i8, i8, {ftype}, i8, {ftype}, f8, f8{', i8' if lay.kuramoto else ''})"
    args = "X, P, ACC, " + ("REC, " if rec else "") + \
        "n_steps, n_transient, dt, rec_every, v_bound, coinc_window, sync_tol" + \
        (", kur_every" if lay.kuramoto else "")
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
    src(f"W = np.zeros({lay.n_work * tile}, dtype=F)")
    src(f"A = np.empty({lay.n_acc_work * tile}, dtype=np.float64)")
    if lay.looped:
        src(f"C = np.empty({lay.n_param}, dtype=F)")
    src("for t0 in range(0, n_lanes, TILE):")
    src.indent()
    src("for j in range(TILE):")
    src.indent()
    src(f"for r in range({lay.n_state}):")
    src("    W[r * TILE + j] = X[r, t0 + j]")
    src(f"for q in range({len(lay.varying)}):")
    src(f"    W[({lay.n_state} + q) * TILE + j] = P[VARYING[q], t0 + j]")
    src(f"for r in range({lay.n_state + len(lay.varying)}, {lay.n_work}):")
    src("    W[r * TILE + j] = F(0.0)")
    src(f"for r in range({lay.n_acc}):")
    src("    A[r * TILE + j] = ACC[r, t0 + j]")
    for r, (unit, var) in enumerate(key.record):
        src(f"REC[{r}, 0, t0 + j] = X[{lay.state_row(unit, var)}, t0 + j]")
    src.dedent()
    if lay.looped:
        src(f"for r in range({lay.n_param}):")
        src("    C[r] = P[r, t0]")
    else:
        _emit_uniform_params(src, lay)
    src("for s in range(n_steps):")
    src.indent()
    src("w = np.float64(1.0) if s >= n_transient else np.float64(0.0)")
    src("counting = s >= n_transient")
    src("s64 = np.float64(s)")
    src("t_end = F(s + 1) * dt")

    if lay.looped:
        from .looped import emit_looped_step

        emit_looped_step(src, lay, tab, tile)
    else:
        _emit_unrolled_step(src, lay, tab, tile)
    if lay.kuramoto and "kuramoto" in key.keeps:
        emit_kuramoto_sample(src, lay, tile)
    if rec:
        src("if rec_every > 0 and (s + 1) % rec_every == 0:")
        src.indent()
        src("r = (s + 1) // rec_every")
        src("for j in range(TILE):")
        src.indent()
        for rr, (unit, var) in enumerate(key.record):
            src(f"REC[{rr}, r, t0 + j] = W[{lay.state_row(unit, var) * tile} + j]")
        src.dedent()
        src.dedent()
    src.dedent()  # steps
    src("for j in range(TILE):")
    src.indent()
    src(f"for r in range({lay.n_state}):")
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
