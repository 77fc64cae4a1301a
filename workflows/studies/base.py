"""A workflow: a packaged spec, how it becomes one or more sweeps, and the figures drawn from their stores.

    plan = plan_workflow("psp", "out/psp", ["simulation.duration=300"])   # validated, nothing computed
    run = run_planned(plan)                                              # sweeps, manifest, figures
    run = redraw("out/psp")                                              # figures again, from the stores

A workflow's output folder holds one zarr store per sweep (``<label>.zarr``), the figures (PNG and PDF)
and tables (CSV) it draws, and ``workflow.json``, the manifest: the workflow's name, its options, the
overrides it was run with and its stores. Figures are always drawn from the stores (never from memory),
so ``redraw`` makes them again months later, with other options if wanted.

Overrides (``--set``): ``workflow.<option>=value`` sets an option of the workflow (e.g. the synchrony
threshold); any other path changes the packaged spec (``synsweep.workflows.studies.overrides``).
``--small`` applies the workflow's own small overrides first (a configuration that runs in seconds).
Everything is validated before anything is computed: a mistake raises ``SpecError``.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import json
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from synsweep.sweeps.errors import SpecError, suggestion

from .overrides import apply_override, parse_assignment, split_overrides

if TYPE_CHECKING:
    import xarray as xr
    from distributed import Client

    from synsweep.sweeps.model import SweepSpec

MANIFEST = "workflow.json"


class WorkflowError(ValueError):
    """A request that cannot be served (unknown workflow, nothing stored to redraw): one paragraph."""


#: workflow name -> the module defining it (imported on first use: the command line stays light)
_MODULES = {
    "coupling-scan": "coupling_scan",
    "coupled-pair": "coupled_pair",
    "chain": "chain",
    "synapse-gallery": "synapse_gallery",
    "psp": "psp",
    "fi-curve": "fi_curve",
    "if-sync": "if_sync",
}
WORKFLOW_NAMES = tuple(_MODULES)


def get_workflow(name: str) -> Workflow:
    """The workflow called ``name``; WorkflowError for an unknown name."""
    module = _MODULES.get(name)
    if module is None:
        raise WorkflowError(f"there is no workflow {name!r}; {suggestion(name, WORKFLOW_NAMES)}")
    return importlib.import_module(f".{module}", __package__).WORKFLOW


@dataclass(frozen=True)
class Workflow:
    """A study of a seed document as data.

    name: the command's name (``coupling-scan``); spec_file: the packaged spec (``workflows/specs/``);
    question: what it answers, one sentence; source: the seed it reproduces.
    draw: writes the figures and tables of a stored run into its folder, returns their paths.
    options: the workflow's own settings (``--set workflow.<name>=value``) with their defaults.
    small: the overrides of ``--small`` (path -> value; ``workflow.<name>`` for options).
    sweeps: how the (overridden) spec document becomes sweeps: ``(document, options) -> [(label,
        document)]``; default: one sweep, labelled by the spec's name.
    check: extra validation of the overridden document and options (raises SpecError), or None.
    """

    name: str
    spec_file: str
    question: str
    source: str
    draw: Callable[[WorkflowRun], list[Path]]
    options: Mapping[str, Any] = field(default_factory=dict)
    small: Mapping[str, Any] = field(default_factory=dict)
    sweeps: Callable[[dict, Mapping[str, Any]], list[tuple[str, dict]]] | None = None
    check: Callable[[dict, Mapping[str, Any]], None] | None = None

    def spec_path(self) -> Path:
        """The packaged spec file."""
        return Path(str(resources.files("synsweep.workflows").joinpath("specs", self.spec_file)))

    def document(self) -> dict:
        """The packaged spec as a mapping (a fresh copy)."""
        return yaml.safe_load(self.spec_path().read_text(encoding="utf-8"))


@dataclass
class WorkflowRun:
    """A workflow's output folder: its stores, the options its figures are drawn with, the files drawn."""

    workflow: Workflow
    out: Path
    options: dict[str, Any]
    stores: dict[str, Path]  # sweep label -> zarr store
    figures: list[Path] = field(default_factory=list)

    def open(self, label: str | None = None) -> xr.Dataset:
        """The stored dataset of sweep ``label`` (default: the only or first one), opened lazily."""
        from synsweep.sweeps import open_result

        return open_result(self.stores[label if label is not None else next(iter(self.stores))])

    def path(self, stem: str, suffix: str) -> Path:
        """``<out>/<stem><suffix>``."""
        return self.out / f"{stem}{suffix}"


@dataclass(frozen=True)
class WorkflowPlan:
    """Everything a run needs, validated: the sweeps (label, spec, store), the options, the overrides."""

    workflow: Workflow
    out: Path
    options: dict[str, Any]
    sweeps: tuple[tuple[str, SweepSpec, Path], ...]
    overrides: tuple[str, ...]
    small: bool


def _assignments(overrides: Iterable[str] | Mapping[str, Any]) -> list[tuple[str, Any]]:
    if isinstance(overrides, Mapping):
        return [(str(k), v) for k, v in overrides.items()]
    return [parse_assignment(text) for text in overrides]


def _describe(overrides: Iterable[str] | Mapping[str, Any]) -> tuple[str, ...]:
    if isinstance(overrides, Mapping):
        return tuple(f"{k}={json.dumps(v)}" for k, v in overrides.items())
    return tuple(overrides)


def plan_workflow(name: str, out: str | Path, overrides: Iterable[str] | Mapping[str, Any] = (), *,
                  small: bool = False) -> WorkflowPlan:
    """Validate a run of workflow ``name`` into ``out``: apply ``small`` and ``overrides`` ("path=value"
    texts, or a mapping path -> value) to the packaged spec, build and load every sweep's spec.

    Raises WorkflowError for an unknown name and SpecError for any mistake in the overrides or the spec.
    """
    from synsweep.sweeps.spec import load_spec
    from synsweep.sweeps.spec.sizing import check_resources

    workflow = get_workflow(name)
    out = Path(out)
    items = (list(workflow.small.items()) if small else []) + _assignments(overrides)
    spec_items, options = split_overrides(workflow.name, items, workflow.options)
    document = workflow.document()
    for path, value in spec_items:
        apply_override(document, path, copy.deepcopy(value))
    if workflow.check is not None:
        workflow.check(document, options)
    sweeps = workflow.sweeps(document, options) if workflow.sweeps else [(str(document.get("name")), document)]
    planned = []
    for label, doc in sweeps:
        spec = load_spec(doc)
        store = out / f"{label}.zarr"
        check_resources(spec, store)
        planned.append((label, spec, store))
    return WorkflowPlan(workflow, out, options, tuple(planned), _describe(overrides), small)


def _complete(spec: SweepSpec, store: Path) -> bool:
    """Whether ``store`` holds every chunk of ``spec`` already (a rerun would compute nothing)."""
    from synsweep.sweeps.store import TRACES_ID, done_chunks, is_store, store_attrs
    from synsweep.sweeps.traces import trace_layout

    if not is_store(store):
        return False
    attrs = store_attrs(store / ".synsweep")
    if attrs.get("spec_hash") != spec.spec_hash:
        return False
    layout = trace_layout(spec)
    wanted = set(range(int(attrs.get("n_chunks", -1))))
    if layout is not None and layout.points is not None:
        wanted.add(TRACES_ID)
    return wanted <= done_chunks(store)


def _check_stores(plan: WorkflowPlan) -> None:
    """StoreError, before any cluster starts, for an existing store that a resume would refuse."""
    from synsweep.sweeps.store import StoreError, is_store, store_attrs

    for _, spec, store in plan.sweeps:
        if not store.exists():
            continue
        held = store_attrs(store / ".synsweep").get("spec_hash") if is_store(store) else None
        if held != spec.spec_hash:
            what = "another spec (other --set values or --small)" if held else "something that is no complete store"
            raise StoreError(f"{store} holds {what}, not the sweep this run computes. Pass --overwrite "
                             "(overwrite=True) to replace it, or choose another --out folder.")


def run_planned(plan: WorkflowPlan, *, client: Client | None = None, scheduler: str | None = None,
                workers: int | None = None, overwrite: bool = False, progress: bool = False,
                on_sweep: Callable[[str, SweepSpec, Path, Any], None] | None = None) -> WorkflowRun:
    """Run the plan's sweeps through the sweep runner, write the manifest and draw the figures.

    Each sweep runs into its store: a new store, or an existing one of the same spec resumed (only
    what is missing is computed); ``overwrite`` recomputes. One cluster serves all sweeps: ``client``,
    else ``Client(scheduler)``, else a local cluster of ``workers`` processes, started only when
    something is left to compute. ``on_sweep(label, spec, store, report)`` is called after each sweep.
    Raises SweepIncomplete when chunks failed (what was computed is kept; a rerun finishes it) and
    StoreError when a store cannot be used (another spec's store: pass ``overwrite``).
    """
    from synsweep.sweeps import runner
    from synsweep.sweeps.client import open_client

    if not overwrite:
        _check_stores(plan)
    plan.out.mkdir(parents=True, exist_ok=True)
    pending = [s for s in plan.sweeps if overwrite or not _complete(s[1], s[2])]
    def one(c: Client | None, label: str, spec: SweepSpec, store: Path) -> None:
        report = runner.execute(spec, store, client=c, resume=store.exists() and not overwrite,
                                overwrite=overwrite, progress=progress)
        runner.raise_if_incomplete(report, spec)
        if on_sweep is not None:
            on_sweep(label, spec, store, report)

    # one cluster for all the sweeps, started only when something is left to compute; the sweeps run at
    # the same time on it (each is a few tasks: one after the other, the other workers would wait)
    with open_client(client, scheduler=scheduler, workers=workers) if pending else contextlib.nullcontext(client) as c:
        with ThreadPoolExecutor(max_workers=max(len(plan.sweeps), 1)) as pool:
            for done in [pool.submit(one, c, *sweep) for sweep in plan.sweeps]:
                done.result()  # the first failure, after every sweep has finished
    manifest = {
        "workflow": plan.workflow.name,
        "options": plan.options,
        "overrides": list(plan.overrides),
        "small": plan.small,
        "stores": {label: store.name for label, _, store in plan.sweeps},
        "spec_hashes": {label: spec.spec_hash for label, spec, _ in plan.sweeps},
    }
    (plan.out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    run = WorkflowRun(plan.workflow, plan.out, dict(plan.options),
                      {label: store for label, _, store in plan.sweeps})
    run.figures = plan.workflow.draw(run)
    return run


def stored_run(out: str | Path, name: str | None = None,
               options: Iterable[str] | Mapping[str, Any] = ()) -> WorkflowRun:
    """The workflow run stored in ``out`` (its manifest), with ``options`` ("workflow.<option>=value")
    replacing the stored ones. ``name``: the workflow expected there (checked). Nothing is drawn."""
    out = Path(out)
    path = out / MANIFEST
    if not path.is_file():
        raise WorkflowError(f"{out} holds no workflow run (no {MANIFEST}); run the workflow into it first, "
                            f"e.g. synsweep workflow {name or 'NAME'} --out {out}")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    workflow = get_workflow(manifest["workflow"])
    if name is not None and get_workflow(name).name != workflow.name:
        raise WorkflowError(f"{out} holds a run of the workflow {workflow.name!r}, not {name!r}; redraw it with "
                            f"synsweep workflow {workflow.name} --redraw --out {out}")
    items = _assignments(options)
    spec_items = [p for p, _ in items if not p.startswith("workflow.")]
    if spec_items:
        raise SpecError(f"--set {spec_items[0]}", "changes the spec, but a redraw only reads the stored results",
                        "run the workflow again with this --set (without --redraw), or set only workflow.<option> "
                        "values when redrawing", where="option")
    defaults = {**workflow.options, **manifest.get("options", {})}
    _, chosen = split_overrides(workflow.name, items, defaults)
    stores = {label: out / store for label, store in manifest["stores"].items()}
    missing = [str(p) for p in stores.values() if not p.exists()]
    if missing:
        raise WorkflowError(f"the stores {', '.join(missing)} listed in {path} are missing; run the workflow "
                            "again to compute them")
    return WorkflowRun(workflow, out, chosen, stores)


def redraw(out: str | Path, name: str | None = None,
           options: Iterable[str] | Mapping[str, Any] = ()) -> WorkflowRun:
    """Draw the figures of the workflow run stored in ``out`` again, from its stores (see ``stored_run``)."""
    run = stored_run(out, name, options)
    run.figures = run.workflow.draw(run)
    path = run.out / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("options") != run.options:  # the figures now show these options
        manifest["options"] = run.options
        path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return run
