"""The ``simulation`` section (step, duration, integrator, precision, coupling scheme, the metrics' windows and
evidence rules) and the ``metrics`` list.

Settings left at their defaults are left out of the normalised section, which keeps older specs' hashes.
"""

from __future__ import annotations

from typing import Any

from synsweep.engine import DEFAULT_METRICS, INTEGRATORS, METRICS, Simulation
from synsweep.engine.kernel import PRECISIONS, SCHEMES
from synsweep.engine.metrics import KURAMOTO_MIN_NEURONS, metric_applies
from synsweep.engine.simulate import MAX_STEPS

from ..errors import listing
from .checks import as_choice, as_integer, as_list, as_mapping, as_number, check_keys, fail

SIMULATION_KEYS = ("dt", "duration", "transient", "integrator", "precision", "scheme", "divergence_bound",
                   "coincidence_window", "sync_tolerance", "kuramoto_interval", "min_spikes", "sync_spikes",
                   "max_rate")
SIM_DEFAULTS = Simulation(dt=1.0, duration=1.0)
STEP_TOLERANCE = 1e-6  # how far (in steps) duration/dt and transient/dt may be from a whole number


def _whole_steps(span: float, dt: float) -> bool:
    steps = span / dt
    return abs(steps - round(steps)) <= max(STEP_TOLERANCE, 1e-12 * steps)


def simulation_section(raw: Any) -> tuple[Simulation, dict[str, Any]]:
    m = as_mapping(raw, "simulation", "give the simulation settings, e.g. simulation: {dt: 0.01, duration: 100}")
    check_keys(m, "simulation", SIMULATION_KEYS, ("dt", "duration"),
                {"dt": "give the integration step in ms, for example dt: 0.01",
                 "duration": "give the simulated time in ms, for example duration: 100"})
    dt_fix = "give the integration step in ms, for example dt: 0.01"
    dt = as_number(m["dt"], "simulation.dt", dt_fix, "a positive number of ms")
    if dt <= 0:
        fail("simulation.dt", f"must be a positive number of ms, got {dt:g}", dt_fix)
    dur_fix = "give the simulated time in ms, for example duration: 100"
    duration = as_number(m["duration"], "simulation.duration", dur_fix, "a positive number of ms")
    if duration <= 0:
        fail("simulation.duration", f"must be a positive number of ms, got {duration:g}", dur_fix)
    if dt > duration:
        fail("simulation.dt", f"the step {dt:g} ms is longer than the duration {duration:g} ms",
              "use a step shorter than the duration, e.g. dt: 0.01")
    if duration / dt > MAX_STEPS:
        fail("simulation.duration", f"duration {duration:g} ms is {duration / dt:.3g} steps of dt = {dt:g} ms, more "
                                     f"than the {MAX_STEPS:.3g} steps the engine counts exactly",
              "give a shorter duration or a larger dt (the estimate printed at the start of a run tells how long "
              "a duration takes)")
    if not _whole_steps(duration, dt):
        fail("simulation.duration", f"duration {duration:g} ms is not a whole number of steps of dt = {dt:g} "
                                     f"ms ({duration / dt:.6g} steps)",
              f"make duration a multiple of dt, e.g. duration: {max(1, round(duration / dt)) * dt:g}")
    tr_fix = f"give the time in ms to skip before measuring, 0 <= transient < duration ({duration:g})"
    transient = as_number(m.get("transient", SIM_DEFAULTS.transient), "simulation.transient", tr_fix,
                        "a number of ms >= 0")
    if transient < 0:
        fail("simulation.transient", f"must be >= 0 ms, got {transient:g}", tr_fix)
    if transient >= duration:
        fail("simulation.transient", f"the transient {transient:g} ms is not shorter than the duration "
                                      f"{duration:g} ms, so nothing would be measured", tr_fix)
    if not _whole_steps(transient, dt):
        fail("simulation.transient", f"transient {transient:g} ms is not a whole number of steps of dt = "
                                      f"{dt:g} ms", f"make transient a multiple of dt, e.g. transient: "
                                                    f"{round(transient / dt) * dt:g}")
    integrator = as_choice(m.get("integrator", SIM_DEFAULTS.integrator), "simulation.integrator",
                         list(INTEGRATORS), "integrator")
    precision = as_choice(m.get("precision", SIM_DEFAULTS.precision), "simulation.precision", tuple(PRECISIONS),
                        "precision")
    scheme = as_choice(m.get("scheme", SIM_DEFAULTS.scheme), "simulation.scheme", SCHEMES, "coupling scheme")
    bound_fix = "give the absolute voltage beyond which a point counts as diverged, e.g. divergence_bound: 10000"
    bound = as_number(m.get("divergence_bound", SIM_DEFAULTS.divergence_bound), "simulation.divergence_bound",
                    bound_fix, "a positive number")
    if bound <= 0:
        fail("simulation.divergence_bound", f"must be a positive number, got {bound:g}", bound_fix)
    windows = {}
    for key, meaning in (("coincidence_window", "the window within which two spikes count as coincident"),
                         ("sync_tolerance", "the spike-time lag below which a pair counts as synchronous"),
                         ("kuramoto_interval", "the time between samples of the Kuramoto order parameter")):
        fix = f"give {meaning} in ms, e.g. {key}: {getattr(SIM_DEFAULTS, key):g}"
        windows[key] = as_number(m.get(key, getattr(SIM_DEFAULTS, key)), f"simulation.{key}", fix,
                               "a positive number of ms")
        if windows[key] <= 0:
            fail(f"simulation.{key}", f"must be a positive number of ms, got {windows[key]:g}", fix)
    evidence = {}
    for key, meaning in (("min_spikes", "the spikes each neuron of a pair needs before its coincidence, plv and "
                                        "time_to_sync are reported"),
                         ("sync_spikes", "the spikes of each neuron over which synchrony must hold before the end "
                                         "for time_to_sync")):
        evidence[key] = as_integer(m.get(key, getattr(SIM_DEFAULTS, key)), f"simulation.{key}",
                                 f"give {meaning}, a whole number >= 1, e.g. {key}: {getattr(SIM_DEFAULTS, key)}",
                                 "a whole number >= 1", minimum=1)
    rate_fix = ("give the firing rate in Hz above which a point is flagged runaway (status 3), e.g. max_rate: "
                f"{SIM_DEFAULTS.max_rate:g}")
    max_rate = as_number(m.get("max_rate", SIM_DEFAULTS.max_rate), "simulation.max_rate", rate_fix,
                       "a positive number of Hz")
    if max_rate <= 0:
        fail("simulation.max_rate", f"must be a positive number of Hz, got {max_rate:g}", rate_fix)
    sim = Simulation(dt=dt, duration=duration, transient=transient, integrator=integrator,
                     precision=precision, scheme=scheme, divergence_bound=bound, **windows, **evidence,
                     max_rate=max_rate)
    doc = {"dt": dt, "duration": duration, "transient": transient, "integrator": integrator,
           "precision": precision, "scheme": scheme, "divergence_bound": bound}
    # written only when not the default, which keeps older specs' hashes unchanged
    pair_keys = ("coincidence_window", "sync_tolerance")
    if any(windows[k] != getattr(SIM_DEFAULTS, k) for k in pair_keys):
        doc.update({k: windows[k] for k in pair_keys})
    if windows["kuramoto_interval"] != SIM_DEFAULTS.kuramoto_interval:
        doc["kuramoto_interval"] = windows["kuramoto_interval"]
    doc.update({k: v for k, v in evidence.items() if v != getattr(SIM_DEFAULTS, k)})
    if max_rate != SIM_DEFAULTS.max_rate:
        doc["max_rate"] = max_rate
    return sim, doc


# -- metrics ---------------------------------------------------------------------------------------------
def metrics_section(raw: Any, n_neurons: int) -> tuple[str, ...]:
    """The metric names; by default every metric, less the circuit metrics of a circuit too small for them
    (so that the default list, and the hash, of a pair's spec is what it was before ``kuramoto``)."""
    if raw is None:
        return tuple(m for m in DEFAULT_METRICS if METRICS[m].dim != "circuit" or metric_applies(m, n_neurons, 0))
    fix = f"list metric names, e.g. metrics: [spike_count, pearson]; known metrics: {listing(METRICS)}"
    items = as_list(raw, "metrics", fix)
    out: list[str] = []
    for i, name in enumerate(items):
        as_choice(name, f"metrics[{i}]", list(METRICS), "metric")
        if name in out:
            fail(f"metrics[{i}]", f"metric '{name}' is listed twice", "list each metric once")
        if METRICS[name].dim == "circuit" and not metric_applies(name, n_neurons, 0):
            fail(f"metrics[{i}]", f"metric '{name}' needs a circuit of at least {KURAMOTO_MIN_NEURONS} neurons, "
                                   f"this one has {n_neurons}",
                  "leave it out (a pair's phase locking is the metric plv)")
        out.append(name)
    return tuple(out)
