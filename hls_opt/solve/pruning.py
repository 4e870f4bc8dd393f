"""Which weight groups to keep: the knapsack problem, built from the IR and the backend's cost model.

:func:`build_problem` turns a :class:`~hls_opt.ir.graph.Graph`, a registered backend and an
:class:`~hls_opt.cost.objective.Objective` into a :class:`PruningProblem`:

* for every weighted node, the node as hls4ml will build it once pruned
  (:meth:`Backend.pruned_node`), the finest weight structure whose groups that hardware really
  skips and what one group saves (:meth:`Backend.pruning_grouping`, read off
  :meth:`Backend.estimate`);
* the model's resources and, for any set of masks, the backend's estimate of the masked graph
  (:meth:`PruningProblem.achieved`), so the optimizer's steps, ``estimate`` and the report are one
  cost model.

:func:`select_groups` solves the knapsack (:func:`hls_opt.solve.knapsack.solve_knapsack`) for a target
sparsity; :func:`masks_from_selection` turns the choice into kernel-shaped masks.  Nothing here
imports Keras: group values (the ranking) come from the trainer as plain arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from hls_opt.core.structures import (
    Grouping,
    StructureType,
    expand_group_mask,
    group_means,
    group_sizes,
)
from hls_opt.cost.backend import Backend
from hls_opt.cost.objective import Objective
from hls_opt.cost.tables import input_precision_of
from hls_opt.errors import DataError
from hls_opt.solve.knapsack import KnapsackMethod, solve_knapsack

if TYPE_CHECKING:
    from hls_opt.ir.graph import Graph
    from hls_opt.ir.nodes import WeightedNode



@dataclass
class LayerGroups:
    """The weight groups of one optimizable layer.

    ``ids`` has the kernel's shape (group id of every weight); ``savings`` is the resource vector
    one group saves, shape ``(M,)`` in the objective's units; ``resources`` the layer's full
    resource vector, shape ``(M,)``.
    """

    name: str
    kernel_shape: tuple[int, ...]
    structure: StructureType
    ids: np.ndarray
    n_groups: int
    savings: np.ndarray
    resources: np.ndarray
    pruning: bool
    sharing: bool
    sizes: np.ndarray = field(default_factory=lambda: np.zeros(0))
    grouping: Grouping | None = None


def layer_groups(
    name: str,
    kernel_shape: tuple[int, ...],
    grouping: Grouping,
    savings: Any,
    resources: Any,
    *,
    pruning: bool = True,
    sharing: bool = False,
) -> LayerGroups:
    """A :class:`LayerGroups` with its ids and sizes computed from ``grouping``."""
    ids, n = grouping.ids(tuple(kernel_shape))
    return LayerGroups(
        name=name,
        kernel_shape=tuple(int(d) for d in kernel_shape),
        structure=grouping.structure,
        ids=ids,
        n_groups=n,
        savings=np.asarray(savings, dtype=np.float64),
        resources=np.asarray(resources, dtype=np.float64),
        pruning=bool(pruning),
        sharing=bool(sharing),
        sizes=group_sizes(ids, n),
        grouping=grouping,
    )


@dataclass(frozen=True)
class PruningProblem:
    """What the optimization loop needs to know about the hardware, and nothing about Keras.

    ``groups``: the optimizable layers' groups; ``resource_names``: the objective's resources;
    ``baseline``: the model's resources before pruning (objective units); ``achieved_fn``: the
    model's resources under a dict of kernel-shaped masks; ``reduce_structures``: remove pruned
    neurons from the returned model (the saving needs it, e.g. GPU FLOPs); ``joint``: see below.
    """

    label: str
    resource_names: tuple[str, ...]
    groups: tuple[LayerGroups, ...]
    baseline: np.ndarray
    achieved_fn: Callable[[Mapping[str, np.ndarray]], np.ndarray]
    reduce_structures: bool = False
    #: a :class:`~hls_opt.solve.rf_problem.JointChooser` when latency / II budgets let the optimizer pick
    #: every layer's reuse factor with the pruning (docs/rf_choice.md); None: the configured RFs are kept
    joint: Any = None

    def achieved(self, masks: Mapping[str, np.ndarray]) -> np.ndarray:
        """The model's resources (objective units, shape ``(M,)``) with ``masks`` applied."""
        return np.asarray(self.achieved_fn(masks), dtype=np.float64)


def _fields(vector: Any, fields: tuple[str, ...]) -> np.ndarray:
    return np.array([vector[f] for f in fields], dtype=np.float64)


def output_producers(graph: Graph) -> set[str]:
    """Weighted nodes whose outputs (neurons / filters) are the model's outputs: walking back from
    every node without successors through nodes without a kernel."""
    found: set[str] = set()
    stack = [n for n in graph.nodes() if not graph.successors(n)]
    seen: set[str] = set()
    while stack:
        node = stack.pop()
        if node.name in seen:
            continue
        seen.add(node.name)
        if getattr(node, "has_kernel", False):
            found.add(node.name)
            continue
        stack.extend(graph.predecessors(node))
    return found


def node_groups(
    backend: Backend, node: WeightedNode, objective: Objective, input_precision: Any = None, *, is_output: bool = False
) -> LayerGroups | None:
    """The groups of one weighted node under ``objective`` on ``backend``, or None when pruning it
    saves nothing of the objective (or would remove output neurons)."""
    if not getattr(node, "has_kernel", False):
        return None
    # A resource the layer does not use now cannot be saved (a Latency layer keeps its weights
    # in logic: pruning it for BRAM would only move them into a ROM).
    now = backend.estimate(node, None, input_precision)
    live = tuple(f for f in objective.resources if now[f] > 0)
    if not live:
        return None
    target = backend.pruned_node(node)
    found = backend.pruning_grouping(target, live, input_precision)
    if found is None:
        return None
    grouping = found[0]
    savings = backend.group_savings(target, grouping, objective.resources, input_precision)
    savings = np.where([f in live for f in objective.resources], savings, 0.0)
    if is_output and grouping.structure is StructureType.STRUCTURED:
        return None  # removing an output neuron would drop an output of the model
    ones = np.ones(node.kernel.shape, dtype=np.float32)
    resources = _fields(backend.estimate(target, ones, input_precision), objective.resources)
    return layer_groups(node.name, tuple(node.kernel.shape), grouping, savings, resources)


def masked_estimate(
    graph: Graph, backend: Backend, objective: Objective, masks: Mapping[str, np.ndarray]
) -> np.ndarray:
    """The backend's estimate of the model with ``masks`` applied (objective units): each node whose
    mask zeroes a weight is estimated as hls4ml will build it pruned (:meth:`Backend.pruned_node`)."""
    total = np.zeros(len(objective.resources))
    for node in graph.nodes():
        ip = input_precision_of(graph, node)
        mask = masks.get(node.name)
        if mask is None or not getattr(node, "has_kernel", False) or np.all(mask != 0):
            total += _fields(backend.estimate(node, None, ip), objective.resources)
            continue
        kernel = (np.asarray(node.kernel) != 0) * np.asarray(mask)
        total += _fields(backend.estimate(backend.pruned_node(node), kernel, ip), objective.resources)
    return total


def build_problem(graph: Graph, backend: Backend, objective: Objective) -> PruningProblem:
    """The knapsack problem of ``graph`` for ``objective`` on ``backend`` (see the module docstring)."""
    outputs = output_producers(graph)
    groups = []
    for node in graph.nodes():
        g = node_groups(
            backend, node, objective, input_precision_of(graph, node), is_output=node.name in outputs
        )
        if g is not None:
            groups.append(g)
    frozen = graph.copy()
    return PruningProblem(
        label=objective.label,
        resource_names=tuple(objective.resources),
        groups=tuple(groups),
        baseline=masked_estimate(frozen, backend, objective, {}),
        achieved_fn=lambda masks: masked_estimate(frozen, backend, objective, masks),
        reduce_structures=objective.reduce_structures,
    )


class ProblemSource(Protocol):
    """An objective that builds its own problem: the edge's adapter for a user's hls4ml-style estimator
    (``hls_opt.objectives.adapter.EstimatorObjective``)."""

    label: str
    reduce_structures: bool

    def build_problem(self, graph: Graph, backend: Backend) -> PruningProblem: ...


#: What a run optimizes: a native objective (costs from the backend) or an adapter that builds its problem.
ObjectiveLike = Objective | ProblemSource


def problem_for(graph: Graph, backend: Backend, objective: ObjectiveLike) -> PruningProblem:
    """The problem for ``objective``: an :class:`~hls_opt.cost.objective.Objective` (the backend's cost
    model), or an adapter made at the edge that has ``build_problem(graph, backend)`` (an
    hls4ml-style estimator class, :class:`hls_opt.keras.api.EstimatorObjective`)."""
    if isinstance(objective, Objective):
        return build_problem(graph, backend, objective)
    build = getattr(objective, "build_problem", None)
    if not callable(build):
        raise TypeError(f"objective: expected an Objective or an adapter with build_problem(), got {objective!r}")
    return build(graph, backend)


# --------------------------------------------------------------------------------------------
# Selection (the knapsack)


@dataclass
class Selection:
    """Per layer: ``keep`` (bool per group) and ``shared`` (bool per group, frozen at the group mean)."""

    keep: dict[str, np.ndarray]
    shared: dict[str, np.ndarray]


def select_groups(
    groups: Any,
    values: Mapping[str, tuple[np.ndarray, np.ndarray | None]],
    sparsity: float,
    *,
    local: bool = False,
    knapsack_solver: KnapsackMethod | str = KnapsackMethod.AUTO,
) -> Selection:
    """Keep the most valuable groups within ``(1 - sparsity)`` of the savable resources.

    ``values[name] = (prune_value, share_value)``: the value lost by pruning each group and (if
    the layer allows weight sharing) by sharing it instead, both shape ``(n_groups,)``, ≥ 0.
    The knapsack keeps groups (value = the value of keeping the group = the cheaper of the two
    losses we avoid) subject to Σ savings of kept groups ≤ ⌊(1 − s) · Σ savings of all groups⌋
    per resource dimension.  Only savable resources count: groups that save nothing are always
    kept and do not enlarge the budget (hls4ml's budget counts the unsavable ones too, which makes
    its targets unreachable).  An unkept group is shared when sharing is allowed and loses less
    than pruning, else pruned.  ``local``: one knapsack per layer instead of one global one.
    """
    groups = list(groups)
    sparsity = float(sparsity)
    keep = {g.name: np.ones(g.n_groups, dtype=bool) for g in groups}
    shared = {g.name: np.zeros(g.n_groups, dtype=bool) for g in groups}
    if sparsity <= 0:
        return Selection(keep, shared)

    def item_value(g: LayerGroups) -> tuple[np.ndarray, np.ndarray]:
        prune_v, share_v = values[g.name]
        prune_v = np.asarray(prune_v, dtype=np.float64)
        inf = np.full(g.n_groups, np.inf)
        pv = prune_v if g.pruning else inf
        sv = np.asarray(share_v, dtype=np.float64) if (g.sharing and share_v is not None) else inf
        use_share = sv < pv
        return np.where(use_share, sv, pv), use_share

    problems = [[g] for g in groups] if local else [groups]
    for members in problems:
        item_layer, item_group, vals, wts, share_flags = [], [], [], [], []
        for g in members:
            if not np.any(g.savings > 0) or not (g.pruning or g.sharing):
                continue
            v, use_share = item_value(g)
            bad = int(np.sum(~np.isfinite(v)))
            if bad:  # NaN/inf weights (diverged training) or a NaN gradient / curvature estimate
                raise DataError(f"layer {g.name}: the ranking gave {bad} non-finite value(s)")
            item_layer += [g.name] * g.n_groups
            item_group.append(np.arange(g.n_groups))
            vals.append(v)
            wts.append(np.repeat(g.savings[:, None], g.n_groups, axis=1))
            share_flags.append(use_share)
        if not vals:
            continue
        v = np.concatenate(vals)
        w = np.concatenate(wts, axis=1).astype(np.int64)
        ids = np.concatenate(item_group)
        flags = np.concatenate(share_flags)
        capacity = np.floor((1.0 - sparsity) * w.sum(axis=1) + 1e-9).astype(np.int64)
        kept = np.zeros(v.size, dtype=bool)
        _, selected = solve_knapsack(v, w, capacity, implementation=knapsack_solver)
        kept[np.asarray(selected, dtype=np.int64)] = True
        names = np.asarray(item_layer)
        for g in members:
            sel = names == g.name
            if not np.any(sel):
                continue
            k = kept[sel]
            gi = ids[sel]
            keep[g.name][gi] = k
            shared[g.name][gi] = ~k & flags[sel]
    return Selection(keep, shared)


def masks_from_selection(
    kernels: Mapping[str, np.ndarray], groups: Any, selection: Selection
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Kernel-shaped float32 masks (1 keep, 0 frozen) and offsets (group mean where shared, else 0).

    ``kernels[name]`` is the layer's current kernel (read only for shared groups' means).
    """
    masks, offsets = {}, {}
    for g in groups:
        keep = selection.keep[g.name]
        shared = selection.shared[g.name]
        masks[g.name] = expand_group_mask(keep, g.ids)
        offset = np.zeros(g.kernel_shape, dtype=np.float32)
        if np.any(shared):
            means = group_means(np.asarray(kernels[g.name]), g.ids, g.n_groups, g.sizes)
            offset = np.where(shared[g.ids], means[g.ids], 0.0).astype(np.float32)
        offsets[g.name] = offset
    return masks, offsets


def selection_counts(selection: Selection) -> tuple[int, int]:
    """``(pruned groups, shared groups)`` of a selection."""
    shared = int(sum(int(np.sum(v)) for v in selection.shared.values()))
    pruned = int(sum(int(np.sum(~selection.keep[n] & ~selection.shared[n])) for n in selection.keep))
    return pruned, shared


__all__ = [
    "LayerGroups",
    "PruningProblem",
    "Selection",
    "build_problem",
    "layer_groups",
    "masked_estimate",
    "masks_from_selection",
    "node_groups",
    "output_producers",
    "problem_for",
    "select_groups",
    "selection_counts",
]
