"""The pass registry and the pass base class.

A pass is a small class with a kebab-case ``name`` and ``apply(graph) -> bool`` (did the graph
change).  Passes are registered by name, so a flow is a plain list of names (as in hls4ml's
optimizer flows and xDSL's pass registry).  Passes share one :class:`PassContext`: the settings of
the run (objective, scheduler, data, training settings, backend) and what earlier passes produced
(the :class:`~hls_opt.passes.plan.PruningPlan`, the set of rewritten layers).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hls_opt.errors import RegistryError

logger = logging.getLogger(__name__)

_KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@dataclass
class TrainingSettings:
    """How the optimization loop fine-tunes (hls4ml's ``optimize_model`` arguments of the same names)."""

    loss: Any = None
    optimizer: Any = "adam"
    metric: Any = "accuracy"
    increasing: bool = True
    rtol: float = 0.975
    epochs: int = 10
    batch_size: int = 128


@dataclass
class PassContext:
    """Settings of one run and the results passes hand to each other.

    ``hls_config`` is the user's hls4ml config (a dict, never mutated); ``data`` a
    :class:`~hls_opt.data.TrainingData` or ``None`` (one-shot pruning); ``objective`` a registered
    objective name or an estimator class; ``scheduler`` an hls4ml-style sparsity scheduler.
    """

    backend: str = "vivado"
    hls_config: dict | None = None
    objective: Any = "dsp"
    scheduler: Any = None
    data: Any = None
    training: TrainingSettings = field(default_factory=TrainingSettings)
    ranking_metric: str = "l1"
    local: bool = False
    knapsack_solver: str = "auto"
    #: extra keyword arguments for the optimization loop (``run_optimization``)
    optimize_kwargs: dict[str, Any] = field(default_factory=dict)
    # --- filled in by passes ---
    plan: Any = None  # PruningPlan from dsp-aware-pruning
    rewritten: set[str] = field(default_factory=set)
    removed: dict[str, Any] = field(default_factory=dict)
    io_type: str | None = None  # set when a pass needs a model-wide IO type (io_stream for convs)
    notes: list[str] = field(default_factory=list)
    history: list[tuple[str, bool]] = field(default_factory=list)


class Pass:
    """Base class: subclasses set ``name`` and implement :meth:`apply`."""

    name: ClassVar[str] = ""

    def __init__(self, context: PassContext | None = None) -> None:
        self.context = context if context is not None else PassContext()

    def apply(self, graph: Any) -> bool:  # pragma: no cover - abstract
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
    graph: Any,
    flow: Sequence[str],
    context: PassContext,
    on_pass: Callable[[str], None] | None = None,
    on_done: Callable[[str, bool], None] | None = None,
) -> list[tuple[str, bool]]:
    """Run the named passes in order on ``graph`` (in place).  Returns ``[(name, changed), …]``.

    Every name is looked up before the first pass runs, so a typo fails before any work is done.
    ``on_pass(name)`` is called before and ``on_done(name, changed)`` after each pass (progress).
    """
    classes = [get_pass(name) for name in flow]
    results = []
    for cls in classes:
        if on_pass is not None:
            on_pass(cls.name)
        changed = bool(cls(context).apply(graph))
        logger.info("pass %s: %s", cls.name, "changed the graph" if changed else "no change")
        results.append((cls.name, changed))
        context.history.append((cls.name, changed))
        if on_done is not None:
            on_done(cls.name, changed)
    return results
