"""The addressing interface: how the step emitter (``emit``) names the values of one lane.

The emitter writes every section of the step once, as statements about *groups*: a group is a neuron, a
synapse or a pair for a strategy that unrolls the circuit, or a set of neurons (synapses, pairs) of one model
walked by a member loop for one that loops. For each value it asks the strategy for an expression (a name or a
buffer element of lane ``i``), and for each loop it asks for the loop's header; it never spells an address.

Loops (context managers; the statements written inside them see lane ``i``):
    section()      a stretch of statements over every group (unrolled: one lane loop around it all)
    members(g)     statements about group g (looped: the member loop and the lane loop)
    lanes()        statements about no group (looped: a lane loop; unrolled: none, inside a section)
    rows(part)     one statement per state row of ``part`` ('all', 'neurons', 'synapses'), ``Row`` names
    stage_loop(s)  a run-time loop over the s stages (looped: its index name; unrolled: None, stages written out)
Values of group g for lane i:
    state(g, v, j)  state variable v at stage j (j = 0: at the start of the step)
    new(g, v)       v after the step's combination (and reset); stored(g, v): v in the tile buffer
    param(g, p)     parameter p inside the ODE/event sections; lane_param(g, p): read per lane anywhere
    input(g)        a neuron's input current; add_current(g, side, value) adds a synapse's share
    buf(g, what)    a neuron's 'v_before', 'v_after', 'spiked' row ('pre_*' of a synapse's pre neuron)
    voltage(g, side, j)  a synapse's pre or post voltage at stage j; post_voltage(g) the stored one;
                    post_refractory(g): its post neuron (model, group) when its refractory state counts
    acc(g, what), acc_row(row)  accumulators (float64) of a neuron, a pair, the circuit
Writes: set_slopes(g, j, names, expr), set_new(g, names, expr), set_stored(g, names, expr).
Reductions over the neurons per lane: out_of_bounds(), count_spikes(condition), neuron_sums(inits).

A back end with another memory model (one sweep point per GPU thread, state in registers) is one more
subclass of ``Addressing``: its lane loop is the thread's index, its names are locals and per-lane loads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .layout import KernelLayout
    from .source import Source

Group = Any  # a strategy's own handle of a neuron, synapse or pair group


@dataclass(frozen=True)
class Row:
    """Names of one state row (or of the generic row ``r`` of a row loop): y at the step's start, its stage
    values, its slopes and its value after the step. fixed: the row's slope is identically 0
    (``source.zero_slopes``), so its stage values and its new value are y."""

    y: str
    stage: Callable[[int], str]
    slope: Callable[[int], str]
    new: str
    fixed: bool = False


class Addressing:
    """Base of the addressing strategies (see the module docstring for the contract of each method).

    in_place: whether the combination overwrites the state in the buffer (so the voltage before the step is
    saved before combining, not read afterwards).
    fuses_tail: whether ``ode_section(tail)`` writes the tail inside the ODE section's one lane loop (so the
    every-step metrics read the new state while it is in registers); False: the tail follows the section.
    late_in_events: whether the event section computes the lateness of a pre neuron's spike (``pre_neuron``)
    from the voltages kept in the tile buffer; False: the ODE section computes it for every neuron.
    """

    in_place = False
    fuses_tail = False
    late_in_events = False

    def __init__(self, src: Source, lay: KernelLayout, tile: int):
        self.src, self.lay, self.tile = src, lay, tile

    # --- module level and per tile
    def tables(self) -> list[str]:
        """Module-level source the strategy needs (index tables); none by default."""
        return []

    def allocations(self) -> None:
        """Per-call buffers beyond W and A (written once per kernel call)."""

    def tile_setup(self) -> None:
        """Per tile: the parameters uniform over the batch, read once as scalars."""
        raise NotImplementedError

    # --- groups and loops
    def neuron_groups(self) -> list[tuple[Any, Group]]:
        """(model, group) of the neurons."""
        raise NotImplementedError

    def synapse_groups(self) -> list[tuple[Any, str | None, Group]]:
        """(model, output form, group) of the synapses (gap groups excluded)."""
        raise NotImplementedError

    def pair_groups(self) -> list[Group]:
        raise NotImplementedError

    def section(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def spike_section(self) -> AbstractContextManager[None]:
        """The loops of the spike bookkeeping (inside the spike gate); by default ``section()``."""
        return self.section()

    def event_section(self) -> AbstractContextManager[None]:
        """The loops of a gated event section (inside ``if n_up > 0:``, every spike-triggered synapse idle
        without a spike); by default ``section()``."""
        return self.section()

    def spike_blocks(self) -> AbstractContextManager[Callable[[str | None], AbstractContextManager[None]]] | None:
        """The gated event section and the spike bookkeeping in one pass over blocks of lanes (inside
        ``if n_up > 0:``): a context manager around the blocks that yields ``lanes(condition)``, the lane loop
        of one section within a block in which a lane spiked (under ``if condition:`` when given). None (the
        default): the strategy runs the two sections apart (``event_section``, ``spike_section``)."""
        return None

    def ode_section(self, tail: Callable[[], None] | None = None) -> AbstractContextManager[None]:
        """The ODE section's loops; ``tail()`` writes statements that follow the storing of the new state
        (inside the lane loop when ``fuses_tail``, else after the section)."""
        raise NotImplementedError

    def members(self, g: Group, *, factors: bool = False, ring: bool = False,
                accumulators: bool = False) -> AbstractContextManager[None]:
        """factors: the synapse's current factors are read; ring: its delay ring; accumulators: the neuron's
        accumulator rows."""
        raise NotImplementedError

    def lanes(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def rows(self, part: str) -> Iterator[Row]:
        raise NotImplementedError

    def stage_loop(self, stages: int) -> AbstractContextManager[str] | None:
        """A loop over the tableau's stages that yields the name of its index, inside which the stage-dependent
        values (``state``, ``voltage``, ``set_slopes`` at stage j = that name) are addressed at run time; None
        (the default): the emitter writes each stage out."""
        return None

    def bind(self, g: Group) -> None:
        """Make the parameters of g readable by ``param`` in the current lane loop."""

    # --- the ODE section
    def gap_currents(self, stage: int) -> None:
        """Input currents of the gap groups at ``stage`` (a specialised sum; none by default)."""

    def state(self, g: Group, v: str, j: int) -> str:
        raise NotImplementedError

    def new(self, g: Group, v: str) -> str:
        raise NotImplementedError

    def stored(self, g: Group, v: str) -> str:
        raise NotImplementedError

    def param(self, g: Group, p: str) -> str:
        raise NotImplementedError

    def lane_param(self, g: Group, p: str) -> str:
        raise NotImplementedError

    def input(self, g: Group) -> str:
        raise NotImplementedError

    def external_current(self, g: Group) -> str:
        raise NotImplementedError

    def add_current(self, g: Group, side: str, value: str) -> None:
        raise NotImplementedError

    def voltage(self, g: Group, side: str, j: int) -> str:
        raise NotImplementedError

    def post_refractory(self, g: Group) -> tuple[Any, Group] | None:
        """(model, group) of synapse g's post neuron when its refractory state gates g's jump; else None."""
        raise NotImplementedError

    def post_voltage(self, g: Group) -> str:
        raise NotImplementedError

    def pre_neuron(self, g: Group) -> tuple[Any, Group]:
        """(model, group) of synapse g's pre neuron (needed where ``late_in_events``)."""
        raise NotImplementedError

    def buf(self, g: Group, what: str) -> str:
        raise NotImplementedError

    def set_slopes(self, g: Group, j: int, names: tuple[str, ...], expr: str) -> None:
        raise NotImplementedError

    def set_new(self, g: Group, names: tuple[str, ...], expr: str) -> None:
        raise NotImplementedError

    def set_stored(self, g: Group, names: tuple[str, ...], expr: str) -> None:
        raise NotImplementedError

    def delay(self, g: Group, delay: str) -> None:
        """Write this step's event ``ev`` into g's delay ring and read the one sent ``delay`` ms ago."""
        raise NotImplementedError

    # --- the metrics sections
    def out_of_bounds(self, cast: bool = True) -> str:
        """An expression true when some neuron's voltage is beyond ``v_bound`` or NaN (the voltages as float64,
        or in the working precision when not ``cast``)."""
        raise NotImplementedError

    def partial(self, row: int) -> str:
        """Row ``row`` of the float32 block sums (``emit.partial_rows``), for lane i (fusing strategies only)."""
        raise NotImplementedError

    def count_spikes(self, condition: str | None) -> None:
        """Set ``n_up`` to the number of spikes in the tile this step (0 unless ``condition`` holds, when one
        is given). Inside a fused tail: OR whether this lane spiked into ``n_up`` (False before the lane loop);
        ``n_up > 0`` holds either way exactly when a lane of the tile spiked."""
        raise NotImplementedError

    def spike_local(self, g: Group, what: str) -> str:
        raise NotImplementedError

    def scratch(self, g: Group, what: str) -> str:
        """A neuron's SPIKE_SCRATCH value of this step, as the pairs' synchrony reads it."""
        raise NotImplementedError

    def pair_scratch(self, g: Group, side: int, what: str) -> str:
        raise NotImplementedError

    def pair_voltage(self, g: Group, side: int) -> str:
        raise NotImplementedError

    def pair_shift(self, g: Group, side: int) -> str:
        raise NotImplementedError

    def acc(self, g: Group, what: str) -> str:
        raise NotImplementedError

    def acc_row(self, row: int) -> str:
        raise NotImplementedError

    def neuron_sums(self, inits: dict[str, str]) -> tuple[dict[str, str], Iterator[Callable[[str], str]]]:
        """Per-lane sums over the neurons: their names, and an iterator over the neurons (inside the loops
        it opens) giving each neuron's accumulators by name."""
        raise NotImplementedError
