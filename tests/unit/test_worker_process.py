"""The local cluster's worker preload (``synsweep.sweeps.worker_process``): the task code imported at the start, and
a closed worker's process ended without the interpreter's teardown (later exit handlers skipped), except on a GPU
worker and except when the worker did not close."""

import subprocess
import sys
from types import SimpleNamespace

from synsweep.sweeps import worker_process

SCRIPT = """
import atexit, sys
from types import SimpleNamespace
atexit.register(lambda: print("teardown ran", flush=True))  # registered first: runs after the preload's handler
from synsweep.sweeps import worker_process
worker = SimpleNamespace(state=SimpleNamespace(total_resources={sys.argv[1]: 1} if sys.argv[1] != "-" else {}))
worker_process.dask_setup(worker)
print("runner imported:", "synsweep.sweeps.runner" in sys.modules, flush=True)
if sys.argv[2] == "closed":
    worker_process.dask_teardown(worker)
"""


def run(resource: str, state: str) -> str:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, resource, state], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_a_closed_cpu_worker_ends_without_the_later_exit_handlers():
    out = run("-", "closed")
    assert "runner imported: True" in out and "teardown ran" not in out


def test_a_worker_that_did_not_close_or_holds_a_gpu_ends_as_usual():
    assert "teardown ran" in run("-", "open")
    assert "teardown ran" in run("GPU", "closed")


def test_the_preload_imports_the_task_code_and_its_exit_handler_waits_for_the_close():
    """In this process (as a GPU worker, so that no exit handler is registered here): the task code is imported,
    and the exit handler does nothing before the worker closed."""
    worker_process.dask_setup(SimpleNamespace(state=SimpleNamespace(total_resources={"GPU": 1})))
    assert "synsweep.sweeps.runner" in sys.modules and "synsweep.sweeps.spec" in sys.modules
    worker_process._exit_when_closed()  # not closed: returns, and the test process goes on
