"""SIGTERM (``Terminated``, raised by ``synsweep.sweeps.interrupts.interruptible``) ends any command with
exit 143 and "terminated (SIGTERM)", also where click has turned it into an Abort (a workflow's sweeps run
inside click's command; ``run`` says how many chunks it kept, tests/e2e/test_interrupt.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from synsweep.sweeps.interrupts import Terminated
from synsweep.workflows.cli import main


def test_a_workflow_stopped_by_sigterm_exits_143(tmp_path: Path, capsys, monkeypatch) -> None:
    import synsweep.workflows.studies as studies

    def stopped(*args, **kwargs):
        raise Terminated

    monkeypatch.setattr(studies, "plan_workflow", stopped)
    with pytest.raises(SystemExit) as exit_info:
        main(["workflow", "psp", "--small", "--out", str(tmp_path / "psp")])
    assert exit_info.value.code == 143
    assert capsys.readouterr().err.strip().endswith("synsweep: terminated (SIGTERM)")
