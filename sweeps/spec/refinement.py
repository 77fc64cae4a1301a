"""The ``refine`` section: the dims refined (default all), levels, criteria, status and budget of an adaptive
refinement (``synsweep.sweeps.refine`` runs it).
"""

from __future__ import annotations

from typing import Any

from synsweep.engine import METRICS, Circuit

from ..errors import listing
from ..model import Criterion, Dim, Refinement
from .checks import as_choice, as_integer, as_list, as_mapping, as_number, check_keys, fail, type_name

REFINE_KEYS = ("dims", "levels", "criteria", "status", "budget")
CRITERION_KEYS = ("metric", "pair", "neuron", "reduce", "threshold", "jump")
REDUCTIONS = ("mean", "min", "max")


def refine_section(raw: Any, dims: tuple[Dim, ...], circuit: Circuit,
            metrics: tuple[str, ...]) -> tuple[Refinement | None, dict[str, Any] | None]:
    """The ``refine`` section: dims to refine (default all), levels, criteria, status, budget."""
    if raw is None:
        return None, None
    example = ("refine: {levels: 5, criteria: [{metric: pearson, pair: n1-n2, threshold: 0.9}], "
               "budget: 10000}")
    m = as_mapping(raw, "refine", f"give the refinement as a mapping, e.g. {example}")
    check_keys(m, "refine", REFINE_KEYS, ("levels",), {"levels": f"give the number of levels, e.g. {example}"})
    names = [d.name for d in dims]
    refined = as_list(m.get("dims", names), "refine.dims", f"list dims to refine, some of {listing(names)}")
    for j, name in enumerate(refined):
        as_choice(name, f"refine.dims[{j}]", names, "dim")
    if not refined or len(set(refined)) != len(refined):
        fail("refine.dims", "must list distinct dims, at least one", f"list some of {listing(names)}")
    levels = as_integer(m["levels"], "refine.levels", "give a whole number of levels >= 1, e.g. levels: 5",
                      "a whole number >= 1", 1, 30)
    step = 1 << levels
    for name in refined:
        size = dims[names.index(name)].size
        if size < step + 1 or (size - 1) % step:
            coarse = max((size - 1) // step, 1)
            fail("refine.levels", f"dim '{name}' has {size} values; with {levels} levels a refined dim needs "
                                   f"m * 2**{levels} + 1 values (e.g. {coarse * step + 1})",
                  f"give '{name}' {coarse * step + 1} values, or fewer levels")
    status = m.get("status", True)
    if not isinstance(status, bool):
        fail("refine.status", f"must be true or false, got {type_name(status)}",
              "write status: true to refine where the status changes between neighbours")
    budget = m.get("budget")
    if budget is not None:
        budget = as_integer(budget, "refine.budget", "give the most points to compute, e.g. budget: 10000",
                          "a whole number of points >= 1", 1)
    cfix = "give criteria as a list, e.g. criteria: [{metric: pearson, pair: n1-n2, threshold: 0.9}]"
    criteria: list[Criterion] = []
    docs: list[dict[str, Any]] = []
    pairs = {f"{a}-{b}" for a, b in circuit.pair_list}
    for j, item in enumerate(as_list(m.get("criteria"), "refine.criteria", cfix, optional=True)):
        field = f"refine.criteria[{j}]"
        c = as_mapping(item, field, cfix)
        check_keys(c, field, CRITERION_KEYS, ("metric",), {"metric": cfix})
        metric = as_choice(c["metric"], f"{field}.metric", list(metrics), "metric of this sweep")
        kind = METRICS[metric].dim
        entity = None
        if kind in ("pair", "neuron"):
            choices = sorted(pairs) if kind == "pair" else list(circuit.neuron_names)
            entity = as_choice(c.get(kind, choices[0] if len(choices) == 1 else None), f"{field}.{kind}", choices,
                             kind)
        reduce = as_choice(c.get("reduce", "mean"), f"{field}.reduce", REDUCTIONS, "reduction")
        threshold = None if c.get("threshold") is None else as_number(c["threshold"], f"{field}.threshold",
                                                                     "give the boundary value, e.g. 0.9")
        jump = None if c.get("jump") is None else as_number(c["jump"], f"{field}.jump",
                                                           "give the largest jump between neighbours, e.g. 0.2")
        if threshold is None and jump is None:
            fail(field, "needs a threshold or a jump", "add threshold: <value> and/or jump: <tolerance>")
        criteria.append(Criterion(metric, entity, reduce, threshold, jump))
        docs.append({"metric": metric, **({kind: entity} if entity is not None else {}), "reduce": reduce,
                     **({"threshold": threshold} if threshold is not None else {}),
                     **({"jump": jump} if jump is not None else {})})
    if not criteria and not status:
        fail("refine", "has no criterion and status: false, so nothing would be refined", cfix)
    doc = {"dims": list(refined), "levels": levels, "criteria": docs, "status": status, "budget": budget}
    return Refinement(tuple(refined), levels, tuple(criteria), status, budget), doc
