"""The whole bad-spec battery through the command line: exit 2, one paragraph naming the field, no store.

Runs the CLI's entry point in-process (no subprocess per case: no kernel is ever compiled for a bad spec, so
the battery costs about a second); test_cli.py covers the installed executable itself.
"""

from __future__ import annotations

import copy

import pytest
import yaml

from synsweep.workflows.cli import main

from ..unit.test_bad_specs import BASE, CASES


@pytest.mark.parametrize("mutate, field, fragment", [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_bad_spec_through_cli(tmp_path, capsys, mutate, field, fragment):
    spec = copy.deepcopy(BASE)
    mutate(spec)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    out = tmp_path / "result.zarr"
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(path), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert err.startswith("synsweep: error:") and err.count("\n") == 1, err
    assert field in err and "Fix" in err, err
    assert "Traceback" not in err
    assert not out.exists()
