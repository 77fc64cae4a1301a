"""Provenance: what produced a result dataset, as flat dataset attributes.

Every attribute value is a JSON scalar (a string, except ``git_commit`` and ``git_dirty``, which are None
outside a git checkout), so the attributes survive the zarr round trip unchanged. The spec is stored as
JSON text.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path

from .model import SweepSpec

CONVENTIONS = "CF-1.10"  # exactly the CF version: CF checkers parse this attribute
LAYOUT = "synsweep result layout 1 (CF attributes: units, long_name, flag_values/flag_meanings, _FillValue)"
PACKAGES = ("synsweep", "numba", "llvmlite", "numpy", "dask", "distributed", "xarray", "zarr")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def _git(*args: str) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["git", *args], cwd=Path(__file__).resolve().parent, capture_output=True,
                              text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None


@cache
def git_commit() -> str | None:
    """The git commit of the synsweep sources (``git rev-parse HEAD`` in this package's directory), or None
    when they are not a git checkout or git is missing."""
    head = _git("rev-parse", "HEAD")
    return head.stdout.strip() if head is not None and head.returncode == 0 else None


@cache
def git_dirty() -> bool | None:
    """Whether tracked source files differ from ``git_commit()`` (None when that is unknown)."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return bool(status.stdout.strip()) if status is not None and status.returncode == 0 else None


def spec_text(spec: SweepSpec) -> str:
    """The normalised spec document as JSON text, in the document's own order: the order of the neurons
    is part of the spec (it is the order of the ``neuron`` dim and of the default pairs, and the spec hash
    includes it), so sorting the keys would store another spec."""
    return json.dumps(spec.document, indent=1, default=_jsonable)


def _jsonable(obj: object) -> object:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


@cache
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``; "unknown" if neither
    says): a replay that differs in the last bits is explained by another CPU or another version."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def provenance_attrs(spec: SweepSpec) -> dict[str, object]:
    """Dataset attributes recording the spec, its hash, software versions, git commit, machine and creation
    time, and the CF global attributes (``Conventions``, ``title``, ``history``, ``source``, ``date_created``)."""
    sim = spec.simulation
    now = datetime.now(UTC).isoformat(timespec="seconds")
    attrs: dict[str, object] = {
        "title": spec.name,
        "description": spec.description or "",
        "Conventions": CONVENTIONS,
        "synsweep_layout": LAYOUT,
        "source": f"synsweep {_version('synsweep')} simulation (numba engine, {sim.integrator}, {sim.precision})",
        "history": f"{now} created by synsweep {_version('synsweep')}: "
                   + (" ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else "python"),
        "date_created": now,
        "spec": spec_text(spec),
        "spec_format": "json",
        "spec_hash": spec.spec_hash,
        "created": now,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
    }
    for package in PACKAGES:
        attrs[f"version_{package}"] = _version(package)
    attrs["git_commit"] = git_commit()
    attrs["git_dirty"] = git_dirty()
    attrs["synsweep_engine"] = json.dumps({
        "integrator": sim.integrator,
        "precision": sim.precision,
        "scheme": sim.scheme,
        "dt": sim.dt,
        "duration": sim.duration,
        "transient": sim.transient,
        "divergence_bound": sim.divergence_bound,
    }, sort_keys=True)
    attrs["synsweep_integrator"] = sim.integrator
    attrs["synsweep_precision"] = sim.precision
    attrs["synsweep_scheme"] = sim.scheme
    return attrs
