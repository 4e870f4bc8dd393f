"""The joint reuse-factor × pruning problem of an IR graph, and its answer as configs + masks.

:func:`build_joint_problem` asks the backend, for every weighted node and every reuse factor the
pruned layer can be built with, what :func:`hls_opt.solve.pruning.build_problem` asks for the configured
one: the node as hls4ml will build it pruned (:meth:`Backend.pruned_node` of the node at that RF:
``ResourceUnrolled`` at a valid RF > 1, or ``Latency`` at RF 1 where the backend says so), its groups
and what one group saves (:func:`hls_opt.solve.pruning.node_groups`, read off the backend's one cost
model) and its unpruned cost.  Timing comes from the caller as ``timing(node) -> (ii, latency)``
(cycles, for the node as built), importance as a kernel-shaped array per layer (a group's value is the
sum over its weights).  :func:`solve_joint_problem` solves it (:func:`hls_opt.solve.rf_dp.solve_rf_choice`)
and returns each layer's chosen config and masks (:func:`hls_opt.solve.pruning.masks_from_selection`).

Nothing here imports Keras.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np

from hls_opt.config import IOType, Strategy
from hls_opt.core.enums import parse_enum
from hls_opt.core.structures import Grouping, StructureType, group_norms
from hls_opt.cost.backend import Backend
from hls_opt.cost.objective import Objective
from hls_opt.cost.tables import input_precision_of
from hls_opt.errors import ConfigError
from hls_opt.solve.pruning import (
    LayerGroups,
    Selection,
    layer_groups,
    masked_estimate,
    masks_from_selection,
    node_groups,
    output_producers,
)
from hls_opt.solve.rf_dp import (
    JointLayer,
    JointSolution,
    LatencyCombine,
    LatencyCombiner,
    SolverMethod,
    make_option,
    solve_rf_choice,
)

if TYPE_CHECKING:
    from hls_opt.ir.graph import Graph
    from hls_opt.ir.nodes import Node


__all__ = [
    "JointChooser",
    "JointPlan",
    "JointProblem",
    "RFMode",
    "build_joint_problem",
    "model_io_type",
    "revalued",
    "rf_candidates",
    "solve_joint_problem",
]

#: ``timing(node) -> (ii, latency)`` in cycles, for the node as it would be built.
Timing = Callable[[Any], tuple[int, int]]


class RFMode(str, Enum):
    """How a latency / II budget sets the reuse factors (``docs/rf_choice.md``).

    ``FIXED``: once, before pruning — the assignment with the fewest resources of the objective
    that meets the budgets unpruned (exact, :func:`hls_opt.solve.rf_dp.solve_rf_choice`); the pruning
    then runs as without a budget, under those RFs.  ``JOINT``: at every pruning step, the RFs and the
    groups to keep together (the solver's value: the kept share of each layer's importance)."""

    FIXED = "fixed"
    JOINT = "joint"

    @classmethod
    def parse(cls, value: Any, key: str = "rf_mode") -> RFMode:
        return parse_enum(cls, value, key, fold=str.lower)


@dataclass(frozen=True)
class JointProblem:
    """``layers`` (one per graph node, topological order; a node without a choice has one option);
    ``nodes[name][k]``: the node as built for option ``k``; ``groups[name][k]``: its groups (None when
    pruning it saves nothing of the objective); ``resource_names``: the objective's fields."""

    layers: tuple[JointLayer, ...]
    nodes: Mapping[str, tuple[Any, ...]]
    groups: Mapping[str, tuple[LayerGroups | None, ...]]
    kernels: Mapping[str, np.ndarray]
    resource_names: tuple[str, ...]


@dataclass(frozen=True)
class JointPlan:
    """The answer: ``solution`` (the solver's), per layer the chosen ``configs`` and ``reuse_factors``,
    kernel-shaped ``masks`` (1 keep / 0 prune) for the layers with groups, and the same choice as a
    :class:`~hls_opt.solve.pruning.Selection` over the chosen ``groups`` (nothing shared)."""

    solution: JointSolution
    configs: dict[str, Any]
    reuse_factors: dict[str, int]
    masks: dict[str, np.ndarray]
    groups: dict[str, LayerGroups]
    selection: Selection | None = None


def _fields(vector: Any, fields: tuple[str, ...]) -> np.ndarray:
    return np.array([vector[f] for f in fields], dtype=np.float64)


def rf_candidates(backend: Backend, node: Node, io_type: IOType | None = None) -> list[Any]:
    """The distinct ways ``node`` can be built pruned: for RF 1 and every RF the unrolled strategy
    accepts (:meth:`Backend.valid_reuse_factors`), the node at that RF as :meth:`Backend.pruned_node`
    builds it (FPGA: ``ResourceUnrolled`` at RF > 1, ``Latency`` at RF 1), without duplicates.

    The IO type is model-wide in hls4ml: with ``io_type`` given every candidate is built with it and
    those the backend can only build with another one are left out (a convolution is unrolled only
    under io_stream, ``vivado_backend.py`` ``init_conv1d`` / ``init_conv2d``; under io_parallel it keeps
    its Latency RF-1 option)."""
    cfg = getattr(node, "config", None)
    if cfg is None:
        return [node]
    if not getattr(node, "has_kernel", False):
        # A layer without weights has nothing to choose, but hls4ml's top function is pipelined at
        # II = the largest ``reuse_factor`` of *every* layer, the input and activations included
        # (``backends/vivado/passes/pipeline_style.py`` ``_maybe_set_pipeline_resource_unrolled_strategy``),
        # which they take from ``Model.ReuseFactor``: under a budget they are built at RF 1 (their
        # hardware does not depend on it), so that the model II is the weighted layers' (docs/rf_choice.md).
        if getattr(node, "weights", None) or int(cfg.reuse_factor) == 1:
            return [node]
        return [dataclasses.replace(node, config=dataclasses.replace(cfg, reuse_factor=1))]
    rfs = sorted({1, *backend.valid_reuse_factors(node, Strategy.RESOURCE_UNROLLED)})
    out, seen = [], set()
    for rf in rfs:
        changes: dict[str, Any] = {"reuse_factor": int(rf)}
        if io_type is not None:
            changes["io_type"] = io_type
        built = backend.pruned_node(dataclasses.replace(node, config=dataclasses.replace(node.config, **changes)))
        if io_type is not None and built.config.io_type is not io_type:
            continue
        key = (built.config.strategy, built.config.reuse_factor, built.config.io_type)
        if key not in seen:
            seen.add(key)
            out.append(built)
    return out


def model_io_type(graph: Graph) -> IOType | None:
    """The IO type the graph's weighted layers are configured with (None without any); a graph whose
    layers disagree is a ConfigError (hls4ml takes one IO type per model)."""
    found = {n.config.io_type for n in graph.nodes() if getattr(n, "has_kernel", False) and n.config is not None}
    if len(found) > 1:
        raise ConfigError(f"IOType: the layers disagree ({sorted(t.value for t in found)}); hls4ml takes one per model")
    return next(iter(found), None)


def _timing(timing: Timing, node: Node) -> tuple[int, int]:
    try:
        ii, lat = timing(node)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"layer {node.name}: timing(node) must return (ii, latency) in cycles ({exc})") from None
    vals = []
    for what, x in (("ii", ii), ("latency", lat)):
        if isinstance(x, bool) or not isinstance(x, (int, np.integer, float, np.floating)) or x < 0 or x != int(x):
            raise ConfigError(f"layer {node.name}: timing {what} must be a non-negative whole number of cycles, got {x!r}")
        vals.append(int(x))
    return vals[0], vals[1]


def _integral(x: np.ndarray, where: str) -> np.ndarray:
    r = np.rint(x)
    if np.any(np.abs(r - x) > 1e-9):
        raise ConfigError(f"{where}: the backend gave non-integer resources {x.tolist()}")
    return r.astype(np.int64)


def build_joint_problem(
    graph: Graph,
    backend: Backend,
    objective: Objective,
    timing: Timing,
    importances: Mapping[str, np.ndarray] | None = None,
    *,
    io_type: IOType | None = None,
) -> JointProblem:
    """The joint problem of ``graph`` (see the module docstring).

    ``importances[name]``: kernel-shaped, ≥ 0 (default ``|kernel|``).  Every node of the graph is a
    layer of the problem (a node without a kernel has one option: its own timing and cost), so the
    model latency is the combination of every node's.  ``io_type``: the model's IO type every option
    is built with (default: the one the layers are configured with, :func:`model_io_type`); pass
    ``IOType.STREAM`` to let convolutions be unrolled (the whole model switches, as the
    ``unrolled-rewrite`` pass does).
    """
    if io_type is None:
        io_type = model_io_type(graph)
    outputs = output_producers(graph)
    fields = tuple(objective.resources)
    layers, nodes, groups, kernels = [], {}, {}, {}
    importances = importances or {}
    weighted = {n.name for n in graph.nodes() if getattr(n, "has_kernel", False)}
    unknown = sorted(set(importances) - weighted)
    if unknown:
        raise ConfigError(f"importances: no weighted layer named {', '.join(map(repr, unknown))} in the graph")
    for node in graph.nodes():
        ip = input_precision_of(graph, node)
        built_list = rf_candidates(backend, node, io_type)
        options, node_list, group_list = [], [], []
        for k, built in enumerate(built_list):
            where = f"layer {node.name} option {k} ({_label(built)})"
            ii, lat = _timing(timing, built)
            g = None
            if getattr(built, "has_kernel", False):
                g = node_groups(backend, built, objective, ip, is_output=node.name in outputs)
            if g is None:
                kernel = np.ones(built.kernel.shape, np.float32) if getattr(built, "has_kernel", False) else None
                base = _integral(_fields(backend.estimate(built, kernel, ip), fields), where)
                options.append(make_option(_label(built), lat, ii, base, np.zeros(0), np.zeros(len(fields)), where=where))
            else:
                imp = np.abs(np.asarray(importances.get(node.name, node.kernel), dtype=np.float64))
                if imp.shape != tuple(node.kernel.shape) or not np.all(np.isfinite(imp)):
                    raise ConfigError(
                        f"importances[{node.name!r}]: expected finite values of the kernel's shape "
                        f"{tuple(node.kernel.shape)}, got shape {imp.shape}"
                    )
                values = group_norms(imp, g.ids, g.n_groups, p=1)
                options.append(
                    make_option(
                        _label(built), lat, ii, _integral(g.resources, where), values,
                        _integral(g.savings, where), where=where,
                    )
                )
            node_list.append(built)
            group_list.append(g)
        layers.append(JointLayer(node.name, tuple(options)))
        nodes[node.name] = tuple(node_list)
        groups[node.name] = tuple(group_list)
        if getattr(node, "has_kernel", False):
            kernels[node.name] = np.asarray(node.kernel)
    return JointProblem(tuple(layers), nodes, groups, kernels, fields)


def _label(node: Node) -> Any:
    cfg = getattr(node, "config", None)
    if cfg is None:
        return None
    return (cfg.strategy.value, int(cfg.reuse_factor))


def solve_joint_problem(
    problem: JointProblem,
    target: Any,
    latency_budget: Any,
    *,
    ii_budget: Any = None,
    combiner: LatencyCombiner = LatencyCombine.SUM,
    method: SolverMethod | str = SolverMethod.AUTO,
    **limits: Any,
) -> JointPlan:
    """Solve ``problem`` (:func:`hls_opt.solve.rf_dp.solve_rf_choice`; ``target`` in the objective's
    units, field order ``problem.resource_names``) and turn the answer into per-layer configs and masks."""
    sol = solve_rf_choice(
        problem.layers, target, latency_budget, ii_budget=ii_budget, combiner=combiner, method=method, **limits
    )
    configs, rfs, chosen_groups, keep = {}, {}, {}, {}
    for layer, k, kp in zip(problem.layers, sol.choice, sol.keep):
        node = problem.nodes[layer.name][k]
        cfg = getattr(node, "config", None)
        if cfg is not None:
            configs[layer.name] = cfg
            rfs[layer.name] = int(cfg.reuse_factor)
        g = problem.groups[layer.name][k]
        if g is not None:
            chosen_groups[layer.name] = g
            keep[layer.name] = np.asarray(kp, bool)
    selection = Selection(keep, {n: np.zeros_like(v) for n, v in keep.items()})
    masks, _ = masks_from_selection(problem.kernels, list(chosen_groups.values()), selection)
    return JointPlan(sol, configs, rfs, masks, chosen_groups, selection)


# --------------------------------------------------------------------------------------------
# The chooser the optimization loop drives (one problem, re-valued at every step)


def revalued(problem: JointProblem, importances: Mapping[str, np.ndarray]) -> JointProblem:
    """``problem`` with every group's value recomputed from kernel-shaped ``importances`` (a group's
    value is the sum over its weights); layers without an entry keep their values."""
    layers = []
    for layer in problem.layers:
        imp = importances.get(layer.name)
        if imp is None:
            layers.append(layer)
            continue
        imp = np.abs(np.asarray(imp, dtype=np.float64))
        if not np.all(np.isfinite(imp)):
            raise ConfigError(f"importances[{layer.name!r}]: not finite")
        options = []
        for option, g in zip(layer.options, problem.groups[layer.name]):
            if g is None:
                options.append(option)
                continue
            if imp.shape != tuple(g.kernel_shape):
                raise ConfigError(
                    f"importances[{layer.name!r}]: expected the kernel's shape {tuple(g.kernel_shape)}, got {imp.shape}"
                )
            options.append(dataclasses.replace(option, values=group_norms(imp, g.ids, g.n_groups, p=1)))
        layers.append(JointLayer(layer.name, tuple(options)))
    return dataclasses.replace(problem, layers=tuple(layers))


@dataclass
class JointChooser:
    """The joint problem of one graph under latency / II budgets, built once (the options' groups,
    costs and timings do not depend on the weights); :meth:`choose` re-values it for the current
    weights and solves it for a step's sparsity.

    ``baseline``: the fewest resources of the objective the model reaches **without pruning** under
    the budgets (every layer at the RF the solver picks when everything is kept); a step's sparsity
    ``s`` asks for at most ``(1 − s) · baseline``.  ``floor``: the fewest it reaches pruning every group
    it may (a deeper target is clamped to it)."""

    graph: Graph
    backend: Backend
    objective: Objective
    problem: JointProblem
    latency_budget: int | None
    ii_budget: int | None
    combiner: Any = LatencyCombine.SUM
    baseline: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    floor: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))

    @classmethod
    def build(
        cls,
        graph: Graph,
        backend: Backend,
        objective: Objective,
        timing: Timing,
        *,
        latency_budget: int | None,
        ii_budget: int | None = None,
        combiner: LatencyCombiner = LatencyCombine.SUM,
        io_type: IOType | None = None,
    ) -> JointChooser:
        problem = build_joint_problem(graph, backend, objective, timing, io_type=io_type)
        chooser = cls(graph, backend, objective, problem, latency_budget, ii_budget, combiner)
        ceiling = np.array(
            [sum(max(int(o.base[i]) for o in layer.options) for layer in problem.layers) for i in range(len(problem.resource_names))],
            dtype=np.float64,
        )
        # Every weight worth 1 (a group is worth its size, the same total under every RF): keeping all
        # is the only optimum, and the tie-break (fewer resources) picks the cheapest unpruned RF
        # assignment within the budgets.
        ones = revalued(problem, {name: np.ones_like(k, dtype=np.float64) for name, k in problem.kernels.items()})
        chooser.baseline = np.asarray(chooser._solve(ones, ceiling).solution.resources, dtype=np.float64)
        # Every group worth 0: the tie-break prunes everything it may.
        zeros = revalued(problem, {name: np.zeros_like(k) for name, k in problem.kernels.items()})
        chooser.floor = np.asarray(chooser._solve(zeros, ceiling).solution.resources, dtype=np.float64)
        return chooser

    def _budget(self) -> int:
        if self.latency_budget is not None:
            return int(self.latency_budget)
        # no latency budget (II only): any latency
        return int(sum(max(o.latency for o in layer.options) for layer in self.problem.layers))

    def _solve(self, problem: JointProblem, target: np.ndarray) -> JointPlan:
        return solve_joint_problem(
            problem, target, self._budget(), ii_budget=self.ii_budget, combiner=self.combiner
        )

    def target(self, sparsity: float) -> np.ndarray:
        """The kept-resource target for ``sparsity`` (clamped to what the budgets let pruning reach)."""
        return np.maximum(np.floor((1.0 - float(sparsity)) * self.baseline + 1e-9), self.floor)

    def choose(self, importances: Mapping[str, np.ndarray], sparsity: float) -> JointPlan:
        """The RF of every layer and the groups to keep for ``sparsity``, valued by ``importances``."""
        return self._solve(revalued(self.problem, importances), self.target(sparsity))

    def chosen_graph(self, plan: JointPlan | Mapping[str, Any]) -> Any:
        """A copy of the graph with every layer at the plan's config (or ``{name: LayerConfig}``),
        weights unchanged."""
        configs = plan.configs if isinstance(plan, JointPlan) else plan
        graph = self.graph.copy()
        for name, cfg in configs.items():
            graph.replace(name, dataclasses.replace(graph.node(name), config=cfg))
        return graph

    def uniform_configs(self) -> dict[str, Any] | None:
        """Every layer's config (those without weights at RF 1) for the largest single reuse factor ``r`` whose unpruned design
        meets the budgets (each layer at the largest of its options' RFs not above ``r``; RF 1 is
        Latency), or None when none does: the design a user sweeping one RF by hand would pick."""
        layers = self.problem.layers
        rfs = sorted({o.label[1] for layer in layers for o in layer.options if o.label is not None})
        best = None
        for r in rfs:
            choice = []
            for layer in layers:
                ks = [k for k, o in enumerate(layer.options) if o.label is not None and o.label[1] <= r]
                choice.append(max(ks, key=lambda k: layer.options[k].label[1]) if ks else 0)
            latency = sum(layer.options[k].latency for layer, k in zip(layers, choice))
            ii = max(layer.options[k].ii for layer, k in zip(layers, choice))
            if latency <= self._budget() and (self.ii_budget is None or ii <= self.ii_budget):
                best = choice
        if best is None:
            return None
        return {
            layer.name: self.problem.nodes[layer.name][k].config
            for layer, k in zip(layers, best)
            if self.problem.nodes[layer.name][k].config is not None
        }

    @property
    def prunable(self) -> tuple[str, ...]:
        """The layers some option of which has groups (the ones the optimizer may mask)."""
        return tuple(name for name, gs in self.problem.groups.items() if any(g is not None for g in gs))

    def weight_groups(self) -> list[LayerGroups]:
        """One group per weight of every prunable layer: ranking them gives per-weight importances
        (:meth:`importances`), which every option's grouping then sums."""
        m = len(self.objective.resources)
        return [
            layer_groups(name, tuple(self.problem.kernels[name].shape), Grouping(StructureType.UNSTRUCTURED), np.zeros(m), np.zeros(m))
            for name in self.prunable
        ]

    @staticmethod
    def importances(groups: list[LayerGroups], values: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Kernel-shaped per-weight importances from the ranking's values of :meth:`weight_groups`,
        each layer's scaled to sum to 1: the solver then keeps shares of layers, so that a layer whose
        weights cost more per weight (a low RF) is not emptied first (measured: raw magnitudes empty
        whole layers, ``docs/rf_choice.md``)."""
        out = {}
        for g in groups:
            imp = np.asarray(values[g.name][0], dtype=np.float64)[g.ids]
            total = float(imp.sum())
            out[g.name] = imp / total if total > 0 else imp
        return out

    def achieved(self, plan: JointPlan, masks: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """The backend's estimate (objective units) of the model at the plan's configs with ``masks``
        (default: the plan's) — the one cost model, not the solver's sums
        (:func:`hls_opt.solve.pruning.masked_estimate` of the chosen graph)."""
        masks = plan.masks if masks is None else masks
        return masked_estimate(self.chosen_graph(plan), self.backend, self.objective, masks)
