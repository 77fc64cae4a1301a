"""``synsweep validate``: its description of a spec (times in the circuit's own units) and what checking a spec
loads (neither numba nor zarr: a user error is reported in well under a second)."""

from __future__ import annotations

import pytest

from synsweep.sweeps.spec import load_spec
from synsweep.workflows.describe import describe_spec


def _pair(model: str, init: dict) -> dict:
    return {"name": f"{model}-pair",
            "circuit": {"neurons": {"n1": {"model": model, "init": init}, "n2": {"model": model}},
                        "synapses": {"gap": {"model": "electrical", "pre": "n1", "post": "n2"}}},
            "simulation": {"dt": 0.01, "duration": 20.0, "transient": 5.0},
            "sweep": [{"name": "g", "paths": ["synapses.gap.params.g1"], "values": [0.0, 0.1]}]}


def _line(text: str, field: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(field))


@pytest.mark.parametrize(("model", "init", "expected"), [
    ("hh", {"v": -70.0}, "20 ms at dt 0.01 ms = 2,000 steps, transient 5 ms"),
    ("hr", {"x": -1.5}, "20 at dt 0.01 (model time units) = 2,000 steps, transient 5"),
])
def test_the_simulation_line_uses_the_circuits_time_units(model: str, init: dict, expected: str) -> None:
    text = describe_spec(load_spec(_pair(model, init)))
    assert _line(text, "simulation").endswith(expected), text
    assert "HH pair" not in _line(text, "kernel")


def test_a_continuation_settles_in_the_circuits_time_units() -> None:
    doc = _pair("hr", {"x": -1.5})
    doc["sweep"][0]["continuation"] = "up"
    line = _line(describe_spec(load_spec(doc)), "continuation")
    assert "after 5 time units of settling" in line and " ms" not in line, line


def test_checking_a_spec_loads_neither_numba_nor_zarr(tmp_path) -> None:
    """A user error ends the command before the compiler and the store's library are imported (~0.4 s less
    per mistake, and the driver of a run whose kernel speed is recorded never imports numba)."""
    import subprocess
    import sys

    import yaml

    bad = _pair("hr", {"x": -1.5})
    bad["simulation"]["dt"] = -0.01
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    probe = ("import sys\nfrom synsweep.workflows.cli import main\ntry:\n    main(['validate', sys.argv[1]])\n"
             "except SystemExit as exc:\n    print(exc.code, sorted({'numba', 'zarr'} & set(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, timeout=60)
    assert "simulation.dt" in out.stderr, out.stderr
    assert out.stdout.split() == ["2", "[]"], (out.stdout, out.stderr)


@pytest.mark.parametrize(("seconds", "words"), [
    (0.2, "under a second"), (40, "about 40 s"), (720, "about 12 min"), (3.5 * 3600, "about 3.5 h"),
    (4.2 * 86400, "about 4.2 days"), (1300 * 365.25 * 86400, "about 1,300 years"),
])
def test_an_expected_duration_reads_in_its_own_unit(seconds: float, words: str) -> None:
    from synsweep.workflows.describe import _duration

    assert _duration(seconds) == words
