"""The analysis commands of ``synsweep``: inspect, plot, replay, report and export a stored result.

    synsweep inspect RESULT.zarr [--verify] [--forget-damaged]
    synsweep plot RESULT.zarr VAR [--x AXIS] [--y AXIS] [--sel AXIS=VALUE ...]
                  [--reduce mean|max|min|median|basin [--above VALUE]]
                  [--out FILE.png|FILE.pdf]
    synsweep replay RESULT.zarr --point AXIS=VALUE,... [--fig FILE.png|.pdf] [--traces FILE.nc|.npz] [--every N]
    synsweep report RESULT.zarr [--out report.html]
    synsweep export RESULT.zarr --format netcdf|csv [--out FILE|-]

Registered on the ``synsweep`` group by ``synsweep.workflows.cli`` (never imported here). Mistakes in the
request (unknown variable, axis or value, a store that is not one, a bad file name) are user errors: one
paragraph, exit 2, checked before anything is computed. ``replay`` exits 4 when the replayed values differ
from the stored ones. Heavy imports (xarray, the engine) happen inside the commands, so ``synsweep --help``
stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .exits import ReplayMismatch, fail, reports_user_errors, user_errors
from .options import FILE, RESULT_ARG, check_output, out_option

REDUCE_CHOICES = ("mean", "max", "min", "median", "basin")  # synsweep.workflows.selection.REDUCTIONS
FIGURE_SUFFIXES = (".png", ".pdf")


def _require(result: Path) -> None:
    """A user error when there is no store at ``result``."""
    if not result.exists():
        fail(f"result store {str(result)!r} does not exist; give the path passed to 'synsweep run --out'.")


def _open(result: Path) -> Any:
    """The result at ``result``, opened lazily; a user error when there is none, or when it cannot be used."""
    from synsweep.sweeps import open_result

    _require(result)
    try:
        return open_result(result)
    except user_errors() as exc:
        fail(exc)


def _here() -> str:
    """This machine and its versions, as the replay message compares them with the store's."""
    import platform
    from importlib import metadata

    from synsweep.sweeps.provenance import cpu_model

    return (f"synsweep {metadata.version('synsweep')}, numba {metadata.version('numba')}, llvmlite "
            f"{metadata.version('llvmlite')}, Python {platform.python_version()}, on {cpu_model()}")


def _stem(result: Path) -> str:
    return result.name.removesuffix(".zarr") or "result"


def _check_output(path: Path, option: str, allowed: tuple[str, ...]) -> None:
    """Refuse an output file of the wrong kind or that cannot be written, before the store is read."""
    if path.suffix.lower() not in allowed:
        fail(f"{option} {str(path)!r}: give a file name ending in {' or '.join(allowed)}.")
    check_output(path, option)


@click.command()
@RESULT_ARG
@click.argument("var")
@click.option("--x", "x", metavar="AXIS", help="Axis along x (default: the first sweep dim of VAR).")
@click.option("--y", "y", metavar="AXIS", help="Axis along y: a heatmap (default: the second sweep dim when "
              "neither --x nor --y is given).")
@click.option("--sel", multiple=True, metavar="AXIS=VALUE",
              help="Fix an axis at its nearest grid value (a label for neuron/pair); repeat for several.")
@click.option("--reduce", type=click.Choice(REDUCE_CHOICES), help="Reduce every axis neither plotted nor "
              "selected, over the ok points; basin: the fraction of them with VAR >= --above, with its 95% "
              "Wilson interval.")
@click.option("--above", type=float, metavar="VALUE", help="With --reduce basin: the state counted is VAR >= VALUE.")
@out_option(FILE, "FILE.png|FILE.pdf", "Figure to write (default: RESULT_VAR.png in the current directory).")
@reports_user_errors
def plot(result: Path, var: str, x: str | None, y: str | None, sel: tuple[str, ...], reduce: str | None,
         above: float | None, out: Path | None) -> None:
    """Draw VAR of RESULT.zarr as a line over one axis or a heatmap over two."""
    from .plots import plot_variable
    from .selection import parse_assignments

    out = out or Path(f"{_stem(result)}_{var}.png")
    _check_output(out, "--out", FIGURE_SUFFIXES)
    chosen = parse_assignments(sel, "--sel")
    ds = _open(result)
    click.echo(f"wrote {plot_variable(ds, var, out, x=x, y=y, sel=chosen, reduce=reduce, above=above)}")


@click.command()
@RESULT_ARG
@click.option("--point", "-p", "points", required=True, multiple=True, metavar="AXIS=VALUE,...",
              help="The point: a value for every sweep axis (nearest grid value), e.g. g=0.004,I_ext=0.1.")
@click.option("--fig", type=FILE, metavar="FILE.png|FILE.pdf",
              help="Trace figure to write (default: RESULT_replay.png in the current directory).")
@click.option("--traces", type=FILE, metavar="FILE.nc|FILE.npz",
              help="Also write every state variable's trace (netCDF or numpy).")
@click.option("--every", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Keep every N-th integration step of the traces.")
@reports_user_errors
def replay(result: Path, points: tuple[str, ...], fig: Path | None, traces: Path | None, every: int) -> None:
    """Simulate one stored point again from the stored spec and check its values bit for bit."""
    from .describe import table
    from .replay import comparison_table, format_value, replay_point, trace_figure, write_traces
    from .selection import parse_assignments

    fig = fig or Path(f"{_stem(result)}_replay.png")
    _check_output(fig, "--fig", FIGURE_SUFFIXES)
    if traces is not None:
        _check_output(traces, "--traces", (".nc", ".npz"))
    point = parse_assignments(points, "--point")
    ds = _open(result)
    rep = replay_point(ds, point, every=every)
    click.echo(f"replayed {rep.spec.name} at {rep.label} "
               f"(index {', '.join(f'{d} {k}' for d, k in rep.index.items())})")
    click.echo(table([("variable", "entity", "stored", "replayed", ""), *comparison_table(rep)]))
    for note in rep.notes:
        click.echo(f"note: {note}")
    click.echo(f"wrote {trace_figure(rep, fig)}")
    if traces is not None:
        click.echo(f"wrote {write_traces(rep, traces, ds)}")
    if not rep.ok:
        bad = rep.mismatches
        traces = [f"trace_{var}" for var, _, equal in rep.trace_checks if not equal]
        what = [f"{len(bad)} of {len(rep.checks)} values"] if bad else []
        what += [f"the stored traces ({', '.join(traces)})"] if traces else []
        first = (f"the first: {bad[0].var}{'[' + bad[0].entity + ']' if bad[0].entity else ''} stored "
                 f"{format_value(bad[0].stored)}, replayed {format_value(bad[0].replayed)}. ") if bad else ""
        raise ReplayMismatch(
            f"the replay of {rep.label} differs from the store in {' and in '.join(what)}; {first}"
            f"The store was written by synsweep {ds.attrs.get('version_synsweep')} (git "
            f"{ds.attrs.get('git_commit')}, numba {ds.attrs.get('version_numba')}, llvmlite "
            f"{ds.attrs.get('version_llvmlite')}, Python {ds.attrs.get('python')}, on {ds.attrs.get('cpu_model')}; "
            f"this replay: {_here()}); a different version or CPU can change the last bits, otherwise the store "
            "was modified after it was written.")
    how = f"to {rep.rtol:g} relative (counts and statuses exactly)" if rep.rtol else "bit for bit"
    click.echo(f"all {len(rep.checks)} stored values equal the replay {how}"
               + (f", and the stored traces ({', '.join(v for v, _, _ in rep.trace_checks)})"
                  if rep.trace_checks else ""))


@click.command()
@RESULT_ARG
@out_option(FILE, "FILE.html", "Page to write (default: RESULT_report.html in the current directory).")
@reports_user_errors
def report(result: Path, out: Path | None) -> None:
    """Write a self-contained HTML page: provenance, spec, summaries, completion and figures."""
    from .report import write_report

    out = out or Path(f"{_stem(result)}_report.html")
    _check_output(out, "--out", (".html", ".htm"))
    ds = _open(result)
    click.echo(f"wrote {write_report(ds, result, out)}")


@click.command()
@RESULT_ARG
@click.option("--format", "fmt", required=True, type=click.Choice(["netcdf", "csv"]),
              help="netcdf: the whole dataset; csv: a table, one row per sweep point.")
@out_option(FILE, "FILE", "File to write (default: RESULT.nc or RESULT.csv in the current directory; '-' writes "
            "the CSV to standard output).")
@reports_user_errors
def export(result: Path, fmt: str, out: Path | None) -> None:
    """Export RESULT.zarr as netCDF or as a CSV table."""
    from .export import to_netcdf, write_csv

    suffix = ".nc" if fmt == "netcdf" else ".csv"
    out = out or Path(f"{_stem(result)}{suffix}")
    if fmt == "netcdf" and str(out) == "-":
        fail("--out - (standard output) works for --format csv only; give a file name for netCDF.")
    if str(out) != "-":
        check_output(out, "--out")
    ds = _open(result)
    if fmt == "netcdf":
        click.echo(f"wrote {to_netcdf(ds, out)}")
        return
    to_stdout = str(out) == "-"
    rows, table = write_csv(ds, None if to_stdout else out)
    if not to_stdout:
        click.echo(f"wrote {out}: {rows:,} rows, {len(table.header)} columns")
    if table.skipped:
        click.echo(f"not in the table (use --format netcdf): {', '.join(table.skipped)}", err=to_stdout)


@click.command()
@RESULT_ARG
@click.option("--verify", is_flag=True, help="Also read back every chunk of every variable (checksums included) "
              "and name any that is damaged.")
@click.option("--forget-damaged", is_flag=True, help="Delete the damaged chunks that --verify finds and mark their "
              "blocks not computed, so that 'synsweep run ... --resume' computes them again.")
@reports_user_errors
def inspect(result: Path, verify: bool, forget_damaged: bool) -> None:
    """Print the summary and provenance of a stored result."""
    from synsweep.sweeps import damage

    from .describe import describe_result

    _require(result)
    if forget_damaged:
        found = damage.diagnose(result)
        if not found:
            click.echo(f"{result}: every chunk reads back; nothing to forget")
            return
        blocks = damage.forget_damaged(result, found)
        click.echo(f"{result}: deleted the damaged chunks and marked block{'s' if len(blocks) > 1 else ''} "
                   f"{', '.join(map(str, blocks))} not computed; run the same spec with --resume to compute "
                   f"{'them' if len(blocks) > 1 else 'it'} again")
        return
    click.echo(describe_result(_open(result), result))
    if verify:
        found = damage.diagnose(result)
        if found:
            raise damage.StoreDamaged(found)
        click.echo(f"verified: every chunk of {len(found.intact)} arrays reads back and passes its checksum")


ANALYSIS_COMMANDS = (inspect, plot, replay, report, export)
