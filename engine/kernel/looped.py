"""Looped addressing, for larger circuits: loops over groups of neurons and synapses of one model.

The unrolled addressing (``unrolled``) writes every neuron's and synapse's equations out once per
integrator stage, which is fastest for small circuits but makes the generated code (and its compile time)
grow with the circuit: a 20-neuron all-to-all circuit takes minutes to compile. For larger circuits the
same step (``emit``) is written as loops: for each group of neurons (or synapses) of one model, a loop over
the group's members, and inside it the vector loop over the tile's lanes calling the model's functions once.
The members' rows of the tile buffer W come from constant index tables (one row of a table per member).

One run-time loop over the stages j of the tableau (``for stage in range(s)``: each model's call is written
once, not once per stage, which keeps the compile time of a large circuit's kernel down), with every state of
the stage (Z = Y + dt sum_l a_jl K_l) kept in W:
    1. Z rows of every state variable (stage 0 reads Y directly; the combination of stage j is the branch
       ``stage == j``)
    2. input currents I of every neuron: its external current plus its synapses' output currents
       (every stage for scheme 'coupled', stage 0 only for 'split')
    3. K_j of every synapse state and every neuron state, group by group
then Y += (dt sum_j b_j K_j). Scheme 'split' runs the stages twice, in Neun's order: first over the
synapses' state rows only (voltages held at t_n), whose Y then advances to t_{n+1}; then over the neurons'
rows, with the currents from the synapses' new states and the voltages at t_n. Then the spike rules and
resets, the event loop and the metrics loop, as in the unrolled addressing and with the same order of
operations within each model's functions.

Gap groups. A diffusive synapse (``Output.diffusive``: the electrical synapse) adds g_pre (V_post - V_pre)
to its pre neuron's input and g_post (V_pre - V_post) to its post neuron's. When a set of such synapses has
one conductance g_pre and one g_post (their rows tied in the kernel key: uniform over the batch and equal)
and joins every pair of a set of m >= 3 neurons the same way (n_fwd synapses from the lower-numbered
neuron to the higher one, n_bwd the other way, for every pair), neuron i's input from them is exactly

    a sum_{j > i} (V_j - V_i) + b sum_{j < i} (V_j - V_i),   a = n_fwd g_pre + n_bwd g_post,
                                                              b = n_fwd g_post + n_bwd g_pre
  = a (S_>i - n_>i V_i) + b (S_<i - n_<i V_i)

with S_>i, S_<i the sums of the voltages of the group's members above and below i and n_>i, n_<i their
counts: a prefix sum and a suffix sum over the members, O(m) per stage instead of O(m^2). With a = b
(g_pre and g_post tied together, or n_fwd = n_bwd) it is a (S - m V_i), one total. Voltages enter as
differences to the first member's (V_j - V_0), which keeps the sums small. The result equals the
per-synapse evaluation up to rounding (the order of the additions differs), not bit for bit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..metrics import NEURON_ACC, PAIR_ACC, SPIKE_SCRATCH
from .addressing import Addressing, Row
from .source import Source

if TYPE_CHECKING:
    from .layout import KernelLayout


def _groups(items: list[tuple[object, object]]) -> list[tuple[object, list]]:
    """Members grouped by key, in order of first appearance."""
    out: dict[object, list] = {}
    for key, index in items:
        out.setdefault(key, []).append(index)
    return list(out.items())


class _Table:
    """A constant int64 table of rows, one table row per group member, named columns.

    A column holds a W row, except the columns in ``uniform``: parameters uniform over the batch, whose
    column holds the P row, read once per member into a scalar (``C[row]``) outside the lane loop.
    """

    def __init__(self, name: str, rows: list[dict[str, int]], uniform: set[str]):
        self.name = name
        self.columns = list(rows[0])
        self.rows = rows
        self.uniform = uniform

    def scalar_loads(self, body: str) -> list[str]:
        """Statements (inside the member loop) loading the uniform parameters of member e that ``body`` (the
        loop's code) reads: every unused load would still cost numba its typing and lowering."""
        return [f"c_{c} = C[{self.name}[e, {self.columns.index(c)}]]" for c in self.columns
                if c in self.uniform and re.search(rf"\bc_{c}\b", body)]

    def param(self, column: str) -> str:
        """The value of parameter ``column`` for lane i of member e."""
        return f"c_{column}" if column in self.uniform else f"W[i + {self.offset(column)}]"

    def source(self) -> str:
        body = ", ".join("[" + ", ".join(str(r[c]) for c in self.columns) + "]" for r in self.rows)
        return f"{self.name} = np.array([{body}], dtype=np.int64)  # columns: {', '.join(self.columns)}"

    def offset(self, column: str, base: str = "0") -> str:
        """Offset in W of this member's row ``column`` (plus ``base`` rows), for the lane loop."""
        return f"U(({base} + {self.name}[e, {self.columns.index(column)}]) * TILE)"


def _param_columns(lay: KernelLayout, kind: str, index: int, names: tuple[str, ...], prefix: str
                   ) -> tuple[dict[str, int], frozenset[str]]:
    """Columns of parameters: W row when varying, P row when uniform (and the set of uniform columns)."""
    cols, uniform = {}, set()
    for name in names:
        p_row = lay.param_row(kind, index, name)
        w_row = lay.w_param_row(p_row)
        cols[prefix + name] = p_row if w_row is None else w_row
        if w_row is None:
            uniform.add(prefix + name)
    return cols, frozenset(uniform)


def _neuron_tables(lay: KernelLayout) -> list[tuple[object, _Table]]:
    items = []
    for k, model in enumerate(lay.neurons):
        row = {f"x_{v}": lay.state_row(k, v) for v in model.state_names}
        params, uniform = _param_columns(lay, "neuron", k, model.param_names, "p_")
        current, uniform_current = _param_columns(lay, "input", k, ("i_ext",), "")
        row.update(params)
        row.update(current)
        row["i_in"] = lay.i_base + k
        row.update({w: lay.neuron_row(k, w) for w in ("v_before", "v_after", "spiked")})
        items.append(((model.name, uniform | uniform_current), row))
    tables = []
    for g, ((name, uniform), rows) in enumerate(_groups(items)):
        tables.append((lay.neurons[lay.key.neuron_models.index(name)], _Table(f"NEURONS{g}", rows, set(uniform))))
    return tables


class GapGroup:
    """An all-to-all group of diffusive synapses with tied conductances (see the module docstring).

    members: neuron indices, ascending; synapses: the synapse indices it replaces; g_pre, g_post: P rows of
    the tied conductances (read as scalars of the tile); n_fwd, n_bwd: synapses per pair from the lower
    neuron to the higher one and back.
    """

    def __init__(self, members: list[int], synapses: list[int], g_pre: int, g_post: int, n_fwd: int, n_bwd: int):
        self.members, self.synapses = members, synapses
        self.g_pre, self.g_post, self.n_fwd, self.n_bwd = g_pre, g_post, n_fwd, n_bwd

    @property
    def symmetric(self) -> bool:
        """Whether a = b: the same conductance from above and below, so one total replaces the two sums."""
        return self.n_fwd == self.n_bwd or self.g_pre == self.g_post


def gap_groups(lay: KernelLayout) -> list[GapGroup]:
    """The gap groups of a looped kernel: diffusive synapses (no state, not spike-triggered, pre != post)
    whose conductances are uniform and tied, grouped by their pair of conductance classes, kept when they
    join every pair of their neurons (at least 3) the same way."""
    key = lay.key
    if not lay.looped:
        return []
    tie = {r: cls[0] for cls in key.tied for r in cls}  # P row -> the first row of its class
    candidates: dict[tuple, list[int]] = {}
    for j, (name, a, b, output, _) in enumerate(key.synapses):
        sm = lay.synapse_models[j]
        out = sm.output(output)
        if out is None or out.diffusive is None or sm.state or sm.spike_triggered or a == b:
            continue
        rows = [lay.param_row("synapse", j, p) for p in out.diffusive]
        if any(r not in tie or lay.w_param_row(r) is not None for r in rows):  # lone or per-point value
            continue
        candidates.setdefault((name, output, tie[rows[0]], tie[rows[1]]), []).append(j)
    groups = []
    for (_, _, g_pre, g_post), syns in candidates.items():
        members = sorted({key.synapses[j][k] for j in syns for k in (1, 2)})
        counts: dict[tuple[int, int], list[int]] = {}
        for j in syns:
            a, b = key.synapses[j][1:3]
            counts.setdefault((min(a, b), max(a, b)), [0, 0])[0 if a < b else 1] += 1
        shapes = {tuple(c) for c in counts.values()}
        if len(members) >= 3 and len(counts) == len(members) * (len(members) - 1) // 2 and len(shapes) == 1:
            n_fwd, n_bwd = shapes.pop()
            groups.append(GapGroup(members, syns, g_pre, g_post, n_fwd, n_bwd))
    return groups


def _gap_table(lay: KernelLayout, g: int, group: GapGroup) -> str:
    """Per member: W rows of its voltage and input current, its counts of members below and above."""
    m = len(group.members)
    rows = [[lay.state_row(k, lay.neurons[k].voltage), lay.i_base + k, p, m - 1 - p]
            for p, k in enumerate(group.members)]
    factors = [lay.neurons[k].conductance_factor for k in group.members]
    return (f"GAP{g} = np.array({rows!r}, dtype=np.int64)  # columns: v, i_in, below, above\n"
            f"GAP{g}_FACTORS = np.array({factors!r}, dtype=np.float64)")


def _synapse_tables(lay: KernelLayout) -> list[tuple[object, object, _Table]]:
    key, n = lay.key, len(lay.neurons)
    grouped = {j for group in gap_groups(lay) for j in group.synapses}
    items = []
    for j, (name, a, b, output, ring) in enumerate(key.synapses):
        if j in grouped:
            continue
        sm, pre, post = lay.synapse_models[j], lay.neurons[a], lay.neurons[b]
        post_model = key.neuron_models[b] if sm.post_jump is not None and post.refractory is not None else None
        row = {"v_pre": lay.state_row(a, pre.voltage), "v_post": lay.state_row(b, post.voltage),
               "i_pre": lay.i_base + a, "i_post": lay.i_base + b,
               "pre_spiked": lay.neuron_row(a, "spiked"), "pre_v_before": lay.neuron_row(a, "v_before"),
               "pre_v_after": lay.neuron_row(a, "v_after"), "ring": lay.ring_rows[j], "ring_mask": ring - 1}
        row.update({f"x_{v}": lay.state_row(n + j, v) for v in sm.state_names})
        params, uniform = _param_columns(lay, "synapse", j, sm.param_names(output), "q_")
        row.update(params)
        if post_model is not None:
            row.update({f"post_x_{v}": lay.state_row(b, v) for v in post.state_names})
            post_params, post_uniform = _param_columns(lay, "neuron", b, post.param_names, "post_p_")
            row.update(post_params)
            uniform |= post_uniform
        out = sm.output(output)
        factors = (pre.conductance_factor, post.conductance_factor) if out is not None and out.conductance \
            else (1.0, 1.0)
        items.append(((name, output, post_model, uniform), (row, factors)))
    tables = []
    for g, ((name, output, post_model, uniform), members) in enumerate(_groups(items)):
        sm = lay.synapse_models[[s[0] for s in key.synapses].index(name)]
        table = _Table(f"SYNAPSES{g}", [row for row, _ in members], set(uniform))
        tables.append((sm, (output, post_model, [f for _, f in members]), table))
    return tables


def _looped_tables(lay: KernelLayout, neuron_tables, synapse_tables, groups) -> list[str]:
    """Module-level source of the index tables (numba freezes global arrays into the compiled code)."""
    lines = [t.source() for _, t in neuron_tables]
    lines += [_gap_table(lay, g, group) for g, group in enumerate(groups)]
    for _, (_, _, factors), t in synapse_tables:
        lines.append(t.source())
        lines.append(f"{t.name}_FACTORS = np.array({[list(f) for f in factors]!r}, dtype=np.float64)")
    lines.append(f"VOLTAGE_ROWS = np.array({[lay.state_row(k, m.voltage) for k, m in enumerate(lay.neurons)]!r}, "
                 "dtype=np.int64)")
    if lay.key.pairs:
        shifts = [[-(lay.neurons[a].state_var(lay.neurons[a].voltage).default or 0.0),
                   -(lay.neurons[b].state_var(lay.neurons[b].voltage).default or 0.0)] for a, b in lay.key.pairs]
        lines.append(f"PAIRS = np.array({[[a, b] for a, b in lay.key.pairs]!r}, dtype=np.int64)")
        lines.append(f"PAIR_SHIFTS = np.array({shifts!r}, dtype=np.float64)")
    return lines


@dataclass(frozen=True)
class Member:
    """A group of the looped addressing: the members of ``table`` (rows ``e``), their state columns
    ``<x><v>`` and parameter columns ``<p><p>``; kind 'neuron', 'synapse' or 'pair' (the PAIRS table).
    ``post_model``: a synapse group's post neuron model when its refractory state gates the jump."""

    kind: str
    table: _Table | None
    x: str = "x_"
    p: str = "p_"
    post_model: object = None


class Looped(Addressing):
    """State, stage states Z and slopes K in rows of the tile buffer W (combined in place), addressed through
    the groups' index tables inside member loops (``for e in range(members):``)."""

    in_place = True

    def __init__(self, src, lay, tile):
        super().__init__(src, lay, tile)
        self._neuron_tables = _neuron_tables(lay)
        self._synapse_tables = _synapse_tables(lay)
        self._gap_groups = gap_groups(lay)
        self._pair_loaded: set[int] = set()

    # --- helpers
    def _at(self, offset: str) -> str:
        return f"W[i + {offset}]"

    def _lane_loop(self) -> None:
        self.src("for i in range(U(TILE)):")
        self.src.indent()

    def _stage_base(self, j: int | str) -> str:
        """First W row of the state at stage j: y's rows at stage 0, Z's after (``zb`` in the stage loop)."""
        if isinstance(j, str):
            return "zb"
        return "0" if j == 0 else str(self.lay.z_base)

    def _slope_base(self, j: int | str) -> str:
        """First W row of the slopes k_j (``kb`` in the stage loop)."""
        return "kb" if isinstance(j, str) else str(self.lay.k_base + j * self.lay.n_state)

    # --- module level and per tile
    def tables(self) -> list[str]:
        return _looped_tables(self.lay, self._neuron_tables, self._synapse_tables, self._gap_groups)

    def allocations(self) -> None:
        self.src(f"C = np.empty({self.lay.n_param}, dtype=F)")

    def tile_setup(self) -> None:
        self.src(f"for r in range({self.lay.n_param}):")
        self.src("    C[r] = P[r, t0]")

    # --- groups and loops
    def neuron_groups(self):
        return [(model, Member("neuron", table)) for model, table in self._neuron_tables]

    def synapse_groups(self):
        out = []
        for sm, (output, post_model, _), table in self._synapse_tables:
            post = self.lay.neurons[self.lay.key.neuron_models.index(post_model)] if post_model is not None else None
            out.append((sm, output, Member("synapse", table, "x_", "q_", post)))
        return out

    def pair_groups(self):
        return [Member("pair", None)]

    @contextmanager
    def section(self):
        yield

    def stage_loop(self, stages):
        """``for stage in range(stages)``, each model's call written once inside it (not once per stage:
        a looped kernel's compile time grows with the code's length): ``zb`` the first row of the stage's
        state (y at stage 0, Z after), ``kb`` of its slopes. Euler (one stage) has no loop."""
        return self._stage_loop(stages) if stages > 1 else None

    @contextmanager
    def _stage_loop(self, stages: int) -> Iterator[str]:
        lay, src = self.lay, self.src
        with src.block(f"for stage in range({stages}):"):
            src(f"zb = 0 if stage == 0 else {lay.z_base}")
            src(f"kb = {lay.k_base} + stage * {lay.n_state}")
            yield "stage"

    @contextmanager
    def ode_section(self, tail=None):
        yield
        if tail is not None:
            tail()

    @contextmanager
    def members(self, g, *, factors=False, ring=False, accumulators=False):
        src, lay, table = self.src, self.lay, g.table
        if g.kind == "pair":
            yield from self._pair_loop()
            return
        src(f"for e in range({len(table.rows)}):")
        src.indent()
        start, depth = len(src.lines), src.depth
        if factors:
            src(f"f_pre = F({table.name}_FACTORS[e, 0])")
            src(f"f_post = F({table.name}_FACTORS[e, 1])")
        if ring:
            src(f"ring = {table.name}[e, {table.columns.index('ring')}]")
            src(f"mask = {table.name}[e, {table.columns.index('ring_mask')}]")
            src("o_write = U((ring + (s & mask)) * TILE)")
        if accumulators:
            src(f"k = {table.name}[e, {table.columns.index('i_in')}] - {lay.i_base}")
            src(f"o_acc = U(k) * U({len(NEURON_ACC) * self.tile})")
            src(f"o_scr = U({lay.n_acc} + {len(SPIKE_SCRATCH)} * k) * U({self.tile})")
        self._lane_loop()
        yield
        src.dedent()
        src.dedent()
        loads = table.scalar_loads("\n".join(src.lines[start:]))
        src.lines[start:start] = ["    " * depth + line for line in loads]

    def _pair_loop(self) -> Iterator[None]:
        """The loop over the pairs (PAIRS table), each pair's rows as offsets, then the lane loop."""
        src, lay, tile = self.src, self.lay, self.tile
        n_scratch = len(SPIKE_SCRATCH)
        src(f"for e in range({len(lay.key.pairs)}):")
        src.indent()
        src("o_a = U(VOLTAGE_ROWS[PAIRS[e, 0]] * TILE)")
        src("o_b = U(VOLTAGE_ROWS[PAIRS[e, 1]] * TILE)")
        src("sa = PAIR_SHIFTS[e, 0]")
        src("sb = PAIR_SHIFTS[e, 1]")
        src(f"o_acc = U({lay.pair_acc(0, 'sx')} + {len(PAIR_ACC)} * e) * U({tile})")
        src(f"o_sa = U({lay.n_acc} + {n_scratch} * PAIRS[e, 0]) * U({tile})")
        src(f"o_sb = U({lay.n_acc} + {n_scratch} * PAIRS[e, 1]) * U({tile})")
        self._lane_loop()
        self._pair_loaded = set()
        yield
        src.dedent()
        src.dedent()

    @contextmanager
    def lanes(self):
        self._lane_loop()
        yield
        self.src.dedent()

    def rows(self, part: str) -> Iterator[Row]:
        lay = self.lay
        n_neuron_state = sum(len(m.state_names) for m in lay.neurons)  # neuron rows first, then the synapses'
        lo, hi = {"all": (0, lay.n_state), "neurons": (0, n_neuron_state),
                  "synapses": (n_neuron_state, lay.n_state)}[part]
        self.src(f"for r in range({lo}, {hi}):")
        self.src.indent()
        self._lane_loop()
        y = "W[i + U(r * TILE)]"
        yield Row(y, lambda j: f"W[i + U(({lay.z_base} + r) * TILE)]",
                  lambda j: f"W[i + U(({lay.k_base + j * lay.n_state} + r) * TILE)]", y)
        self.src.dedent()
        self.src.dedent()

    # --- the ODE and event sections
    def gap_currents(self, stage: int) -> None:
        for g, group in enumerate(self._gap_groups):
            _emit_gap_group(self.src, self.lay, g, group, self._stage_base(stage), self.tile)

    def state(self, g, v, j):
        return self._at(g.table.offset(f"{g.x}{v}", self._stage_base(j)))

    def new(self, g, v):
        return self._at(g.table.offset(f"{g.x}{v}"))

    stored = new

    def param(self, g, p):
        return g.table.param(f"{g.p}{p}")

    lane_param = param

    def input(self, g):
        return self._at(g.table.offset("i_in"))

    def external_current(self, g):
        return g.table.param("i_ext")

    def add_current(self, g, side, value):
        target = self._at(g.table.offset(f"i_{side}"))
        self.src(f"{target} += f_{side} * {value}")

    def voltage(self, g, side, j):
        return self._at(g.table.offset(f"v_{side}", self._stage_base(j)))

    def post_refractory(self, g):
        if g.post_model is None:
            return None
        return g.post_model, Member("neuron", g.table, "post_x_", "post_p_")

    def post_voltage(self, g):
        return self._at(g.table.offset("v_post"))

    def buf(self, g, what):
        return self._at(g.table.offset(what))

    def set_slopes(self, g, j, names, expr):
        self.src(", ".join(f"k_{v}" for v in names) + f" = {expr}")
        base = self._slope_base(j)
        for v in names:
            self.src(f"{self._at(g.table.offset(f'{g.x}{v}', base))} = k_{v}")

    def set_new(self, g, names, expr):
        self.src(", ".join(f"n_{v}" for v in names) + f" = {expr}")
        for v in names:
            self.src(f"{self.new(g, v)} = n_{v}")

    set_stored = set_new

    def delay(self, g, delay):
        src = self.src
        with src.block("if mask > 0:"):  # a delay ring: write this step's event, read the one sent 'steps' ago
            src("W[i + o_write] = ev")
            src(f"steps = np.int64(np.floor({delay} / dt + F(0.5)))")
            src("ev = W[i + U((ring + ((s - steps) & mask)) * TILE)]")

    # --- metrics
    def out_of_bounds(self, cast=True):  # the voltages are read as float64 either way (nothing fused)
        src, lay = self.src, self.lay
        ok = f"W[i + U({lay.scratch * self.tile})]"
        with self.lanes():
            src(f"{ok} = F(1.0)")
        with src.block(f"for e in range({len(lay.neurons)}):"):
            src("o_v = U(VOLTAGE_ROWS[e] * TILE)")
            with self.lanes():
                src(f"{ok} = F(1.0) if ({ok} > F(0.0)) & (abs(W[i + o_v]) <= v_bound) else F(0.0)")
        return f"{ok} == F(0.0)"

    def count_spikes(self, condition):
        lay, src, tile = self.lay, self.src, self.tile
        first = lay.neuron_row(0, "spiked")
        step = lay.neuron_row(1, "spiked") - first if len(lay.neurons) > 1 else 0
        src("n_up = np.int64(0)")
        with src.block(f"if {condition}:") if condition else nullcontext():
            src(f"for e in range({len(lay.neurons)}):")
            src(f"    o_up = U(({first} + {step} * e) * {tile})")
            src("    for i in range(U(TILE)):")
            src("        n_up += np.int64(W[i + o_up] > F(0.0))")

    def spike_local(self, g, what):
        return what

    def scratch(self, g, what):
        return f"A[i + o_scr + U({SPIKE_SCRATCH.index(what) * self.tile})]"

    def pair_scratch(self, g, side, what):
        return f"A[i + {('o_sa', 'o_sb')[side]} + U({SPIKE_SCRATCH.index(what) * self.tile})]"

    def pair_voltage(self, g, side):
        name = ("va", "vb")[side]
        if side not in self._pair_loaded:
            self.src(f"{name} = np.float64(W[i + {('o_a', 'o_b')[side]}])")
            self._pair_loaded.add(side)
        return name

    def pair_shift(self, g, side):
        return ("sa", "sb")[side]

    def acc(self, g, what):
        names = NEURON_ACC if g.kind == "neuron" else PAIR_ACC
        return f"A[i + o_acc + U({names.index(what) * self.tile})]"

    def acc_row(self, row):
        return f"A[i + U({row * self.tile})]"

    def neuron_sums(self, inits: dict[str, str]) -> tuple[dict[str, str], Iterator[Callable[[str], str]]]:
        """The sums in scratch rows of A (after the neurons' SPIKE_SCRATCH rows), a loop over the neurons by
        index (whatever their model groups)."""
        src, lay, tile = self.src, self.lay, self.tile
        base = lay.n_acc + len(SPIKE_SCRATCH) * len(lay.neurons)
        names = {name: self.acc_row(base + c) for c, name in enumerate(inits)}
        with self.lanes():
            for name, value in inits.items():
                src(f"{names[name]} = {value}")

        def each() -> Iterator[Callable[[str], str]]:
            with src.block(f"for e in range({len(lay.neurons)}):"):
                src(f"o_acc = U(e) * U({len(NEURON_ACC) * tile})")
                with self.lanes():
                    yield lambda what: f"A[i + o_acc + U({NEURON_ACC.index(what) * tile})]"

        return names, each()


def _emit_gap_group(src: Source, lay: KernelLayout, g: int, group: GapGroup, volt_base: str, tile: int) -> None:
    """Add a gap group's currents to its members' inputs: a (S_>i - n_>i V_i) + b (S_<i - n_<i V_i), the
    voltages taken relative to the first member's (module docstring). Two scratch rows hold the running sums."""
    m = len(group.members)
    run_sum = f"W[i + U({(lay.scratch + 1) * tile})]"
    v0 = f"W[i + U(({volt_base} + GAP{g}[0, 0]) * TILE)]"
    v_e = f"W[i + U(({volt_base} + GAP{g}[e, 0]) * TILE)]"
    i_e = f"W[i + U(GAP{g}[e, 1] * TILE)]"
    src(f"g_pre = C[{group.g_pre}]")
    src(f"g_post = C[{group.g_post}]")
    src(f"gap_a = F({group.n_fwd}) * g_pre + F({group.n_bwd}) * g_post")  # from the members above
    src(f"gap_b = F({group.n_fwd}) * g_post + F({group.n_bwd}) * g_pre")  # from the members below
    src("for i in range(U(TILE)):")
    src(f"    {run_sum} = F(0.0)")
    if group.symmetric:  # a = b: I_i = a (S - m V_i), S the sum over all members
        src(f"for e in range({m}):")
        src("    for i in range(U(TILE)):")
        src(f"        {run_sum} += {v_e} - {v0}")
        src(f"for e in range({m}):")
        src(f"    f_a = F(GAP{g}_FACTORS[e]) * gap_a")
        src("    for i in range(U(TILE)):")
        src(f"        {i_e} += f_a * ({run_sum} - F({m}) * ({v_e} - {v0}))")
        return
    # members below (ascending prefix sums), then members above (descending suffix sums)
    for order, coef, count in (("range({m})", "gap_b", 2), ("range({m} - 1, -1, -1)", "gap_a", 3)):
        src(f"for e in {order.format(m=m)}:")
        src(f"    f_c = F(GAP{g}_FACTORS[e]) * {coef}")
        src(f"    n_c = F(GAP{g}[e, {count}])")
        src("    for i in range(U(TILE)):")
        src(f"        d = {v_e} - {v0}")
        src(f"        {i_e} += f_c * ({run_sum} - n_c * d)")
        src(f"        {run_sum} += d")
        if count == 2:
            src("for i in range(U(TILE)):")
            src(f"    {run_sum} = F(0.0)")
