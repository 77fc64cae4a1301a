"""The command line's shared options (``synsweep.workflows.options``) and its light import."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
from click.testing import CliRunner

from synsweep.workflows.options import option_group


@dataclass(frozen=True)
class Pair:
    first: str | None
    second_one: int | None


PAIR = option_group("pair", Pair, click.option("--first"), click.option("--second-one", type=int))


@click.command(context_settings={"auto_envvar_prefix": "TOOL"})
@click.option("--before")
@PAIR
@click.option("--after")
def tool(before: str | None, pair: Pair, after: str | None) -> None:
    click.echo(f"{before} {pair!r} {after}")


def test_an_option_group_reaches_the_command_as_one_object() -> None:
    result = CliRunner().invoke(tool, ["--first", "a", "--second-one", "2", "--after", "z"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "None Pair(first='a', second_one=2) z"


def test_an_option_group_keeps_the_options_names_order_and_variables() -> None:
    help_text = CliRunner().invoke(tool, ["--help"]).output
    assert [help_text.index(o) for o in ("--before", "--first", "--second-one", "--after")] == sorted(
        help_text.index(o) for o in ("--before", "--first", "--second-one", "--after"))
    result = CliRunner().invoke(tool, [], env={"TOOL_SECOND_ONE": "7"})
    assert result.output.strip() == "None Pair(first=None, second_one=7) None"


def test_the_command_line_imports_no_numerics() -> None:
    """``synsweep --help`` stays fast: the group and its commands import numpy, dask and zarr only when a
    command runs."""
    code = ("import sys; from synsweep.workflows.cli import cli; cli.main(['--help'], standalone_mode=False); "
            "print(sorted(m for m in ('numpy', 'distributed', 'dask', 'zarr', 'xarray', 'yaml') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]", out


def test_an_empty_store_path_is_refused_as_empty() -> None:
    from synsweep.workflows.cli import cli

    spec = str(Path(__file__).parents[2] / "workflows" / "specs" / "coupling_scan_small.yaml")
    for args in (["run", spec, "--out", ""], ["report", " "]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert "is empty (an unset shell variable?)" in result.output
