"""Load and validate a sweep spec (YAML file or mapping) into a ``SweepSpec``, before any compute.

    spec = load_spec("scan.yaml")          # or load_spec({...}) or load_spec(spec.document)
    check_resources(spec, "out/scan.zarr") # disk and memory, once the output path is known (spec.sizing)
    estimate(spec)                         # points, shape, neuron steps, output size (spec.sizing)

Every problem raises ``SpecError(field, problem, fix)`` (``synsweep.sweeps.errors``) naming the field of
the spec, the offending value and a fix; the first problem found is reported. Nothing here compiles or
runs a kernel.

The spec format (every key but name, circuit and simulation is optional)::

    name: hh-coupling-scan
    description: free text
    circuit:
      neurons: {n1: {model: hh, init: {v: -75}, params: {gna: 0.94}}, n2: {model: hh}}
      synapses: {gap: {model: electrical, pre: n1, post: n2, params: {g1: 0.002, g2: 0.002}}}
      inputs: {n1: 0.1, n2: 0.08}           # constant external currents; default 0
      pairs: [[n1, n2]]                     # pairs for pairwise metrics; default every pair, in order
    simulation: {dt: 0.01, duration: 100, transient: 0, integrator: rk4, precision: float64,
                 scheme: coupled, divergence_bound: 10000, coincidence_window: 2, sync_tolerance: 1,
                 kuramoto_interval: 1}
    sweep:                                  # dims in order; the last varies fastest
      - {name: g, paths: [synapses.gap.params.g1, synapses.gap.params.g2],
         linspace: {start: 0, stop: 0.01, num: 41}}
      - {name: I_ext, paths: {inputs.n1: 1.0, inputs.n2: 0.8}, values: [0.05, 0.1]}
      - zip: trial                          # one dim, its axes varied together
        axes:
          - {name: v1_0, paths: [neurons.n1.init.v],
             random: {n: 10, seed: 1, distribution: uniform, low: -80, high: -60}}
          - {name: v2_0, paths: [neurons.n2.init.v],
             random: {n: 10, seed: 1, distribution: normal, mean: -65, std: 2}}
    metrics: [spike_count, pearson]         # default: all of synsweep.engine.METRICS
    record: {variables: [v, n1.m], every: 10, points: all}   # or points: [{g: 0.005, I_ext: 0.1, trial: 3}]
    execution:                              # not part of the spec hash
      chunk_points: 4096
      resources: {cores: 8, memory: 16GB, walltime: '02:00:00', queue: normal}  # batch jobs (run --cluster)
      device: cpu                           # or cuda: an NVIDIA GPU per worker (synsweep.engine.device)

Axis values: exactly one of ``values: [...]``, ``linspace: {start, stop, num}``, ``logspace: {start, stop,
num}`` (geometric, start and stop are the end values, both > 0) and ``random: {n, seed, distribution,
...}`` (``synsweep.sweeps.draws``). linspace values are rounded to 1e-12 of the axis' largest end, logspace
values to 12 significant digits, so coordinates are reproducible to the bit.

``SweepSpec.document`` is the normalised spec: every default filled in (all model parameters, every initial
value, null meaning "the model's rule", every input, the pair list, every simulation setting, the metric
list, the execution section), numbers as plain floats (ints for counts), axis paths as ``{path: factor}``.
It is JSON-serialisable, and ``load_spec(spec.document) == spec``.

Record points: each gives a coordinate for every dim: the axis value for a plain axis (it must be one of
the grid values, to 1e-9 relative), and for a zip group either its index along the zip dim (``trial: 3``)
or the value of one of its axes (``v1_0: -71.5``). ``RecordSpec.points`` holds them normalised to
``{dim: value}`` for plain dims and ``{dim: index}`` (int) for zip dims; ``traced_indices``
(``synsweep.sweeps.traces``) turns them into flat point indices.
"""

from .loading import load_spec

__all__ = ["load_spec"]
