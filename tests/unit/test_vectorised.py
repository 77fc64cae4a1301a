"""The compiled lane loop must be vectorised: every reason it can silently stay scalar is checked here.

LLVM reports each loop it vectorises when asked (-pass-remarks=loop-vectorize); the kernel of a circuit
has exactly one hot loop (the lane loop), so that remark must appear, and the assembly must hold packed
(ymm/xmm *pd or *ps) arithmetic with no calls left in it (model functions and exp inlined).
"""

import os
import re
import subprocess
import sys

import pytest

PROBE = r"""
import sys
import llvmlite.binding as llvm
llvm.set_option("probe", "-pass-remarks=loop-vectorize")
llvm.set_option("probe", "-pass-remarks-missed=loop-vectorize")
from synsweep.engine import Circuit, Neuron, Synapse
from synsweep.engine.codegen import KernelKey
from synsweep.engine.kernels import kernel_assembly
circuit = Circuit(neurons=(Neuron("a", "hh"), Neuron("b", "hh")), synapses=(Synapse("gap", "electrical", "a", "b"),))
key = KernelKey.for_circuit(circuit, sys.argv[2], sys.argv[1], sys.argv[3])
asm = kernel_assembly(key)
body = asm.split("cfunc.", 1)[0]
sys.stdout.write(body)
"""


def compile_probe(precision: str, integrator: str, scheme: str) -> tuple[str, str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, precision, integrator, scheme],
                          capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, proc.stderr


@pytest.mark.parametrize("precision, integrator, scheme", [
    ("float64", "rk4", "coupled"),
    ("float32", "rk4", "coupled"),
    ("float64", "rk6", "split"),
])
def test_lane_loop_is_vectorised(precision, integrator, scheme):
    asm, remarks = compile_probe(precision, integrator, scheme)
    assert re.search(r"vectorized loop \(vectorization width: (\d+)", remarks), remarks[-2000:]
    width = int(re.search(r"vectorization width: (\d+)", remarks).group(1))
    assert width >= (2 if precision == "float64" else 4)
    suffix = "pd" if precision == "float64" else "ps"
    packed = re.findall(rf"\bv(?:fmadd|fmsub|fnmadd|mul|add|sub|div)\w*{suffix}\s+%[xy]mm", asm)
    assert len(packed) > 200, len(packed)
    # the range-reduction step of the vectorised exp: packed float -> int conversions
    conversions = re.findall(rf"vcvtt{suffix}2dq\s+%[xy]mm", asm)
    assert len(conversions) >= 6 * 2 * 4  # 6 exp per HH rate evaluation x 2 neurons x >= 4 stages
    kernel_body = asm.split("NRT_", 1)[0]
    assert not re.search(r"\bcall[q]?\s", kernel_body.split("\n.Lfunc_end0", 1)[0]), "calls left in the kernel"
