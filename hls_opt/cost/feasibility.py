"""Can a model meet its budgets at all?  The bounds the joint RF/pruning solver works within.

* :func:`fastest_timing`: the model's II and latency with every weighted layer at RF 1 under
  Latency (each layer's fastest: its II and latency grow with the RF in every strategy,
  ``backends/fpga.py`` ``kernel_cycles``);
* :func:`smallest_dsp` / :func:`smallest_bram`: every weighted layer at its largest valid reuse
  factor for the unrolled strategy (one multiplier per reuse group), no pruning — or at Resource
  with RF ``n_in·n_out`` when that builds fewer: the unrolled code caps the multipliers at
  ``n_out`` once RF ≥ n_in (``unrolled_codegen.py``, ``mult_limit = ⌈n/min(n_in, RF)⌉``) and drops
  the RF ``n_in·n_out`` (``include_max_rf=False``), while Resource at ``n_in·n_out`` has
  ``block_factor`` 1 (``nnet_dense_resource.h``); BRAM at RF 1 Latency (weights in logic);
* :func:`check_budgets` raises :class:`~hls_opt.errors.InfeasibleBudget` with those numbers before
  any training;
* :func:`rf_timings`: a node's :class:`~hls_opt.cost.timing.Timing` at each valid RF, for the solver.

Each bound is reached on its own; the fastest model and the smallest one are different
configurations, so passing this check does not mean every budget can be met together — that
is the solver's question.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hls_opt.config import Budgets, LayerConfig, Strategy
from hls_opt.cost.backend import Backend, hls4ml_valid_reuse_factors
from hls_opt.cost.registry import get_backend
from hls_opt.cost.tables import input_precision_of, model_timing
from hls_opt.cost.timing import ModelTiming, Timing
from hls_opt.errors import ConfigError, InfeasibleBudget

if TYPE_CHECKING:
    from hls_opt.ir.graph import Graph
    from hls_opt.ir.nodes import Node, WeightedNode

if TYPE_CHECKING:
    from hls_opt.ir.graph import Graph
    from hls_opt.ir.nodes import Node, WeightedNode



def _with(node: Node, strategy: Strategy, rf: int) -> Any:
    cfg: LayerConfig = node.config
    return dataclasses.replace(node, config=dataclasses.replace(cfg, strategy=strategy, reuse_factor=int(rf)))


def rf_timings(backend: str | Backend, node: Node, strategy: Strategy = Strategy.RESOURCE_UNROLLED) -> dict[int, Timing]:
    """``{rf: Timing}`` of ``node`` at every reuse factor ``backend`` accepts for ``strategy``
    (``Backend.valid_reuse_factors``; the unrolled strategy's list excludes 1 and ``n_in·n_out``).
    Closed-form arithmetic per RF: cheap enough to call for every layer of a solver's search."""
    be = get_backend(backend)
    return {rf: be.timing(node, strategy=strategy, reuse_factor=rf) for rf in be.valid_reuse_factors(node, strategy)}


def fewest_dsp_config(backend: Backend, node: WeightedNode, input_precision: Any = None) -> tuple[Strategy, int, int]:
    """``(strategy, RF, DSPs)`` with the fewest DSPs and no pruning: the largest RF the unrolled
    strategy accepts, or Resource at ``n_in·n_out`` when that has fewer (see the module docstring);
    ties go to the unrolled strategy (the one pruning builds)."""
    candidates = []
    valid = backend.valid_reuse_factors(node, Strategy.RESOURCE_UNROLLED)
    if valid:
        candidates.append((Strategy.RESOURCE_UNROLLED, max(valid)))
    candidates.append((Strategy.RESOURCE, max(hls4ml_valid_reuse_factors(node.n_in, node.n_out))))
    scored = [(s, rf, backend.estimate(_with(node, s, rf), input_precision=input_precision).dsp) for s, rf in candidates]
    return min(scored, key=lambda c: c[2])


def _weighted(graph: Graph) -> list[Any]:
    return [n for n in graph.nodes() if getattr(n, "has_kernel", False) and getattr(n, "config", None) is not None]


def fastest_timing(graph: Graph, backend: str | Backend = "vivado") -> ModelTiming:
    """The model's timing with every weighted layer at Latency, RF 1 (the graph is not changed)."""
    return model_timing(_configured(graph, {n.name: (Strategy.LATENCY, 1) for n in _weighted(graph)}), backend)


def _configured(graph: Graph, choice: dict[str, tuple[Strategy, int]]) -> Any:
    """A copy of ``graph`` whose named nodes have the (strategy, RF) of ``choice`` (the schedule
    hls4ml picks depends on the strategies, so the model timing is read off the changed graph)."""
    copy = graph.copy()
    for name, (strategy, rf) in choice.items():
        copy.replace(name, _with(copy.node(name), strategy, rf))
    return copy


def smallest_dsp(graph: Graph, backend: str | Backend = "vivado") -> int:
    """DSPs with every weighted layer at :func:`fewest_dsp_config`, the kernels as they are."""
    be = get_backend(backend)
    return sum(fewest_dsp_config(be, node, input_precision_of(graph, node))[2] for node in _weighted(graph))


def smallest_lut(graph: Graph, backend: str | Backend = "vivado") -> int:
    """LUTs with every weighted layer at :func:`fewest_dsp_config` (the fewest multipliers, hence the
    fewest accumulator adders and LUT products at the configured precisions), plus the other nodes."""
    be = get_backend(backend)
    total = 0
    for node in graph.nodes():
        ip = input_precision_of(graph, node)
        if getattr(node, "has_kernel", False) and getattr(node, "config", None) is not None:
            strategy, rf, _ = fewest_dsp_config(be, node, ip)
            node = _with(node, strategy, rf)
        total += be.estimate(node, input_precision=ip).lut
    return total


def smallest_bram(graph: Graph, backend: str | Backend = "vivado") -> int:
    """BRAMs with every weighted layer at Latency RF 1 (weights in logic, not in a ROM)."""
    be = get_backend(backend)
    total = 0
    weighted = {n.name for n in _weighted(graph)}
    for node in graph.nodes():
        n = _with(node, Strategy.LATENCY, 1) if node.name in weighted else node
        total += be.estimate(n, input_precision=input_precision_of(graph, node)).bram
    return total


@dataclass(frozen=True)
class Bounds:
    """The best the model can reach on each axis alone (see the module docstring)."""

    min_latency: int
    min_ii: int
    min_dsp: int
    min_bram: int
    min_lut: int | None = None


def model_bounds(graph: Graph, backend: str | Backend = "vivado") -> Bounds:
    fast = fastest_timing(graph, backend)
    return Bounds(fast.latency, fast.ii, smallest_dsp(graph, backend), smallest_bram(graph, backend))


def check_budgets(
    graph: Graph, backend: str | Backend, budgets: Budgets, pruned: Any = (), *, precision_note: str = ""
) -> Bounds:
    """Raise :class:`InfeasibleBudget` when a budget is below what the model can reach on that axis
    alone (every violated budget in one message, with the bound and how it is reached); returns
    the bounds otherwise.  ``pruned``: resource fields the pruning reduces (the objective's, when
    their budgets drive the search): their unpruned bound is no limit, and the pruning pass checks the
    all-pruned design instead (:func:`hls_opt.solve.budget_cut.required_cut`), still before any
    training.  ``precision_note`` is appended to the resource bounds (a caller that passes the graph at
    its narrowest candidate precision says so: ``--precision auto``)."""
    note_precision = precision_note
    be = get_backend(backend)
    timing = fastest_timing(graph, be)
    bounds = Bounds(timing.latency, timing.ii, smallest_dsp(graph, be), smallest_bram(graph, be))
    problems = []

    def when(cycles: int) -> str:
        return f"{cycles} cycles ({budgets.ns(cycles):g} ns at {float(budgets.clock_period_ns):g} ns)"

    timed = {"--latency-budget": budgets.latency_cycles, "--ii-budget": budgets.ii_cycles}
    for flag, value in timed.items():
        if value is not None and not timing.known:  # unknown is not 0, nor "met"
            raise ConfigError(
                f"{flag}: the {be.name!r} backend has no timing model, so a latency or II budget cannot "
                "be checked; drop the budget or use an FPGA backend (vivado, oneapi)"
            )
    if timing.not_modelled and (budgets.latency_cycles is not None or budgets.ii_cycles is not None):
        unknown = ", ".join(timing.not_modelled)
        note = f" (without {unknown}: no timing model)"
    else:
        note = ""
    if budgets.latency_cycles is not None and bounds.min_latency > budgets.latency_cycles:
        problems.append(
            f"--latency-budget: {when(budgets.latency_cycles)} is below the smallest latency the model can "
            f"reach, {when(bounds.min_latency)}, every layer at RF 1 (Latency){note}"
        )
    if budgets.ii_cycles is not None and bounds.min_ii > budgets.ii_cycles:
        problems.append(
            f"--ii-budget: {when(budgets.ii_cycles)} is below the smallest II the model can reach, "
            f"{when(bounds.min_ii)}, every layer at RF 1 (Latency){note}"
        )
    dsp, bram = budgets.dsp_limit, budgets.bram_limit
    source = f" ({budgets.device.name})" if budgets.device is not None else ""
    if dsp is not None and bounds.min_dsp > dsp and "dsp" not in pruned:
        flag = "--dsp-budget" if budgets.dsp is not None else f"--device{source}"
        problems.append(
            f"{flag}: {dsp} DSPs is below the smallest DSP count the model can reach without pruning, "
            f"{bounds.min_dsp}, every layer at its largest reuse factor{note_precision}"
        )
    if bram is not None and bounds.min_bram > bram and "bram" not in pruned:
        flag = "--bram-budget" if budgets.bram is not None else f"--device{source}"
        problems.append(
            f"{flag}: {bram} BRAMs is below the smallest BRAM count the model can reach, {bounds.min_bram}"
        )
    lut = budgets.lut_limit
    if lut is not None:
        bounds = dataclasses.replace(bounds, min_lut=smallest_lut(graph, be))
        if bounds.min_lut > lut:
            flag = "--lut-budget" if budgets.lut is not None else f"--device{source}"
            problems.append(
                f"{flag}: {lut} LUTs is below the smallest LUT count the model can reach without pruning, "
                f"{bounds.min_lut}, every layer at its largest reuse factor{note_precision}"
            )
    if problems:
        # the error gives both ends of the trade-off, whichever budget failed
        text = "; ".join(problems)
        if "smallest latency" not in text:
            text += f"; the smallest latency the model can reach is {when(bounds.min_latency)}, every layer at RF 1"
        if "smallest DSP count" not in text:
            text += (
                f"; the smallest DSP count it can reach without pruning is {bounds.min_dsp}, "
                "every layer at its largest reuse factor"
            )
        raise InfeasibleBudget(text)
    return bounds


__all__ = [
    "Bounds",
    "check_budgets",
    "fastest_timing",
    "fewest_dsp_config",
    "model_bounds",
    "rf_timings",
    "smallest_bram",
    "smallest_dsp",
    "smallest_lut",
]
