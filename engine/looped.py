"""The stepping routine for larger circuits: loops over groups of neurons and synapses of one model.

The unrolled step of ``synsweep.engine.codegen`` writes every neuron's and synapse's equations out once per
integrator stage, which is fastest for small circuits but makes the generated code (and its compile time)
grow with the circuit: a 20-neuron all-to-all circuit takes minutes to compile. For larger circuits the
same step is written as loops: for each group of neurons (or synapses) of one model, a loop over the
group's members, and inside it the vector loop over the tile's lanes calling the model's functions once.
The members' rows of the tile buffer W come from constant index tables (one row of a table per member).

Per stage j of the tableau, with every state of the stage (Z = Y + dt sum_l a_jl K_l) kept in W:
    1. Z rows of every state variable (stage 0 reads Y directly)
    2. input currents I of every neuron: its external current plus its synapses' output currents
       (every stage for scheme 'coupled', stage 0 only for 'split')
    3. K_j of every synapse state and every neuron state, group by group
then Y += (dt sum_j b_j K_j). Scheme 'split' runs the stages twice, in Neun's order: first over the
synapses' state rows only (voltages held at t_n), whose Y then advances to t_{n+1}; then over the neurons'
rows, with the currents from the synapses' new states and the voltages at t_n. Then the spike rules and
resets, the event loop and the metrics loop, as in the unrolled step and in the same order of operations
within each model's functions.

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

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .codegen import KernelLayout, _Source
    from .integrators import Tableau


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

    def scalar_loads(self) -> list[str]:
        """Statements (inside the member loop) loading the uniform parameters of member e."""
        return [f"c_{c} = C[{self.name}[e, {self.columns.index(c)}]]" for c in self.columns if c in self.uniform]

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


def looped_tables(lay: KernelLayout) -> list[str]:
    """Module-level source of the index tables (numba freezes global arrays into the compiled code)."""
    lines = [t.source() for _, t in _neuron_tables(lay)]
    lines += [_gap_table(lay, g, group) for g, group in enumerate(gap_groups(lay))]
    for _, (_, _, factors), t in _synapse_tables(lay):
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


def emit_looped_step(src: _Source, lay: KernelLayout, tab: Tableau, tile: int) -> None:
    """The body of one step (inside the step loop) for a circuit too large to unroll."""
    from .codegen import (
        NEURON_ACC,
        PAIR_ACC,
        SPIKE_SCRATCH,
        emit_spike_bookkeeping,
        emit_spike_gate,
        emit_spike_synchrony,
        needs_spike_times,
        needs_synchrony,
        spike_lateness,
    )
    from .codegen import _call as call
    key = lay.key
    neuron_tables = _neuron_tables(lay)
    synapse_tables = _synapse_tables(lay)
    groups = gap_groups(lay)
    n_state = lay.n_state

    def lane_loop() -> None:
        src("for i in range(U(TILE)):")
        src.indent()

    def members(table: _Table) -> None:
        """The loop over the group's members, with the member's uniform parameters as scalars."""
        src(f"for e in range({len(table.rows)}):")
        src.indent()
        for line in table.scalar_loads():
            src(line)

    def at(offset: str) -> str:
        return f"W[i + {offset}]"

    def k_row(j: int, table: _Table, column: str) -> str:
        return at(table.offset(column, f"{lay.k_base + j * n_state}"))

    def emit_stages(lo: int, hi: int, with_neurons: bool, with_synapses: bool) -> None:
        """The tableau's stages over the state rows lo..hi-1: the neurons' (with the input currents) and/or
        the synapses' derivatives."""
        for j in range(tab.stages):
            stage_base = "0" if j == 0 else str(lay.z_base)
            volt_base = stage_base if key.scheme == "coupled" else "0"
            if j > 0:  # Z = Y + dt sum_l a_jl K_l, row by row
                src(f"for r in range({lo}, {hi}):")
                src.indent()
                terms = [f"a{j}{l_} * W[i + U(({lay.k_base + l_ * n_state} + r) * TILE)]"
                         for l_, a in enumerate(tab.a[j]) if a != 0]
                lane_loop()
                src(f"W[i + U(({lay.z_base} + r) * TILE)] = W[i + U(r * TILE)]" + "".join(f" + {t}" for t in terms))
                src.dedent()
                src.dedent()
            if with_neurons and (key.scheme == "coupled" or j == 0):
                for _, table in neuron_tables:
                    members(table)
                    lane_loop()
                    src(f"{at(table.offset('i_in'))} = {table.param('i_ext')}")
                    src.dedent()
                    src.dedent()
                for g, group in enumerate(groups):
                    emit_gap_group(src, lay, g, group, volt_base, tile)
                for sm, (output, _, _), table in synapse_tables:
                    out = sm.output(output)
                    if out is None:
                        continue
                    members(table)
                    src(f"f_pre = F({table.name}_FACTORS[e, 0])")
                    src(f"f_post = F({table.name}_FACTORS[e, 1])")
                    lane_loop()
                    names = {"v_pre": at(table.offset("v_pre", volt_base)),
                             "v_post": at(table.offset("v_post", volt_base)),
                             **{v: at(table.offset(f"x_{v}", stage_base)) for v in sm.state_names},
                             **{p: table.param(f"q_{p}") for p in sm.param_names(output)}}
                    src(f"ipre, ipost = {call(out.currents, names)}")
                    src(f"{at(table.offset('i_pre'))} += f_pre * ipre")
                    src(f"{at(table.offset('i_post'))} += f_post * ipost")
                    src.dedent()
                    src.dedent()
            for sm, (output, _, _), table in synapse_tables:
                if sm.derivatives is None or not with_synapses:
                    continue
                members(table)
                lane_loop()
                names = {"v_pre": at(table.offset("v_pre", volt_base)), "v_post": at(table.offset("v_post", volt_base)),
                         **{v: at(table.offset(f"x_{v}", stage_base)) for v in sm.state_names},
                         **{p: table.param(f"q_{p}") for p in sm.param_names(output)}}
                src(", ".join(f"k_{v}" for v in sm.state_names) + f" = {call(sm.derivatives, names)}")
                for v in sm.state_names:
                    src(f"{k_row(j, table, f'x_{v}')} = k_{v}")
                src.dedent()
                src.dedent()
            for model, table in neuron_tables if with_neurons else ():
                members(table)
                lane_loop()
                names = {**{v: at(table.offset(f"x_{v}", stage_base)) for v in model.state_names},
                         "i_in": at(table.offset("i_in")), **{p: table.param(f"p_{p}") for p in model.param_names}}
                src(", ".join(f"k_{v}" for v in model.state_names) + f" = {call(model.derivatives, names)}")
                for v in model.state_names:
                    src(f"{k_row(j, table, f'x_{v}')} = k_{v}")
                src.dedent()
                src.dedent()

    def combine(lo: int, hi: int) -> None:
        """Y += (dt sum_j b_j K_j) over the state rows lo..hi-1, the increments summed before the addition
        (y is rounded to the working precision once per step)."""
        src(f"for r in range({lo}, {hi}):")
        src.indent()
        terms = [f"b{j} * W[i + U(({lay.k_base + j * n_state} + r) * TILE)]" for j, b in enumerate(tab.b) if b != 0]
        lane_loop()
        src(f"W[i + U(r * TILE)] = W[i + U(r * TILE)] + ({' + '.join(terms)})")
        src.dedent()
        src.dedent()

    def voltages_before() -> None:
        for model, table in neuron_tables:
            members(table)
            lane_loop()
            src(f"{at(table.offset('v_before'))} = {at(table.offset(f'x_{model.voltage}'))}")
            src.dedent()
            src.dedent()

    n_neuron_state = sum(len(m.state_names) for m in lay.neurons)  # neuron rows first, then the synapses'
    if key.scheme == "coupled":
        emit_stages(0, n_state, True, True)
        voltages_before()
        combine(0, n_state)
    else:  # split, Neun's order: the synapses' own states advance to t_{n+1} (voltages held at t_n), then
        # the currents from their new states and the voltages at t_n, held through the neurons' stages
        emit_stages(n_neuron_state, n_state, False, True)
        combine(n_neuron_state, n_state)
        emit_stages(0, n_neuron_state, True, False)
        voltages_before()
        combine(0, n_neuron_state)

    # --- spikes and resets
    for model, table in neuron_tables:
        members(table)
        lane_loop()
        vb, va = at(table.offset("v_before")), at(table.offset(f"x_{model.voltage}"))
        src(f"{at(table.offset('v_after'))} = {va}")
        thr = table.param(f"p_{model.spike_threshold}") if model.spike_threshold else None
        src(f"late = {spike_lateness(vb, va, thr)}")
        if model.spike is None:
            src(f"spiked = ({vb} < {thr}) & ({va} >= {thr})")
        else:
            names = {**{v: at(table.offset(f"x_{v}")) for v in model.state_names},
                     **{p: table.param(f"p_{p}") for p in model.param_names},
                     "v_before": vb, "t": "t_end", "dt": "dt"}
            src(f"spiked = {call(model.spike, names)}")
            names["spiked"] = "spiked"
            src(", ".join(f"n_{v}" for v in model.state_names) + f" = {call(model.after_step, names)}")
            for v in model.state_names:
                src(f"{at(table.offset(f'x_{v}'))} = n_{v}")
        src(f"{at(table.offset('spiked'))} = (F(1.0) + late) if spiked else F(0.0)")
        src.dedent()
        src.dedent()

    # --- events of spike-triggered synapses
    for sm, (output, post_model, _), table in synapse_tables:
        if not sm.spike_triggered:
            continue
        members(table)
        src(f"ring = {table.name}[e, {table.columns.index('ring')}]")
        src(f"mask = {table.name}[e, {table.columns.index('ring_mask')}]")
        src("o_write = U((ring + (s & mask)) * TILE)")
        lane_loop()
        params = {p: table.param(f"q_{p}") for p in sm.param_names(output)}
        if sm.trigger is not None:
            names = {"v_pre_before": at(table.offset("pre_v_before")), "v_pre": at(table.offset("pre_v_after")),
                     **params}
            src(f"ev = F(1.0) if {call(sm.trigger, names)} else F(0.0)")
        else:  # 0: no event, else 1 + the fraction of the step from the spike to the step's end
            src(f"ev = {at(table.offset('pre_spiked'))}")
        src("if mask > 0:")  # a delay ring: write this step's event, read the one sent 'steps' steps ago
        src.indent()
        src("W[i + o_write] = ev")
        src(f"steps = np.int64(np.floor({params['delay']} / dt + F(0.5)))")
        src("ev = W[i + U((ring + ((s - steps) & mask)) * TILE)]")
        src.dedent()
        src("spike = ev > F(0.0)")
        if sm.after_step is not None:
            names = {"spike": "spike", **{v: at(table.offset(f"x_{v}")) for v in sm.state_names}, **params,
                     "dt": "dt", "lag": "max(ev - F(1.0), F(0.0)) * dt"}
            src(", ".join(f"n_{v}" for v in sm.state_names) + f" = {call(sm.after_step, names)}")
            for v in sm.state_names:
                src(f"{at(table.offset(f'x_{v}'))} = n_{v}")
        if sm.post_jump is not None:
            names = {"spike": "spike", **params, "post_refractory": "False"}
            if post_model is not None:
                post = lay.neurons[key.neuron_models.index(post_model)]
                pnames = {**{v: at(table.offset(f"post_x_{v}")) for v in post.state_names},
                          **{p: table.param(f"post_p_{p}") for p in post.param_names}}
                names["post_refractory"] = call(post.refractory, pnames)
            vpost = at(table.offset("v_post"))
            src(f"{vpost} = {vpost} + {call(sm.post_jump, names)}")
        src.dedent()
        src.dedent()

    # --- metrics (float64): divergence, spikes, pairs
    ok = f"W[i + U({lay.scratch * tile})]"
    lane_loop()
    src(f"{ok} = F(1.0)")
    src.dedent()
    src(f"for e in range({len(lay.neurons)}):")
    src.indent()
    src("o_v = U(VOLTAGE_ROWS[e] * TILE)")
    lane_loop()
    src(f"{ok} = F(1.0) if ({ok} > F(0.0)) & (abs(W[i + o_v]) <= v_bound) else F(0.0)")
    src.dedent()
    src.dedent()
    d = lay.diverged_row
    acc_d = f"A[i + U({d * tile})]"
    lane_loop()
    src(f"bad = np.float64({ok} == F(0.0)) * np.float64({acc_d} < 0.0)")
    src(f"{acc_d} += bad * (s64 - {acc_d})")
    src.dedent()
    n_acc, n_scratch = len(NEURON_ACC), len(SPIKE_SCRATCH)
    keeps = key.keeps  # only what the requested metrics need, as in the unrolled layout

    def pair_loop() -> None:
        src(f"for e in range({len(key.pairs)}):")
        src.indent()
        src("o_a = U(VOLTAGE_ROWS[PAIRS[e, 0]] * TILE)")
        src("o_b = U(VOLTAGE_ROWS[PAIRS[e, 1]] * TILE)")
        src("sa = PAIR_SHIFTS[e, 0]")
        src("sb = PAIR_SHIFTS[e, 1]")
        src(f"o_acc = U({lay.pair_acc(0, 'sx')} + {len(PAIR_ACC)} * e) * U({tile})")
        src(f"o_sa = U({lay.n_acc} + {n_scratch} * PAIRS[e, 0]) * U({tile})")
        src(f"o_sb = U({lay.n_acc} + {n_scratch} * PAIRS[e, 1]) * U({tile})")
        lane_loop()

    if key.pairs and {"sums", "sad"} & set(keeps):  # every step: the pairs' running sums
        pair_loop()
        src("va = np.float64(W[i + o_a])")
        src("vb = np.float64(W[i + o_b])")
        src("xa = va + sa")
        src("xb = vb + sb")
        sums = ("xa", "xb", "xa * xa", "xb * xb", "xa * xb") if "sums" in keeps else ()
        for c, expr in enumerate(sums):
            src(f"A[i + o_acc + U({c * tile})] += w * ({expr})")
        if "sad" in keeps:
            src(f"A[i + o_acc + U({PAIR_ACC.index('sad') * tile})] += w * (abs(va - vb))")
        src.dedent()
        src.dedent()
    if "count" not in keeps:
        return
    emit_spike_gate(src, lay, tile)  # spikes: only in a step in which a lane of the tile spiked
    for model, table in neuron_tables:
        members(table)
        src(f"k = {table.name}[e, {table.columns.index('i_in')}] - {lay.i_base}")
        src(f"o_acc = U(k) * U({n_acc * tile})")
        src(f"o_scr = U({lay.n_acc} + {n_scratch} * k) * U({tile})")
        lane_loop()
        acc = {w: f"A[i + o_acc + U({c * tile})]" for c, w in enumerate(NEURON_ACC)}
        scratch = {w: f"A[i + o_scr + U({c * tile})]" for c, w in enumerate(SPIKE_SCRATCH)}
        src(f"up = np.float64(({at(table.offset('spiked'))} > 0.0) & counting)")
        if not needs_spike_times(keeps):
            src("tc = 0.0")  # unused: no metric asks for spike times
        elif model.spike_threshold:
            thr = f"np.float64({table.param(f'p_{model.spike_threshold}')})"
            vb = f"np.float64({at(table.offset('v_before'))})"
            va = f"np.float64({at(table.offset('v_after'))})"
            src(f"frac = ({thr} - {vb}) / max({va} - {vb}, 1e-300)")
            src("tc = (s64 + min(max(frac, 0.0), 1.0)) * dt64")
        else:
            src("tc = (s64 + 1.0) * dt64")
        if needs_synchrony(keeps):
            src(f"{scratch['up']} = up")
            src(f"{scratch['tc']} = tc")
            src(f"{scratch['count']} = {acc['count']}")
            src(f"{scratch['last']} = {acc['last']}")
            src(f"{scratch['last_isi']} = {acc['last_isi']}")
        emit_spike_bookkeeping(src, acc, "up", "tc", keeps)
        src.dedent()
        src.dedent()
    if key.pairs and needs_synchrony(keeps):
        pair_loop()
        emit_spike_synchrony(src, {w: f"A[i + o_acc + U({c * tile})]" for c, w in enumerate(PAIR_ACC)},
                             {w: f"A[i + o_sa + U({c * tile})]" for c, w in enumerate(SPIKE_SCRATCH)},
                             {w: f"A[i + o_sb + U({c * tile})]" for c, w in enumerate(SPIKE_SCRATCH)}, keeps)
        src.dedent()
        src.dedent()
    src.dedent()  # spike gate


def emit_gap_group(src: _Source, lay: KernelLayout, g: int, group: GapGroup, volt_base: str, tile: int) -> None:
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
