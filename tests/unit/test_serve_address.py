"""``synsweep serve`` on an address it cannot listen on (a port in use, a host not of this machine) is a user
error before anything is announced: exit 2, one paragraph naming the option, no uvicorn log line."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from synsweep.workflows.cli import main

pytest.importorskip("uvicorn", reason="synsweep serve needs the 'serve' extra")


def _serve(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", *args])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_a_port_in_use_and_a_foreign_host_are_user_errors(tmp_path: Path, capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = _serve(capsys, str(tmp_path), "--port", str(port))
    assert code == 2 and out == "", (out, err)
    assert err.startswith(f"synsweep: error: --port {port}: the address 127.0.0.1:{port} is already in use")
    assert "--port 0 for any free port" in err and err.count("\n") == 1
    code, out, err = _serve(capsys, str(tmp_path), "--host", "nonexistent.invalid")
    assert code == 2 and out == "" and err.startswith("synsweep: error: --host 'nonexistent.invalid': cannot "
                                                      "listen there"), (out, err)
