"""A spike source: a neuron that fires at given times, to drive synapses with a known presynaptic train.

    spikes at t_first, t_first + period, t_first + 2 period, ...       (period 0: one spike only)

It fires in the step whose end time is nearest to the next spike time; ``t_next`` holds that time. Its
voltage-like variable ``v`` stays at 0: it carries no current and is not meant for electrical coupling.
"""

from .base import NeuronModel, Param, StateVar


def derivatives(v, t_next):
    return 0.0, 0.0


def spike(t, t_next, dt):
    return t >= t_next - 0.5 * dt


def after_step(spiked, v, t_next, period):
    t_after = t_next + period if period > 0.0 else 1e30
    return v, (t_after if spiked else t_next)


def initial_state(given, params):
    """The first spike is due at t_first."""
    values = dict(given)
    values.setdefault("t_next", params["t_first"])
    return values


SOURCE = NeuronModel(
    name="spike_source",
    description="deterministic spike train: first spike at t_first, then every period ms",
    source="synsweep (for the seed 001/002 experiments driven by given presynaptic spikes)",
    state=(
        StateVar("v", "1", "constant placeholder voltage", 0.0),
        StateVar("t_next", "ms", "time of the next spike", None),
    ),
    params=(
        Param("t_first", 10.0, "ms", "time of the first spike"),
        Param("period", 0.0, "ms", "interval between spikes (0: a single spike)", domain=">= 0"),
    ),
    derivatives=derivatives,
    voltage="v",
    spike_threshold="",
    current_units="1",
    conductance_units="1",
    initial_state=initial_state,
    spike=spike,
    after_step=after_step,
)
