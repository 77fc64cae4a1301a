"""The README's Python example, saved verbatim as a script and run as a user would (``python example.py``), from
a folder holding the packaged small spec at the path the example names; and the same code without its
``__main__`` guard, which must be refused with one clear error before anything is written."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from importlib import resources
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
SPEC = Path(str(resources.files("synsweep.workflows").joinpath("specs", "coupling_scan_small.yaml")))

pytestmark = pytest.mark.xdist_group("readme_example")


def example() -> str:
    """The README's Python example (the first python block of its "Python API" section)."""
    section = README.read_text().split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "workflows" / "specs").mkdir(parents=True)
    shutil.copy(SPEC, tmp_path / "workflows" / "specs" / SPEC.name)
    return tmp_path


def run(folder: Path, code: str) -> subprocess.CompletedProcess[str]:
    (folder / "example.py").write_text(code)
    return subprocess.run([sys.executable, "example.py"], cwd=folder, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_readme_example_runs_as_a_script(folder: Path) -> None:
    proc = run(folder, example())
    assert proc.returncode == 0, proc.stderr
    values = [float(v) for v in re.findall(r"-?\d+\.\d+(?:e-?\d+)?|nan", proc.stdout.split("[", 1)[1])]
    assert len(values) == 6 and all(-1.0 <= v <= 1.0 for v in values if v == v), proc.stdout  # r over 6 g
    assert (folder / "scan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_example_without_its_guard_is_refused_before_anything_is_written(folder: Path) -> None:
    code = example()
    head, body = code.split('if __name__ == "__main__":', 1)
    body = textwrap.dedent(body.split("\n", 1)[1])
    proc = run(folder, head + body)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("synsweep.sweeps.mainguard.MainGuardError: the sweep is started at the top level of")
    assert "if __name__ == \"__main__\":" in last
    assert proc.stderr.count("MainGuardError:") == 1  # in the driver only: no worker was started
    assert not (folder / "scan.zarr").exists()
