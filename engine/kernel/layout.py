"""The kernel's identity and memory layout: ``KernelKey`` (everything a compiled kernel depends on) and
``KernelLayout`` (the rows of the X, P, ACC arrays and of the per-tile buffer W for one key).

Arrays, all C-contiguous with the lane index last (``B`` lanes, a multiple of the tile):
    X[state_row, lane]        working precision; state in, state out
    P[param_row, lane]        working precision; parameters and external currents
    ACC[acc_row, lane]        float64; spike bookkeeping and running sums (``synsweep.engine.metrics``)
    REC[record_row, sample, lane]   working precision; optional traces, sample 0 is the initial state
"""

from __future__ import annotations

from dataclasses import dataclass

from ..circuit import Circuit
from ..integrators import INTEGRATORS
from ..metrics import (
    CIRCUIT_ACC,
    EVERYTHING,
    KURAMOTO_MIN_NEURONS,
    NEURON_ACC,
    PAIR_ACC,
    PART,
    SPIKE_SCRATCH,
    initial_value,
    keeps_for,
)
from ..models import NEURON_MODELS
from ..synapses import SYNAPSE_MODELS

PRECISIONS = {"float64": "np.float64", "float32": "np.float32"}
SCHEMES = ("coupled", "split")
TILE = {"float64": 64, "float32": 128}

# circuits up to this size are unrolled (every state variable a register); larger ones loop over groups of
# neurons and synapses of one model (state in the tile buffer), so that compile time grows linearly
MAX_UNROLLED_NEURONS = 8
MAX_UNROLLED_SYNAPSES = 16

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
        conductances are tied in O(N) per stage instead of O(N^2) (``synsweep.engine.kernel.looped``). Only
        conductances of diffusive synapses are tied (``simulate.tied_rows``); () ties nothing.
    keeps: what the metrics loop computes (``keeps_for`` the requested metrics, see ``METRIC_NEEDS``), less the
        parts the circuit has no place for (pair parts without pairs, the Kuramoto sums below
        ``KURAMOTO_MIN_NEURONS`` neurons): one kernel for the metric sets that compute the same. The divergence
        check always runs. Accumulators not kept stay at their initial values.
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
        scopes = {"spike"} | ({"sample", "pair_spike"} if pairs else set()) | \
            ({"circuit"} if len(models) >= KURAMOTO_MIN_NEURONS else set())
        keeps = tuple(part for part in keeps_for(metrics) if PART[part].scope in scopes)
        return cls(models, synapses, pairs, integrator, precision, scheme, tuple(record), varying, tuple(tied),
                   keeps)


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

    @property
    def acc_initial(self) -> list[float]:
        """Initial value of each ACC row (the parts' initial values; -1 for the diverged step: not diverged)."""
        n, n_pairs = len(self.key.neuron_models), len(self.key.pairs)
        rows = [initial_value(a) for a in NEURON_ACC] * n + [initial_value(a) for a in PAIR_ACC] * n_pairs
        rows += [initial_value(a) for a in CIRCUIT_ACC] if self.kuramoto else []
        return [*rows, -1.0]
