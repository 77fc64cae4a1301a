"""The compiled lane loop must be vectorised: every reason it can silently stay scalar is checked here.

LLVM reports each loop it vectorises when asked (-pass-remarks=loop-vectorize); the kernel of a circuit
has exactly one hot loop (the lane loop), so that remark must appear, and the assembly must hold packed
(ymm/xmm *pd or *ps) arithmetic with no calls left in it (model functions and exp inlined).
"""

import os
import re
import subprocess
import sys

import llvmlite.binding as llvm
import pytest

PROBE = r"""
import sys
import llvmlite.binding as llvm
llvm.set_option("probe", "-pass-remarks=loop-vectorize")
llvm.set_option("probe", "-pass-remarks-missed=loop-vectorize")
from synsweep.engine import Circuit, Neuron, Synapse
from synsweep.engine.kernel import KernelKey
from synsweep.engine.kernels import kernel_assembly
circuit = Circuit(neurons=(Neuron("a", "hh"), Neuron("b", "hh")), synapses=(Synapse("gap", "electrical", "a", "b"),))
key = KernelKey.for_circuit(circuit, sys.argv[2], sys.argv[1], sys.argv[3])
asm = kernel_assembly(key)
body = asm.split("cfunc.", 1)[0]
sys.stdout.write(body)
"""


def simd_bits() -> int:
    """Widest vector register LLVM targets on this CPU (numba compiles for the host)."""
    features = llvm.get_host_cpu_features()
    return 256 if features.get("avx2") or features.get("avx") else 128


def run_function(asm: str) -> str:
    """The assembly of the kernel's ``run`` function alone (not its Python wrappers)."""
    start = re.search(r"^_ZN\w*3run\w*:$", asm, re.M)
    assert start, "no run function in the assembly"
    return asm[start.end():asm.index(".Lfunc_end", start.end())]


def compile_probe(precision: str, integrator: str, scheme: str) -> tuple[str, str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, precision, integrator, scheme],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, proc.stderr


@pytest.mark.parametrize("precision, integrator, scheme", [
    ("float64", "rk4", "coupled"),
    pytest.param("float32", "rk4", "coupled", marks=pytest.mark.slow),
    pytest.param("float64", "rk6", "split", marks=pytest.mark.slow),
])
def test_lane_loop_is_vectorised(precision, integrator, scheme):
    asm, remarks = compile_probe(precision, integrator, scheme)
    widths = [int(w) for w in re.findall(r"vectorized loop \(vectorization width: (\d+)", remarks)]
    assert widths, remarks[-2000:]
    # the ODE lane loop holds only working-precision arithmetic, so it runs at the full SIMD width
    assert max(widths) >= simd_bits() // (64 if precision == "float64" else 32), (widths, simd_bits())
    suffix = "pd" if precision == "float64" else "ps"
    packed = re.findall(rf"\bv(?:fmadd|fmsub|fnmadd|mul|add|sub|div)\w*{suffix}\s+%[xy]mm", asm)
    assert len(packed) > 200, len(packed)
    # the range-reduction step of the vectorised exp: packed float -> int conversions, of a register or of a
    # spilled vector (AT&T's x / y suffix then gives the memory operand's width)
    conversions = re.findall(rf"vcvtt{suffix}2dq[xy]?\s+(?:%[xy]mm|-?\d*\(%r)", asm)
    assert len(conversions) >= 2 * 2 * 4  # 2 exp per HH rate evaluation x 2 neurons x >= 4 stages
    kernel = run_function(asm)
    assert len(kernel.splitlines()) > 1000
    # every call target is loaded into a register first; only the runtime's allocation of the two tile
    # buffers may be called, never a model function or exp (those must be inlined into the loops)
    targets = set(re.findall(r"movabsq\s+\$([A-Za-z_]\w*), %\w+", kernel))
    assert re.search(r"\bcallq?\s", kernel)  # sanity: the pattern sees the allocation calls
    assert targets <= {"NRT_MemInfo_alloc_aligned", "NRT_incref", "NRT_decref", "memset"}, targets


ZOO = r"""
import sys
import llvmlite.binding as llvm
llvm.set_option("probe", "-pass-remarks=loop-vectorize")
llvm.set_option("probe", "-pass-remarks-missed=loop-vectorize")
from synsweep.engine import SYNAPSE_MODELS, Circuit, Neuron, Synapse
from synsweep.engine.kernel import KernelKey
from synsweep.engine.kernels import kernel_assembly
neurons = tuple(Neuron(m, m) for m in ("hh", "hr", "cif", "lif", "izh", "spike_source")) + (Neuron("hh2", "hh"),)
targets = {"electrical": ("hh", "hr"), "diffusion": ("hh", "hh2"), "two_stage": ("spike_source", "cif"),
           "nmda": ("spike_source", "izh")}
synapses = [Synapse(m, m, *targets.get(m, ("spike_source", "lif"))) for m in SYNAPSE_MODELS]
synapses.append(Synapse("ampa_cuba", "ampa", "spike_source", "lif", output="cuba"))
for chosen in (synapses, [s for s in synapses if not s.definition.spike_triggered]):
    circuit = Circuit(neurons=neurons, synapses=tuple(chosen), pairs=(("hh", "hh2"),))
    kernel_assembly(KernelKey.for_circuit(circuit, "rk4", sys.argv[1], "coupled"))
    print("=== kernel done", file=sys.stderr, flush=True)
"""


@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.slow
def test_every_model_keeps_the_loops_vectorised(precision):
    """One kernel holding every neuron model and every synapse model (no delays): its ODE loop and its
    event loop (spike-triggered updates, resets) run at the full SIMD width of the working precision, so
    it has one more full-width loop than the same kernel without spike-triggered synapses (no event loop),
    whose ODE loop is full width too. The kernel without spike-triggered synapses (no post voltage jump) also
    fuses its every-step metrics and its spike test into the ODE loop, and updates the diverged row in a
    loop of its own only in a step with a voltage beyond the bound. In float64: the every-step metrics loop
    and the spike count loop gone, the divergence loop added, one full-width loop fewer. In float32 the
    every-step sums are float32 block sums whose flush into the float64 accumulators every 64 steps is a
    full-width loop, the spike count loop is gone, the divergence loop is float64 (half width): as many
    full-width loops."""
    proc = subprocess.run([sys.executable, "-c", ZOO, precision], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    full = simd_bits() // (64 if precision == "float64" else 32)
    with_events, without_events = proc.stderr.split("=== kernel done")[:2]
    counts = [sum(int(w) >= full for w in re.findall(r"vectorized loop \(vectorization width: (\d+)", text))
              for text in (with_events, without_events)]
    assert counts[1] >= (2 if precision == "float64" else 1), (counts, without_events[-2000:])
    fused = 1 if precision == "float64" else 0
    assert counts[0] == counts[1] + 1 + fused, (counts, with_events[-2000:])


TRIO = r"""
import llvmlite.binding as llvm
llvm.set_option("probe", "-pass-remarks=loop-vectorize")
llvm.set_option("probe", "-pass-remarks-missed=loop-vectorize")
import sys
from synsweep.engine import Circuit, Neuron, Synapse
from synsweep.engine.kernel import KernelKey
from synsweep.engine.kernels import kernel_assembly
names = ("a", "b", "c")
for n in (2, 3):
    circuit = Circuit(neurons=tuple(Neuron(x, "hh") for x in names[:n]),
                      synapses=(Synapse("gap", "electrical", "a", "b"),), pairs=(("a", "b"),))
    kernel_assembly(KernelKey.for_circuit(circuit, "rk4", "float64", "coupled"))
    print("=== kernel done", file=sys.stderr, flush=True)
"""


@pytest.mark.slow
def test_kuramoto_sampling_loop_is_vectorised():
    """A third neuron adds the Kuramoto sample loop (under a branch on the step index, the same for every
    lane): the kernel has exactly one more full-width float64 vector loop than the pair's."""
    proc = subprocess.run([sys.executable, "-c", TRIO], capture_output=True, text=True, env=os.environ.copy(),
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    full = simd_bits() // 64
    pair, trio = proc.stderr.split("=== kernel done")[:2]
    counts = [sum(int(w) >= full for w in re.findall(r"vectorized loop \(vectorization width: (\d+)", text))
              for text in (pair, trio)]
    assert counts[0] >= 2 and counts[1] == counts[0] + 1, (counts, trio[-2000:])


CHEAP = r"""
import sys
import llvmlite.binding as llvm
llvm.set_option("probe", "-pass-remarks=loop-vectorize")
llvm.set_option("probe", "-pass-remarks-missed=loop-vectorize")
from synsweep.engine import Circuit, Neuron, Synapse
from synsweep.engine.kernel import KernelKey
from synsweep.engine.kernels import kernel_assembly
hr = Circuit(neurons=(Neuron("a", "hr"), Neuron("b", "hr")), synapses=(Synapse("gap", "electrical", "a", "b"),))
cif = Circuit(neurons=(Neuron("a", "cif"), Neuron("b", "cif")),
              synapses=(Synapse("ab", "two_stage", "a", "b"), Synapse("ba", "two_stage", "b", "a")))
for circuit in (hr, cif):
    asm = kernel_assembly(KernelKey.for_circuit(circuit, "rk4", sys.argv[1], "coupled"))
    print(asm.split("cfunc.", 1)[0])
    print("=== kernel done", flush=True)
    print("=== kernel done", file=sys.stderr, flush=True)
"""


@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.slow  # four fresh compiles; the fast tier checks the lane loop of the HH kernels above
def test_cheap_models_hot_loops_are_vectorised(precision):
    """W2's kernel (a Hindmarsh-Rose pair, electrical synapse) and the IF kernel (a cif pair joined both ways
    by two_stage synapses), every parameter per lane: the ODE loop (and the IF kernel's event loop) at the
    full SIMD width of the working precision, the float64 metrics loop vectorised too, no call left in the
    run function (model functions and the spike-synchrony phase inlined)."""
    proc = subprocess.run([sys.executable, "-c", CHEAP, precision], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    full = simd_bits() // (64 if precision == "float64" else 32)
    wide64 = simd_bits() // 64
    for name, remarks, asm, full_loops in zip(("hr", "cif"), proc.stderr.split("=== kernel done")[:2],
                                              proc.stdout.split("=== kernel done")[:2], (1, 2), strict=True):
        widths = [int(w) for w in re.findall(r"vectorized loop \(vectorization width: (\d+)", remarks)]
        assert sum(w >= full for w in widths) >= full_loops, (name, widths, remarks[-2000:])
        assert len(widths) >= full_loops + 1 and min(widths) >= wide64, (name, widths)  # + the metrics loop
        targets = set(re.findall(r"movabsq\s+\$([A-Za-z_]\w*), %\w+", run_function(asm)))
        assert targets <= {"NRT_MemInfo_alloc_aligned", "NRT_incref", "NRT_decref", "memset"}, (name, targets)
