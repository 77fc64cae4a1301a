"""The step written once: every section of the kernel's time step, over an addressing strategy.

For a kernel key, ``generate`` writes the source of a numba module with one function, ``run``, that advances
a batch of independent copies of the circuit (one per sweep point, the *lane* index ``i`` innermost and
contiguous) by ``n_steps`` steps and accumulates the online metrics. The model equations are the model
modules' own functions (``source.copy_functions``), ``exp`` bound to the vectorisable
``synsweep.engine.fastexp`` exponential. The integrator is the tableau: stage ``j`` evaluates the
circuit's right-hand side at ``y + dt sum_l a_jl k_l``, the step ends with ``y + dt sum_j b_j k_j``.

Coupling schemes (MODELS.md section 1):
    coupled  every synaptic current is re-evaluated at every stage: the circuit is one ODE system.
    split    Neun's order: the synapses' own states (if any) are first advanced from t_n to t_{n+1} with the
             voltages held at t_n; then every synaptic current is evaluated once, from the synapses' new
             states and the voltages at t_n, and held through the neurons' stages (first order in the
             coupling whatever the tableau).

Per step and tile (``emit_step``), in this order:
    1. the ODE section (working precision): stages (stage state, synaptic currents, derivatives), the
       combination, then each neuron's spike rule and reset;
    2. the event section (only with spike-triggered synapses): delay rings, spike-triggered state updates
       of the synapses (increments, transmitter pulses) and jumps of post voltages;
    3. the metrics sections (float64): divergence and the pairs' running sums every step; spike times,
       counts and synchrony only in a step in which a lane of the tile spiked (``Addressing.spike_gate``);
    4. for circuits of >= 3 neurons, every ``kur_every`` steps: the Kuramoto order parameter's sample.
Where each value lives (locals per unit, or tables walked by member loops) is the strategy's
(``addressing``, ``unrolled``, ``looped``); the statements and their order of operations are written here.

Lanes are processed in tiles of ``TILE`` lanes (a multiple of every SIMD width), all steps of one tile
before the next, so the tile's state stays in cache. Because every lane of every tile runs through the
vector body (never a scalar remainder loop), a lane's result does not depend on which lanes share its
chunk: results are bit-identical whatever the chunking.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import nullcontext

from ..integrators import INTEGRATORS, Tableau
from ..metrics import CIRCUIT_ACC, PART, PARTS, SPIKE_SCRATCH, Part
from .addressing import Addressing, Group
from .layout import PRECISIONS, SCHEMES, TILE, KernelKey, KernelLayout
from .looped import Looped
from .source import FASTMATH, Source, call, copy_functions, frac, model_module, module_imports, pool_constants
from .unrolled import Unrolled


def tableau_of(key: KernelKey) -> Tableau:
    """The integrator's tableau, after checking the key's integrator, precision and scheme."""
    if key.integrator not in INTEGRATORS:
        raise ValueError(f"unknown integrator {key.integrator!r}")
    if key.precision not in PRECISIONS or key.scheme not in SCHEMES:
        raise ValueError(f"bad precision {key.precision!r} or scheme {key.scheme!r}")
    return INTEGRATORS[key.integrator]


def emit_header(src: Source, title: str, key: KernelKey, tab: Tableau, engine_hash: str) -> None:
    """The generated module's docstring: what it computes and from which engine source."""
    src(f'"""{title}; do not edit.')
    src()
    src(f"neurons:    {', '.join(key.neuron_models)}")
    syn_text = ", ".join(f"{m}({a}->{b}{', ' + o if o else ''}{f', ring {r}' if r > 1 else ''})"
                         for m, a, b, o, r in key.synapses)
    src(f"synapses:   {syn_text or 'none'}")
    src(f"integrator: {tab.name} ({tab.description}); precision: {key.precision}; scheme: {key.scheme}")
    src(f"engine:     {engine_hash}")
    src('"""')


def model_modules(key: KernelKey, engine_hash: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """The modules of model functions the kernel for ``key`` imports (``source.model_module``): one per neuron
    and synapse model of its circuit, in the working precision; (name, source, function names) each."""
    lay = KernelLayout(key)
    owners: list = []
    for model in [*lay.neurons, *lay.synapse_models]:
        if not any(model is o for o in owners):
            owners.append(model)
    return [model_module(m, PRECISIONS[key.precision], engine_hash) for m in owners]


def generate(key: KernelKey, engine_hash: str) -> str:
    """The complete source of the kernel module for ``key`` (the sections of a step: module docstring); the
    addressing strategy is the looped one for a circuit too large to unroll (``KernelLayout.looped``). The
    model functions are imported from their modules (``model_modules``), which must be importable first."""
    tab = tableau_of(key)
    lay = KernelLayout(key)
    tile = TILE[key.precision]

    src = Source()
    addr: Addressing = (Looped if lay.looped else Unrolled)(src, lay, tile)
    emit_header(src, "synsweep kernel: generated by synsweep.engine.kernel", key, tab, engine_hash)
    src.lines += module_imports(PRECISIONS[key.precision])
    src("from synsweep.engine.phase import sincos2pi")
    src()
    src(f"F = {PRECISIONS[key.precision]}")
    src(f"TILE = {tile}")
    src(f"INTERLEAVE = {interleave_count(lay)}  # lane vectors per loop iteration (0: LLVM's choice; engine.kernels)")
    src("U = np.uint64")
    src()
    src()
    imported: set[str] = set()
    for name, _, funcs in model_modules(key, engine_hash):
        new = [f for f in funcs if f not in imported]
        imported.update(new)
        if new:
            src(f"from {name} import {', '.join(new)}")
    src()
    src()
    src.lines += copy_functions(metric_functions(key.keeps), metrics=True).splitlines()
    src()
    src()
    src(f"VARYING = np.array({lay.varying!r}, dtype=np.int64)  # parameter rows that differ between lanes")
    tables = addr.tables()
    if tables:
        src.lines += tables
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
    emit_coefficients(src, tab)
    src("dt64 = np.float64(dt)")
    src(f"W = np.zeros({lay.n_work * tile}, dtype=F)")
    src(f"A = np.empty({lay.n_acc_work * tile}, dtype=np.float64)")
    partials = partial_rows(addr)
    if partials:  # float32: the pairs' every-step sums of a block of steps (see partial_rows)
        src(f"Q = np.zeros({len(partials) * tile}, dtype=F)")
    addr.allocations()
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
    addr.tile_setup()
    src("for s in range(n_steps):")
    src.indent()
    src("w = np.float64(1.0) if s >= n_transient else np.float64(0.0)")
    src("counting = s >= n_transient")
    src("s64 = np.float64(s)")
    src("t_end = F(s + 1) * dt")
    if partials:
        src("wf = F(w)")

    emit_step(addr, tab)
    if lay.kuramoto and "kuramoto" in key.keeps:
        emit_kuramoto_sample(addr)
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
    return pool_constants(src.text())


def emit_step(a: Addressing, tab: Tableau) -> None:
    """The body of one time step (inside the step loop), every section written once over strategy ``a``."""
    src, lay = a.src, a.lay
    key = lay.key
    coupled = key.scheme == "coupled"
    neurons, synapses = a.neuron_groups(), a.synapse_groups()

    def currents(j: int | str) -> None:
        """Every neuron's input current: its external current plus its synapses' outputs, from the state of
        stage j ('coupled') or from the synapses' new states and the voltages at t_n ('split')."""
        seen = j if coupled else 0
        for _, g in neurons:
            with a.members(g):
                src(f"{a.input(g)} = {a.external_current(g)}")
        a.gap_currents(seen)
        for sm, output, g in synapses:
            out = sm.output(output)
            if out is None:
                continue
            with a.members(g, factors=True):
                call_ = call(out.currents, {
                    "v_pre": a.voltage(g, "pre", seen), "v_post": a.voltage(g, "post", seen),
                    **{v: a.state(g, v, j) if coupled else a.new(g, v) for v in sm.state_names},
                    **{p: a.param(g, p) for p in sm.param_names(output)}})
                src(f"ipre, ipost = {call_}")
                a.add_current(g, "pre", "ipre")
                a.add_current(g, "post", "ipost")

    def stage_state(part: str, j: int) -> None:
        """Stage j's state (j >= 1): y + sum_l a_jl k_l (a_jl holds dt)."""
        for row in a.rows(part):
            weights = () if row.fixed else tab.a[j]  # a fixed row's stage values are y
            terms = [f"a{j}{l_} * {row.slope(l_)}" for l_, c in enumerate(weights) if c != 0]
            src(f"{row.stage(j)} = {row.y}" + "".join(f" + {t}" for t in terms))

    def stage_slopes(j: int | str, with_neurons: bool, with_synapses: bool) -> None:
        """The slopes k_j of the neurons' and (or) the synapses' states at stage j: an index, or the name of
        the strategy's stage loop variable (``Addressing.stage_loop``)."""
        if with_neurons:
            if coupled or j == 0:
                currents(j)
            elif isinstance(j, str):  # split: the currents once, at the loop's first stage
                with src.block(f"if {j} == 0:"):
                    currents(0)
            for model, g in neurons:
                with a.members(g):
                    expr = call(model.derivatives, {
                        **{v: a.state(g, v, j) for v in model.state_names}, "i_in": a.input(g),
                        **{p: a.param(g, p) for p in model.param_names}})
                    a.set_slopes(g, j, model.state_names, expr)
        if with_synapses:
            held = j if coupled else 0  # the voltages the synapses see in this stage
            for sm, output, g in synapses:
                if sm.derivatives is None:
                    continue
                with a.members(g):
                    expr = call(sm.derivatives, {
                        **{v: a.state(g, v, j) for v in sm.state_names},
                        **{p: a.param(g, p) for p in sm.param_names(output)},
                        "v_pre": a.voltage(g, "pre", held), "v_post": a.voltage(g, "post", held)})
                    a.set_slopes(g, j, sm.state_names, expr)

    def stages(part: str, with_neurons: bool, with_synapses: bool) -> None:
        """The tableau's stages over the state rows of ``part``: written once per stage, or once inside the
        strategy's loop over the stages (``Addressing.stage_loop``: the models' calls written once, with each
        stage's state combination selected by the loop index)."""
        loop = a.stage_loop(tab.stages)
        if loop is None:
            for j in range(tab.stages):
                if j > 0:
                    stage_state(part, j)
                stage_slopes(j, with_neurons, with_synapses)
            return
        with loop as j:
            for l_ in range(1, tab.stages):
                with src.block(f"{'if' if l_ == 1 else 'elif'} {j} == {l_}:"):
                    stage_state(part, l_)
            stage_slopes(j, with_neurons, with_synapses)

    def combine(part: str) -> None:
        """y_{n+1} = y_n + (dt sum_j b_j k_j): the increments are summed first and added to y once, so that
        y (|v| ~ 65 mV) is rounded to the working precision once per step, not once per stage; a fixed row
        (slope 0) keeps y. Every slope enters a multiplication, never an addition: LLVM's contraction then
        cannot fuse a model's last multiplication into the sum, which it could do where the slopes are
        registers (unrolled) and not where they are loaded from the tile buffer (looped); the layouts stay
        bit-identical. Adding the slopes of equal weight first (RK4's dt/6 ((k1 + k4) + 2 (k2 + k3))) would
        save 2 multiplications per row and step but breaks that identity (measured: test_looped.py)."""
        for row in a.rows(part):
            terms = [f"b{j} * {row.slope(j)}" for j, b in enumerate(tab.b) if b != 0]
            src(f"{row.new} = {row.y}" + ("" if row.fixed else f" + ({' + '.join(terms)})"))

    def voltages_before() -> None:
        """A strategy that combines in place keeps each neuron's voltage at t_n before combining."""
        if a.in_place:
            for model, g in neurons:
                with a.members(g):
                    src(f"{a.buf(g, 'v_before')} = {a.state(g, model.voltage, 0)}")

    # what the step needs besides the ODE (each only when something consumes it)
    kept = kept_parts(key.keeps)
    triggered = [(sm, output, g) for sm, output, g in synapses if sm.spike_triggered]
    gate_events = bool(triggered) and events_idle_without_spike(lay)
    # the lateness of each spike, where a synapse reads it: in the ODE section for every neuron, or in the
    # event section (a.late_in_events) for the pre neurons of those synapses only, in a block with a spike
    late_needed = needs_lateness(lay) and not a.late_in_events
    # the every-step metrics join the ODE lane loop where the strategy fuses them, unless an event can still
    # move a voltage after the ODE section (a post jump)
    fused = fuses_every_step(a)
    partials = partial_rows(a)  # float32: the every-step sums in float32 per block of steps, then float64

    def pair_samples(w: str, shift: Callable[[str], str], target: Callable[[Group, str], str]) -> None:
        """Each pair's 'sample' parts (``metrics.PARTS``) of this step, weighted by ``w``, with the pair's voltage
        shifts written by ``shift``, into ``target(group, accumulator)``: the float64 accumulators or float32's
        block sums."""
        if key.pairs and kept["sample"]:
            for g in a.pair_groups():
                with a.members(g):
                    inputs = {"w": w, "va": a.pair_voltage(g, 0), "vb": a.pair_voltage(g, 1),
                              "sa": shift(a.pair_shift(g, 0)), "sb": shift(a.pair_shift(g, 1))}
                    emit_updates(src, kept["sample"], inputs, lambda what, g=g: target(g, what))

    def divergence(cast: bool = True) -> None:
        """The first step with a voltage beyond the bound (|V| > bound, or NaN: the comparison is False for NaN)
        into the diverged row. Bookkeeping is arithmetic on 0/1 masks, not branches: conditional stores keep
        LLVM from running the vector body."""
        beyond = a.out_of_bounds(cast)
        with a.lanes():
            d = a.acc_row(lay.diverged_row)
            src(f"bad = np.float64({beyond}) * np.float64({d} < 0.0)")
            src(f"{d} += bad * (s64 - {d})")

    def every_step() -> None:
        """Divergence and the pairs' running sums (float64; only the parts, ``metrics.PARTS``, key.keeps asks for)."""
        divergence()
        pair_samples("w", str, a.acc)

    def flush() -> None:
        """At the end of a block of PARTIAL_BLOCK steps (aligned to the step index) and at the last step: each
        float32 block sum added to its float64 accumulator and reset."""
        with src.block(f"if (s + 1) % {PARTIAL_BLOCK} == 0 or s == n_steps - 1:"), a.section():
            pairs = a.pair_groups()
            for (q, what), row in partials.items():
                acc, p = a.acc(pairs[q], what), a.partial(row)
                src(f"{acc} = {acc} + np.float64({p})")
                src(f"{p} = F(0.0)")

    counted = fused  # whether a tile's lane spiked, taken in the fused lane loop

    def tail() -> None:
        """The every-step metrics fused into the ODE lane loop: whether a lane's voltage is beyond the bound
        (``n_bad``, an OR over the lanes: a boolean reduction keeps the loop at its full SIMD width in float32,
        where an int64 count would halve it; the diverged row is updated after the loop, only in a step in
        which it holds, by ``divergence``: the same comparison, so the same step), the pairs' sums (float64
        accumulators, or float32 block sums) and whether a lane spiked (``n_up``)."""
        src(f"n_bad = n_bad | ({a.out_of_bounds(cast=False)})")
        if partials:  # float32 with pair sums kept (else pair_samples writes nothing there either)
            pair_samples("wf", lambda shift: f"F({shift})", lambda g, what: a.partial(partials[(g.index, what)]))
        else:
            pair_samples("w", str, a.acc)
        if counted and (kept["spike"] or gate_events):
            a.count_spikes(None)

    # --- 1. the ODE section
    if fused:
        src("n_bad = False")
    with a.ode_section(tail if fused else None):
        if coupled:  # one ODE system: every current at every stage from that stage's state
            stages("all", True, True)
            voltages_before()
            combine("all")
        else:  # split, Neun's order: the synapses' own states advance to t_{n+1} first (voltages held at t_n),
            # then the currents from the synapses' new states and the voltages at t_n, held through the neurons'
            stages("synapses", False, True)
            combine("synapses")
            stages("neurons", True, False)
            voltages_before()
            combine("neurons")
        for model, g in neurons:  # spikes and resets
            with a.members(g):
                va = a.new(g, model.voltage)
                if a.in_place:
                    vb = a.buf(g, "v_before")
                else:
                    vb = a.state(g, model.voltage, 0)
                    src(f"{a.buf(g, 'v_before')} = {vb}")
                src(f"{a.buf(g, 'v_after')} = {va}")
                thr = a.param(g, model.spike_threshold) if model.spike_threshold else None
                if late_needed:
                    src(f"late = {spike_lateness(vb, va, thr)}")
                if model.spike is None:
                    src(f"spiked = ({vb} < {thr}) & ({va} >= {thr})")
                else:
                    names = {**{v: a.new(g, v) for v in model.state_names},
                             **{p: a.param(g, p) for p in model.param_names}, "v_before": vb, "t": "t_end", "dt": "dt"}
                    src(f"spiked = {call(model.spike, names)}")
                    names["spiked"] = "spiked"
                    a.set_new(g, model.state_names, call(model.after_step, names))
                # the spike row: 0 for none, else 1 + its lateness (1 when no synapse reads the lateness)
                src(f"{a.buf(g, 'spiked')} = {'(F(1.0) + late)' if late_needed else 'F(1.0)'} if spiked else F(0.0)")
    if fused:  # the diverged row, only in a step in which a lane's voltage left the bound
        with src.block("if n_bad:"), a.section():
            divergence()
    if gate_events and not counted:
        a.count_spikes(None)

    def events() -> None:
        """The spike-triggered synapses' updates of this step (inside the event section's lane loop)."""
        for sm, output, g in triggered:
            with a.members(g, ring=True):
                a.bind(g)
                params = {p: a.param(g, p) for p in sm.param_names(output)}
                # the event: 0 for none, else 1 + the fraction of the step from the spike to the step's end
                if sm.trigger is not None:
                    names = {"v_pre_before": a.buf(g, "pre_v_before"), "v_pre": a.buf(g, "pre_v_after"),
                             **params}
                    src(f"ev = F(1.0) if {call(sm.trigger, names)} else F(0.0)")
                else:
                    src(f"ev = {a.buf(g, 'pre_spiked')}")
                    if sm.after_step is not None and a.late_in_events:  # 1 + lateness, as the spike row's
                        pre_model, pg = a.pre_neuron(g)
                        a.bind(pg)
                        thr = a.param(pg, pre_model.spike_threshold) if pre_model.spike_threshold else None
                        late = spike_lateness(a.buf(g, "pre_v_before"), a.buf(g, "pre_v_after"), thr)
                        src(f"ev = (F(1.0) + {late}) if ev > F(0.0) else F(0.0)")
                a.delay(g, params["delay"])
                src("spike = ev > F(0.0)")
                if sm.after_step is not None:
                    names = {"spike": "spike", **{v: a.stored(g, v) for v in sm.state_names}, **params,
                             "dt": "dt", "lag": "max(ev - F(1.0), F(0.0)) * dt"}
                    a.set_stored(g, sm.state_names, call(sm.after_step, names))
                if sm.post_jump is not None:
                    names = {"spike": "spike", **params, "post_refractory": "False"}
                    post = a.post_refractory(g)
                    if post is not None:
                        post_model, pg = post
                        pnames = {**{v: a.stored(pg, v) for v in post_model.state_names},
                                  **{p: a.param(pg, p) for p in post_model.param_names}}
                        a.bind(pg)
                        names["post_refractory"] = call(post_model.refractory, pnames)
                    vpost = a.post_voltage(g)
                    src(f"{vpost} = {vpost} + {call(sm.post_jump, names)}")

    def spike_bookkeeping() -> None:
        """Spike times (linear interpolation of the threshold crossing within the step), counts and the pairs'
        synchrony of this step (inside the spike section's lanes)."""
        for model, g in neurons:
            with a.members(g, accumulators=True):
                up, tc = a.spike_local(g, "up"), a.spike_local(g, "tc")
                src(f"{up} = np.float64(({a.buf(g, 'spiked')} > 0.0) & counting)")
                if not needs_spike_times(kept):
                    src(f"{tc} = 0.0")  # unused: no part reads spike times
                elif model.spike_threshold:
                    thr = f"np.float64({a.lane_param(g, model.spike_threshold)})"
                    vb, va = f"np.float64({a.buf(g, 'v_before')})", f"np.float64({a.buf(g, 'v_after')})"
                    src(f"frac = ({thr} - {vb}) / max({va} - {vb}, 1e-300)")
                    src(f"{tc} = (s64 + min(max(frac, 0.0), 1.0)) * dt64")
                else:
                    src(f"{tc} = (s64 + 1.0) * dt64")
                if kept["pair_spike"]:  # this step's spike and the bookkeeping before it, for the pairs
                    values = {"up": up, "tc": tc, **{w: a.acc(g, w) for w in ("count", "last", "last_isi")}}
                    for w, value in values.items():
                        if a.scratch(g, w) != value:
                            src(f"{a.scratch(g, w)} = {value}")
                emit_updates(src, kept["spike"], {"up": up, "tc": tc}, lambda what, g=g: a.acc(g, what))
        if key.pairs and kept["pair_spike"]:
            for g in a.pair_groups():
                with a.members(g):
                    inputs = {f"{w}_{side}": a.pair_scratch(g, s, w) for s, side in enumerate("ab")
                              for w in SPIKE_SCRATCH}
                    inputs.update(coinc_window="coinc_window", sync_tol="sync_tol")
                    emit_updates(src, kept["pair_spike"], inputs, lambda what, g=g: a.acc(g, what))

    # --- 2. the event section: in every step, or (gate_events) only in a step in which a lane of the tile spiked;
    # --- 3. the metrics sections: float64 bookkeeping; every step (fused into the ODE lane loop above where
    # the strategy does that in float64), and the spike bookkeeping only in a step (of the analysed window) in
    # which a lane of the tile spiked. Where both are gated and the every-step metrics are fused, the strategy
    # may run them in one pass over its blocks of lanes (``Addressing.spike_blocks``): each block's events, then
    # its bookkeeping. The bookkeeping reads only the neurons' rows and accumulators, which no event writes
    # (no post jump where fused), so the order changes nothing; one scan of the spike rows per block, not two.
    blocks = a.spike_blocks() if fused and gate_events and kept["spike"] else None
    if blocks is not None:  # both in one pass over the strategy's blocks of lanes (nothing in between)
        if partials:
            flush()
        with src.block("if n_up > 0:"), blocks as lanes:
            with lanes(None):
                events()
            with lanes("counting"):
                spike_bookkeeping()
        return
    if triggered:
        with src.block("if n_up > 0:") if gate_events else nullcontext(), \
                a.event_section() if gate_events else a.section():
            events()
    if not fused:
        with a.section():
            every_step()
    if partials:
        flush()
    if not kept["spike"]:
        return
    if not counted and not gate_events:
        a.count_spikes("counting")
    with src.block("if counting and n_up > 0:"), a.spike_section():
        spike_bookkeeping()


PARTIAL_BLOCK = 64  # steps per block of the float32 every-step sums (exact step indices in float32 within it)


def fuses_every_step(a: Addressing) -> bool:
    """Whether the every-step metrics join the ODE lane loop: where the strategy fuses them, unless an event
    can still move a voltage after the ODE section (a post jump)."""
    return a.fuses_tail and not any(sm.post_jump is not None for sm in a.lay.synapse_models if sm.spike_triggered)


def partial_rows(a: Addressing) -> dict[tuple[int, str], int]:
    """float32 kernels whose every-step metrics are fused into the ODE lane loop keep the pairs' sums in the
    working precision for a block of PARTIAL_BLOCK steps, in rows of a buffer Q: (pair, accumulator) the
    block's part of each kept 'sample' sum (their updates add a term to each accumulator). A float64 term in
    the float32 loop would halve its SIMD width; a block's float32 sum (<= 64 terms) adds a relative rounding
    of ~64 x 6e-8 to that block's part, and the float64 totals do the rest. Empty in float64, where nothing is
    fused and where no pair sum is kept."""
    lay = a.lay
    if lay.key.precision != "float32" or not fuses_every_step(a):
        return {}
    rows: dict[tuple[int, str], int] = {}
    for q in range(len(lay.key.pairs)):
        for part in kept_parts(lay.key.keeps)["sample"]:
            for x in part.accumulators:
                rows[(q, x)] = len(rows)
    return rows


def emit_coefficients(src: Source, tab: Tableau) -> None:
    """The tableau's non-zero coefficients times dt: a{j}{l} = dt a_jl, b{j} = dt b_j."""
    for j in range(tab.stages):
        for l_, a in enumerate(tab.a[j]):
            if a != 0:
                src(f"a{j}{l_} = dt * F({frac(a)})")
    for j, b in enumerate(tab.b):
        if b != 0:
            src(f"b{j} = dt * F({frac(b)})")


def kept_parts(keeps: tuple[str, ...]) -> dict[str, list[Part]]:
    """The parts of the bookkeeping that ``keeps`` asks for, by scope, in their declared order."""
    kept: dict[str, list[Part]] = {"spike": [], "sample": [], "pair_spike": [], "circuit": []}
    for part in PARTS:
        if part.name in keeps:
            kept[part.scope].append(part)
    return kept


def metric_functions(keeps: tuple[str, ...]) -> list[Callable]:
    """The update functions of the kept parts, copied into the kernel (float64, literals as written)."""
    return [f for p in PARTS if p.name in keeps for f in (p.term, p.update) if f is not None]


def needs_spike_times(kept: dict[str, list[Part]]) -> bool:
    """Whether a kept part reads each spike's interpolated time (not only its count)."""
    return any({"tc", "tc_a", "tc_b"} & set(inspect.signature(p.update).parameters)
               for p in kept["spike"] + kept["pair_spike"])


def emit_updates(src: Source, parts: list[Part], inputs: dict[str, str], acc: Callable[[str], str]) -> None:
    """Every part's update from the old values of the accumulators (``acc(name)``: the expression of an
    accumulator of this neuron or pair), then the new values stored (each accumulator's arithmetic is the same
    whatever else is kept)."""
    for part in parts:
        names = list(inspect.signature(part.update).parameters)
        bindings = {**{x: acc(x) for x in names if x not in inputs}, **inputs}
        src(", ".join(f"new_{x}" for x in part.accumulators) + f" = {call(part.update, bindings)}")
    for part in parts:
        for x in part.accumulators:
            src(f"{acc(x)} = new_{x}")


def emit_kuramoto_sample(a: Addressing) -> None:
    """The Kuramoto order parameter R of the circuit at the end of this step, added to its running sum
    (``metrics.kuramoto_term``, ``metrics.kuramoto_update``), every ``kur_every`` steps of the analysed window.

    The branch is on the step index, the same for every lane, so the lane loop under it stays a vector
    loop; it runs after the metrics sections, from each neuron's spike bookkeeping (last spike, latest ISI,
    count). Both strategies perform the same operations in the same order (neuron 0 first); their compiled
    code can still round a sample differently in the last bit (tests/unit/test_looped.py allows 1 ulp).
    """
    src, n, part = a.src, len(a.lay.neurons), PART["kuramoto"]
    with src.block("if kur_every > 0 and counting and (s + 1) % kur_every == 0:"):
        src("t_s = (s64 + 1.0) * dt64")
        with a.section():
            sums, each = a.neuron_sums({"ok": "1.0", "kc": "0.0", "ks": "0.0"})
            running = ", ".join(sums.values())
            for acc in each:
                names = list(inspect.signature(part.term).parameters)
                bindings = {**{x: acc(x) for x in names if x not in sums and x != "t_s"}, **sums, "t_s": "t_s"}
                src(f"{running} = {call(part.term, bindings)}")
            with a.lanes():
                bindings = {**sums, "n": repr(float(n)), **{x: a.acc_row(a.lay.circuit_acc(x)) for x in CIRCUIT_ACC}}
                src(", ".join(f"new_{x}" for x in part.accumulators) + f" = {call(part.update, bindings)}")
                for x in part.accumulators:
                    src(f"{a.acc_row(a.lay.circuit_acc(x))} = new_{x}")


def interleave_count(lay: KernelLayout) -> int:
    """How many lane vectors one iteration of the kernel's lane loops holds (LLVM's interleave count, set by
    ``synsweep.engine.kernels`` when it compiles the kernel): 2 when no function of the ODE section
    (derivatives, synaptic currents, their helpers) calls ``exp``, else 0 (LLVM's own choice, 1 in practice).
    A cheap ODE body is a chain of dependent stages too short to keep the cores' pipelines full with one
    vector per iteration: two independent vectors hide its latency (measured +6% to +13% on the HR and IF
    pairs); an exp-heavy body (HH) is long enough, and twice its registers would spill (measured -6%).
    Speed only: every lane performs the same operations either way."""
    funcs = []
    for model in [*lay.neurons, *lay.synapse_models]:
        funcs += [*getattr(model, "helpers", ()), model.derivatives]
        funcs += [out.currents for out in getattr(model, "outputs", {}).values()]
    return 0 if any(f is not None and "exp(" in inspect.getsource(f) for f in funcs) else 2


def needs_lateness(lay: KernelLayout) -> bool:
    """Whether a synapse reads the lateness of its pre neuron's spikes (the ``lag`` of its ``after_step``):
    only then does the ODE section compute it (a division per neuron and step)."""
    return any(sm.after_step is not None and sm.trigger is None for sm in lay.synapse_models)


def events_idle_without_spike(lay: KernelLayout) -> bool:
    """Whether the event section changes nothing in a step in which no neuron of the tile spiked: every
    spike-triggered synapse is ``idle_without_spike``, without a delay ring and without its own trigger."""
    return all(sm.idle_without_spike and sm.trigger is None and syn[4] == 1
               for sm, syn in zip(lay.synapse_models, lay.key.synapses, strict=True) if sm.spike_triggered)


def spike_lateness(vb: str, va: str, thr: str | None) -> str:
    """Expression of the fraction of the step between a spike and the step's end, (V_after - thr) /
    (V_after - V_before) in [0, 1] (the crossing interpolated linearly, as the spike times of the metrics);
    0 for a model without a threshold (its spikes fall on the step's end)."""
    if thr is None:
        return "F(0.0)"
    return f"min(max(({va} - {thr}) / max({va} - {vb}, F(1e-30)), F(0.0)), F(1.0))"
