"""The pass registry and the pass base class.

A pass is a small class with a kebab-case ``name`` and ``apply(graph) -> PassResult``: whether it
changed the graph, and notes for the report.  Passes are registered by name, so a flow is a plain
list of names (as in hls4ml's optimizer flows and xDSL's pass registry).  Every pass of a run gets
the same :class:`PassContext`, which holds the run's *settings* only (objective, scheduler, data,
training options, backend); what a pass decides is written on the graph (its nodes, and
``graph.annotations`` — e.g. the :class:`~hls_opt.passes.plan.PruningPlan` of ``dsp-aware-pruning``),
where the next pass reads it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from hls_opt.errors import RegistryError

if TYPE_CHECKING:
    from hls_opt.config import Device
    from hls_opt.config.budgets import Budgets
    from hls_opt.config.precision_search import PrecisionSearch
    from hls_opt.data.sources import DataStreams
    from hls_opt.ir.graph import Graph
    from hls_opt.solve.pruning import ObjectiveLike
    from hls_opt.solve.rf_problem import RFMode
    from hls_opt.train.engine import FineTuneOptions
    from hls_opt.train.schedulers import OptimizationScheduler


logger = logging.getLogger(__name__)

_KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class PassContext:
    """Settings of one run (read-only for passes).

    ``objective``: an :class:`~hls_opt.cost.objective.Objective`, or an adapter with
    ``build_problem(graph, backend)`` (an hls4ml-style estimator adapted at the edge);
    ``scheduler``: an hls4ml-style sparsity scheduler (None: the default);
    ``data``: :class:`~hls_opt.data.DataStreams` (or anything :func:`~hls_opt.data.load_data` takes) or ``None`` (one-shot pruning);
    ``training``: :class:`~hls_opt.train.engine.FineTuneOptions` (needed with data; its
    ``ranking``, ``local`` and ``knapsack_solver`` also steer one-shot pruning);
    ``budgets``: :class:`~hls_opt.config.Budgets` or None; with a latency or II budget
    ``dsp-aware-pruning`` chooses every layer's reuse factor with the pruning (docs/rf_choice.md), as
    ``rf_mode`` (:class:`~hls_opt.solve.rf_problem.RFMode`) says;
    ``quantize``: fine-tune under fake quantization to the graph's types (each node's ``LayerConfig``:
    what hls4ml's C++ computes; ``hls_opt.train.quantize``), docs/precision.md.
    """

    backend: str = "vivado"
    objective: ObjectiveLike | None = None
    scheduler: OptimizationScheduler | None = None
    data: DataStreams | None = None
    training: FineTuneOptions | None = None
    budgets: Budgets | None = None
    rf_mode: RFMode | None = None
    quantize: bool = False
    #: drives ``precision-search`` (:class:`~hls_opt.config.precision_search.PrecisionSearch`); with
    #: ``fit_device`` (a :class:`~hls_opt.config.Device`) its objective is the ``fit`` one
    precision: PrecisionSearch | None = None
    fit_device: Device | None = None


@dataclass(frozen=True)
class PassResult:
    """What a pass did: ``changed`` is true only when the graph changed; ``notes`` go to the report."""

    changed: bool
    notes: tuple[str, ...] = ()


class Pass:
    """Base class: subclasses set ``name`` and implement :meth:`apply`."""

    name: ClassVar[str] = ""

    def __init__(self, context: PassContext | None = None) -> None:
        self.context = context if context is not None else PassContext()

    def apply(self, graph: Graph) -> PassResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<pass {self.name}>"


_REGISTRY: dict[str, type[Pass]] = {}


def register_pass(cls: type[Pass]) -> type[Pass]:
    """Class decorator: register ``cls`` under ``cls.name``.  Bad or clashing names raise RegistryError."""
    name = getattr(cls, "name", "")
    if not isinstance(name, str) or not _KEBAB.match(name):
        raise RegistryError(f"pass {cls.__name__}: name {name!r} is not kebab-case")
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not cls:
        raise RegistryError(
            f"pass {name!r}: already registered by {existing.__module__}.{existing.__qualname__}"
        )
    _REGISTRY[name] = cls
    return cls


def unregister_pass(name: str) -> None:
    """Remove a pass (tests and plug-ins that re-register use this)."""
    _REGISTRY.pop(name, None)


def get_pass(name: str) -> type[Pass]:
    """The pass class registered under ``name``; RegistryError listing the known names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise RegistryError(f"pass {name!r}: unknown (known: {', '.join(available_passes())})") from None


def available_passes() -> list[str]:
    return sorted(_REGISTRY)


def run_flow(
    graph: Graph,
    flow: Sequence[str],
    context: PassContext,
    on_pass: Callable[[str], None] | None = None,
    on_done: Callable[[str, bool], None] | None = None,
) -> list[tuple[str, PassResult]]:
    """Run the named passes in order on ``graph`` (in place).  Returns ``[(name, PassResult), …]``.

    Every name is looked up before the first pass runs, so a typo fails before any work is done.
    ``on_pass(name)`` is called before and ``on_done(name, changed)`` after each pass (progress).
    A pass must return a :class:`PassResult` (anything else is a TypeError naming the pass).
    """
    classes = [get_pass(name) for name in flow]
    results = []
    for cls in classes:
        if on_pass is not None:
            on_pass(cls.name)
        result = cls(context).apply(graph)
        if not isinstance(result, PassResult):
            raise TypeError(f"pass {cls.name!r} returned {type(result).__name__}, not a PassResult")
        logger.info("pass %s: %s", cls.name, "changed the graph" if result.changed else "no change")
        results.append((cls.name, result))
        if on_done is not None:
            on_done(cls.name, result.changed)
    return results
