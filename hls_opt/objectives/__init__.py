"""hls4ml-compatible objective estimators and the registry of objective names.

Same interface as ``hls4ml.optimization.dsp_aware_pruning.objectives`` (``ObjectiveEstimator`` in
hls4ml/optimization/dsp_aware_pruning/objectives/__init__.py):
an estimator is a class with three classmethods,

* ``is_layer_optimizable(attrs) -> (bool, OptimizationAttributes | None)`` (also picks the
  weight structure),
* ``layer_resources(attrs) -> list[int]`` (the unpruned layer, one entry per objective
  dimension),
* ``layer_savings(attrs) -> list[int]`` (what removing *one group* of the structure stored in
  ``attrs.optimization_attributes`` saves).

hls-opt's estimators are thin adapters over the backend resource models
(:mod:`hls_opt.cost`): they evaluate the node carried by ``attrs.node`` (or, for
hand-built attributes, a node rebuilt from ``attrs.args['hls4ml_attributes']``).  Their savings
are what the hardware really saves; ``docs/resources.md`` lists where they differ from hls4ml's.

Objective names (docs/resources.md §6): ``'params'``, ``'flops'``, ``'dsp'``, ``'ff'``, ``'bram'``,
``'dsp+bram'``, ``'memory'``; third parties add names through the entry-point group
``hls_opt.estimators`` (see :mod:`hls_opt.cost.registry`) or :func:`register_objective`.
"""

from __future__ import annotations

import importlib
import logging
from abc import ABC, abstractmethod
from typing import Any

from hls_opt.cost import objective as _registry
from hls_opt.cost.objective import (
    Objective,
    missing_estimator_method,
    normalise_name,
    registered_estimators,
)
from hls_opt.cost.registry import all_objective_names, find_objective
from hls_opt.errors import RegistryError
from hls_opt.objectives import _core

logger = logging.getLogger(__name__)


class ObjectiveEstimator(ABC):
    """Abstract base of the estimators (hls4ml's ``ObjectiveEstimator``); implement the three
    methods as classmethods, as hls4ml's optimizer calls them on the class."""

    @abstractmethod
    def is_layer_optimizable(self, layer_attributes: Any) -> tuple[bool, Any]:
        """``(True, OptimizationAttributes)`` when the objective can shrink the layer, else
        ``(False, None)``."""

    @abstractmethod
    def layer_resources(self, layer_attributes: Any) -> list[int]:
        """Resources of the unpruned layer, one int per objective dimension."""

    @abstractmethod
    def layer_savings(self, layer_attributes: Any) -> list[int]:
        """Resources one group of the layer's structure saves, one int per objective dimension."""


class ParameterEstimator(_core.BackendEstimator, ObjectiveEstimator):
    """Number of kernel weights (hls4ml's ``ParameterEstimator``): unstructured pruning, one
    weight saved per unstructured group; other structures save the weights of their group.
    (The backends share one ``params`` count; the GPU backend's is asked.)"""

    backend = "gpu"
    objective = "params"


# --------------------------------------------------------------------------------------------------
# objective names -> estimator classes (an adapter table over the one registry, hls_opt.cost.objective)

#: The estimator class hls4ml users know for each built-in objective name ("module:attribute", imported
#: on first use).  The names themselves, and what they reduce, are :data:`hls_opt.cost.objective.BUILTIN_OBJECTIVES`.
_BUILTIN_ESTIMATORS: dict[str, str] = {
    "params": "hls_opt.objectives:ParameterEstimator",
    "flops": "hls_opt.backends.gpu.objectives:GPUFLOPEstimator",
    "memory": "hls_opt.backends.gpu.objectives:MemoryEstimator",
    "dsp": "hls_opt.backends.vivado.objectives:VivadoDSPEstimator",
    "ff": "hls_opt.backends.vivado.objectives:VivadoFFEstimator",
    "bram": "hls_opt.backends.vivado.objectives:VivadoBRAMEstimator",
    "dsp+bram": "hls_opt.backends.vivado.objectives:VivadoMultiObjectiveEstimator",
}

#: The built-in objective names with an estimator class (docs/resources.md §6), in the public contract's order.
OBJECTIVE_NAMES: tuple[str, ...] = ("params", "flops", "dsp", "ff", "bram", "dsp+bram", "memory")


def register_objective(name: str, estimator: Any) -> None:
    """Register ``estimator`` (a class with the three classmethods, or an instance) as ``name`` in the one
    objective registry.  A name already registered (built-in or not) raises RegistryError."""
    if isinstance(estimator, Objective):
        raise RegistryError(f"objective {name!r}: register an estimator here; a native Objective goes to "
                            "hls_opt.cost.objective.register_objective")
    _registry.register_objective(name, estimator)


def unregister_objective(name: str) -> None:
    """Remove a non-built-in objective (tests, plugins replacing their own)."""
    _registry.unregister_objective(name)


def _load_builtin(key: str) -> Any:
    module_name, attr = _BUILTIN_ESTIMATORS[key].split(":")
    return getattr(importlib.import_module(module_name), attr)


def available_objectives() -> list[str]:
    """Every registered objective name (built-ins, entry points, :func:`register_objective`)."""
    return all_objective_names()


def get_objective(objective: Any) -> Any:
    """The estimator for ``objective``: a registered name (case-insensitive; ``'dsp+bram'`` also
    as ``'bram+dsp'`` or ``'dsp,bram'``), an estimator class name (``'VivadoDSPEstimator'``), or an
    estimator class or instance, which is returned unchanged.

    Unknown names raise RegistryError listing the known ones.
    """
    if not isinstance(objective, str):
        method = missing_estimator_method(objective)
        if method is not None:
            raise RegistryError(
                f"objective: {objective!r} is neither a name nor an estimator (no {method}())"
            )
        return objective
    key = normalise_name(objective)
    found = find_objective(key)
    if found is not None and not isinstance(found, Objective):
        return found  # a registered estimator
    if key in _BUILTIN_ESTIMATORS:
        return _load_builtin(key)
    if isinstance(found, Objective):
        raise RegistryError(
            f"objective {key!r} is a native objective without an estimator class: "
            "use it with hls_opt.convert_and_optimize / hls-opt optimize"
        )
    # A class name, as hls4ml users write them.
    wanted = str(objective).strip().lower()
    for name in _BUILTIN_ESTIMATORS:
        cls = _load_builtin(name)
        if cls.__name__.lower() == wanted:
            return cls
    for cls in registered_estimators():
        if getattr(cls, "__name__", "").lower() == wanted:
            return cls
    known = ", ".join(available_objectives())
    raise RegistryError(f"objective: unknown objective {objective!r} (known: {known})")


__all__ = [
    "OBJECTIVE_NAMES",
    "ObjectiveEstimator",
    "ParameterEstimator",
    "available_objectives",
    "get_objective",
    "missing_estimator_method",
    "register_objective",
    "unregister_objective",
]
