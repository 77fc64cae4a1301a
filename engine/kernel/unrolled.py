"""Unrolled addressing, for small circuits: every state variable of every neuron and synapse a local.

One lane loop runs around each section; inside it a group is one neuron (``u<k>``), one synapse or one
pair, and its values are locals: ``y<unit>_<v>`` at the step's start, ``z<j>_<unit>_<v>`` at stage j,
``k<j>_<unit>_<v>`` the slopes, ``n<unit>_<v>`` after the step, ``i<k>_c`` a neuron's input current,
``p<k>_<p>`` / ``q<j>_<p>`` / ``iext<k>`` the parameters (uniform ones set once per tile, varying ones read
per lane from the tile buffer W). The whole step is written out once per integrator stage: fastest for
small circuits, but the code (and its compile time) grows with the circuit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

from .addressing import Addressing, Row
from .source import zero_slopes

SPIKE_BLOCK = 16  # lanes per block of the spike bookkeeping (a multiple of every SIMD width, divides TILE)


@dataclass(frozen=True)
class Unit:
    """A neuron (kind 'neuron', index k), a synapse ('synapse', index j) or a pair ('pair', index q)."""

    kind: str
    index: int


class Unrolled(Addressing):
    """fuses_tail: the every-step metrics in the ODE lane loop (float64: the float64 accumulators; float32: in
    float32 per block of steps, ``emit.partial_rows``). late_in_events: the lateness division runs in the
    (gated) event loop."""

    in_place = False
    late_in_events = True

    def __init__(self, src, lay, tile):
        super().__init__(src, lay, tile)
        self.n = len(lay.neurons)
        self._bound: set[Unit] = set()
        self.fuses_tail = True
        self._in_tail = False

    # --- helpers
    def _w(self, row: int) -> str:
        return f"W[i + U({row * self.tile})]"

    def _unit(self, g: Unit) -> int:
        return g.index if g.kind == "neuron" else self.n + g.index

    def _states(self, g: Unit) -> tuple[str, ...]:
        return (self.lay.neurons[g.index] if g.kind == "neuron" else self.lay.synapse_models[g.index]).state_names

    def _param_names(self, g: Unit) -> tuple[str, ...]:
        if g.kind == "neuron":
            return self.lay.neurons[g.index].param_names
        return self.lay.synapse_models[g.index].param_names(self.lay.key.synapses[g.index][3])

    def _local(self, g: Unit, p: str) -> str:
        return f"{'p' if g.kind == 'neuron' else 'q'}{g.index}_{p}"

    def _load(self, g: Unit) -> None:
        """Per-lane loads of g's varying parameters (uniform ones are scalars, set once per tile)."""
        for p in self._param_names(g):
            w = self.lay.w_param_row(self.lay.param_row(g.kind, g.index, p))
            if w is not None:
                self.src(f"{self._local(g, p)} = {self._w(w)}")
        self._bound.add(g)

    # --- module level and per tile
    def tile_setup(self) -> None:
        for r, (kind, index, name) in enumerate(self.lay.param_rows):
            if self.lay.w_param_row(r) is None:
                local = f"iext{index}" if kind == "input" else f"{'p' if kind == 'neuron' else 'q'}{index}_{name}"
                self.src(f"{local} = P[{r}, t0]")

    # --- groups and loops
    def neuron_groups(self):
        return [(m, Unit("neuron", k)) for k, m in enumerate(self.lay.neurons)]

    def synapse_groups(self):
        return [(sm, syn[3], Unit("synapse", j))
                for j, (sm, syn) in enumerate(zip(self.lay.synapse_models, self.lay.key.synapses, strict=True))]

    def pair_groups(self):
        return [Unit("pair", q) for q in range(len(self.lay.key.pairs))]

    @contextmanager
    def section(self):
        self._bound = set()
        with self.src.block("for i in range(U(TILE)):"):
            yield

    @contextmanager
    def ode_section(self, tail=None):
        """The lane loop of the ODE section: y and the varying parameters loaded first, the new state stored
        last, then the tail (fused in float64, see the class)."""
        lay, src = self.lay, self.src
        self._bound = set()
        fused = tail is not None and self.fuses_tail
        if fused:
            src("n_up = False")
        with src.block("for i in range(U(TILE)):"):
            units = [g for _, g in self.neuron_groups()] + [g for _, _, g in self.synapse_groups()]
            for g in units:
                for v in self._states(g):
                    src(f"{self.state(g, v, 0)} = {self._w(lay.state_row(self._unit(g), v))}")
            for k in range(self.n):
                self._load(Unit("neuron", k))
                w = lay.w_param_row(lay.param_row("input", k, "i_ext"))
                if w is not None:
                    src(f"iext{k} = {self._w(w)}")
            for j in range(len(lay.synapse_models)):
                self._load(Unit("synapse", j))
            yield
            for g in units:
                for v in self._states(g):
                    src(f"{self._w(lay.state_row(self._unit(g), v))} = {self.new(g, v)}")
            if fused:
                self._in_tail = True
                tail()
                self._in_tail = False
        if tail is not None and not fused:
            tail()

    def spike_section(self):
        """The spike bookkeeping over blocks of SPIKE_BLOCK lanes, each block only when one of its lanes spiked
        (a count over the block, a branch uniform over its lanes): the cost of the bookkeeping grows with the
        block that holds a spike, not with the tile. The skipped lanes would each have added an exact 0."""
        return self._spike_blocks()

    def event_section(self):
        """The gated event section over the same blocks as the spike bookkeeping: its synapses change nothing
        in a lane without a spike (``emit.events_idle_without_spike``), so a block without one is skipped."""
        return self._spike_blocks()

    def spike_blocks(self):
        """The event section and the spike bookkeeping over the same blocks, in one pass (see Addressing); each
        section keeps a lane loop of its own in a block, which LLVM vectorises at its own width (the events in
        the working precision, the bookkeeping in float64)."""
        return self._blocks()

    @contextmanager
    def _spike_blocks(self):
        """Blocks of SPIKE_BLOCK lanes, the body run over the lanes of a block in which a neuron spiked."""
        with self._blocks() as lanes, lanes(None):
            yield

    @contextmanager
    def _blocks(self):
        """Blocks of SPIKE_BLOCK lanes, each only when one of its neurons spiked; yields ``lanes(condition)``,
        a lane loop over the block (under ``if condition:`` when given)."""
        src = self.src
        with src.block(f"for b in range(U(0), U(TILE), U({SPIKE_BLOCK})):"):
            src("m = np.int64(0)")
            with src.block(f"for j in range(U({SPIKE_BLOCK})):"):
                src("i = b + j")
                src(f"m += {self._flags()}")
            with src.block("if m > 0:"):
                yield self._block_lanes

    @contextmanager
    def _block_lanes(self, condition: str | None):
        src = self.src
        self._bound = set()  # a lane loop of its own: its per-lane parameters loaded again
        with src.block(f"if {condition}:") if condition else nullcontext(), \
                src.block(f"for j in range(U({SPIKE_BLOCK})):"):
            src("i = b + j")
            yield

    @contextmanager
    def members(self, g, *, factors=False, ring=False, accumulators=False):
        yield

    @contextmanager
    def lanes(self):
        yield

    def rows(self, part: str) -> Iterator[Row]:
        groups = [g for _, g in self.neuron_groups()] if part != "synapses" else []
        groups += [g for _, _, g in self.synapse_groups()] if part != "neurons" else []
        for g in groups:
            u = self._unit(g)
            model = self.lay.neurons[g.index] if g.kind == "neuron" else self.lay.synapse_models[g.index]
            fixed = zero_slopes(model.derivatives, model.state_names) if model.derivatives else frozenset()
            for v in self._states(g):
                yield Row(f"y{u}_{v}", lambda j, u=u, v=v: f"z{j}_{u}_{v}", lambda j, u=u, v=v: f"k{j}_{u}_{v}",
                          f"n{u}_{v}", v in fixed)

    def bind(self, g):
        if g.kind != "pair" and g not in self._bound:
            self._load(g)

    # --- values
    def state(self, g, v, j):
        u = self._unit(g)
        return f"y{u}_{v}" if j == 0 else f"z{j}_{u}_{v}"

    def new(self, g, v):
        return f"n{self._unit(g)}_{v}"

    def stored(self, g, v):
        return self._w(self.lay.state_row(self._unit(g), v))

    def param(self, g, p):
        return self._local(g, p)

    def lane_param(self, g, p):
        w = self.lay.w_param_row(self.lay.param_row(g.kind, g.index, p))
        return self._local(g, p) if w is None else self._w(w)

    def input(self, g):
        return f"i{g.index}_c"

    def external_current(self, g):
        return f"iext{g.index}"

    def _ends(self, g: Unit) -> tuple[int, int]:
        return self.lay.key.synapses[g.index][1:3]

    def add_current(self, g, side, value):
        sm, syn = self.lay.synapse_models[g.index], self.lay.key.synapses[g.index]
        target = self._ends(g)[0 if side == "pre" else 1]
        factor = self.lay.neurons[target].conductance_factor if sm.output(syn[3]).conductance else 1.0
        self.src(f"i{target}_c += {value}" if factor == 1.0 else f"i{target}_c += F({factor!r}) * {value}")

    def voltage(self, g, side, j):
        k = self._ends(g)[0 if side == "pre" else 1]
        return self.state(Unit("neuron", k), self.lay.neurons[k].voltage, j)

    def post_refractory(self, g):
        b = self._ends(g)[1]
        post = self.lay.neurons[b]
        return None if post.refractory is None else (post, Unit("neuron", b))

    def pre_neuron(self, g):
        a = self._ends(g)[0]
        return self.lay.neurons[a], Unit("neuron", a)

    def post_voltage(self, g):
        b = self._ends(g)[1]
        return self.stored(Unit("neuron", b), self.lay.neurons[b].voltage)

    def buf(self, g, what):
        if g.kind == "synapse":  # 'pre_<what>' of its pre neuron
            return self._w(self.lay.neuron_row(self._ends(g)[0], what.removeprefix("pre_")))
        return self._w(self.lay.neuron_row(g.index, what))

    def set_slopes(self, g, j, names, expr):
        u = self._unit(g)
        self.src(", ".join(f"k{j}_{u}_{v}" for v in names) + f" = {expr}")

    def set_new(self, g, names, expr):
        self.src(", ".join(self.new(g, v) for v in names) + f" = {expr}")

    def set_stored(self, g, names, expr):
        self.set_new(g, names, expr)
        for v in names:
            self.src(f"{self.stored(g, v)} = {self.new(g, v)}")

    def delay(self, g, delay):
        ring = self.lay.key.synapses[g.index][4]
        if ring > 1:  # write this step's event into the ring, read the one sent delay steps ago
            base = self.lay.ring_rows[g.index]
            self.src(f"W[i + U({base * self.tile}) + U((s & {ring - 1}) * TILE)] = ev")
            self.src(f"steps = np.int64(np.floor({delay} / dt + F(0.5)))")
            self.src(f"ev = W[i + U({base * self.tile}) + U(((s - steps) & {ring - 1}) * TILE)]")

    # --- metrics
    def out_of_bounds(self, cast=True):
        for k, model in enumerate(self.lay.neurons):
            v = self.stored(Unit("neuron", k), model.voltage)
            self.src(f"v{k} = np.float64({v})" if cast else f"v{k} = {v}")
        return "not (" + " & ".join(f"(abs(v{k}) <= v_bound)" for k in range(self.n)) + ")"

    def _spike_flags(self) -> list[str]:
        """Per neuron: whether it spiked in this step (lane i, its spike row in the tile buffer)."""
        first = self.lay.neuron_row(0, "spiked")
        step = self.lay.neuron_row(1, "spiked") - first if self.n > 1 else 0
        return [f"W[i + U({(first + step * k) * self.tile})] > F(0.0)" for k in range(self.n)]

    def _flags(self) -> str:
        """The number of this lane's neurons that spiked in this step."""
        return " + ".join(f"np.int64({f})" for f in self._spike_flags())

    def count_spikes(self, condition):
        src = self.src
        flags = self._flags()
        if self._in_tail:  # an OR over the lanes (full SIMD width in float32, unlike an int64 sum)
            src("n_up = n_up | " + " | ".join(f"({f})" for f in self._spike_flags()))
            return
        src("n_up = np.int64(0)")
        if condition:
            src(f"if {condition}:")
            src.indent()
        src("for i in range(U(TILE)):")
        src(f"    n_up += {flags}")
        if condition:
            src.dedent()

    def spike_local(self, g, what):
        return f"{what}{g.index}"

    def scratch(self, g, what):
        return f"{what}{g.index}"

    def pair_scratch(self, g, side, what):
        return f"{what}{self.lay.key.pairs[g.index][side]}"

    def pair_voltage(self, g, side):
        return f"v{self.lay.key.pairs[g.index][side]}"

    def pair_shift(self, g, side):
        model = self.lay.neurons[self.lay.key.pairs[g.index][side]]
        return repr(-(model.state_var(model.voltage).default or 0.0))

    def acc(self, g, what):
        row = self.lay.neuron_acc(g.index, what) if g.kind == "neuron" else self.lay.pair_acc(g.index, what)
        return self.acc_row(row)

    def partial(self, row):
        return f"Q[i + U({row * self.tile})]"

    def acc_row(self, row):
        return f"A[i + U({row * self.tile})]"

    def neuron_sums(self, inits: dict[str, str]) -> tuple[dict[str, str], Iterator[Callable[[str], str]]]:
        for name, value in inits.items():
            self.src(f"{name} = {value}")

        def each() -> Iterator[Callable[[str], str]]:
            for k in range(self.n):
                yield lambda what, k=k: self.acc_row(self.lay.neuron_acc(k, what))

        return {name: name for name in inits}, each()
