"""Hindmarsh-Rose neuron (seed 000, Neun's HR; MODELS.md section 2).

    dx/dt = y + b x^2 - a x^3 - z + e + i_in
    dy/dt = c - d x^2 - y
    dz/dt = mu (-vh z + S (x - xr))

Dimensionless: x is the membrane-potential-like variable (electrical synapses couple it, a spike is its
upward crossing of x_spike = 1), time is in the model's own units (dt ~ 0.01). With every parameter at its
default the neuron bursts; left at 0 (as the seed's Python page effectively does) the model drifts.
"""

from .base import NeuronModel, Param, StateVar


def derivatives(x, y, z, i_in, a, b, c, d, e, mu, S, xr, vh):
    x2 = x * x  # x^2, shared by both equations; b x^2 - a x^3 = x^2 (b - a x)
    dx = y + x2 * (b - a * x) - z + e + i_in
    dy = c - d * x2 - y
    dz = mu * (-vh * z + S * (x - xr))
    return dx, dy, dz


HR = NeuronModel(
    name="hr",
    description="Hindmarsh-Rose bursting neuron (dimensionless)",
    time_units="model time units",
    source="seed 000 (Neun HR); MODELS.md section 2",
    state=(
        StateVar("x", "1", "membrane potential (dimensionless)", -1.5),
        StateVar("y", "1", "fast recovery (spiking) variable", -10.0),
        StateVar("z", "1", "slow adaptation (bursting) variable", 0.0),
    ),
    params=(
        Param("a", 1.0, "1", "cubic coefficient of x"),
        Param("b", 3.0, "1", "quadratic coefficient of x"),
        Param("c", 1.0, "1", "constant of the y equation"),
        Param("d", 5.0, "1", "quadratic coefficient of x in the y equation"),
        Param("e", 3.281, "1", "constant input current"),
        Param("mu", 0.0029, "1", "time-scale ratio of the slow variable z"),
        Param("S", 4.0, "1", "coupling of z to x"),
        Param("xr", -1.6, "1", "resting x of the slow variable"),
        Param("vh", 1.0, "1", "decay coefficient of z"),
        Param("x_spike", 1.0, "1", "spike detection threshold (upward crossing of x)"),
    ),
    derivatives=derivatives,
    voltage="x",
    spike_threshold="x_spike",
    current_units="1",
    conductance_units="1",
)
