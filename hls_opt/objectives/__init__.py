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
import threading
from abc import ABC, abstractmethod
from typing import Any

from hls_opt.config.objective import normalise_name
from hls_opt.cost.registry import (
    ENTRY_POINT_GROUP,
    ESTIMATOR_METHODS,
    load_entry_points,
    take_pending_objectives,
)
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
# the registry of objective names

#: Built-in objective names -> "module:attribute" (imported on first use).
_BUILTIN_OBJECTIVES: dict[str, str] = {
    "params": "hls_opt.objectives:ParameterEstimator",
    "flops": "hls_opt.backends.gpu.objectives:GPUFLOPEstimator",
    "memory": "hls_opt.backends.gpu.objectives:MemoryEstimator",
    "dsp": "hls_opt.backends.vivado.objectives:VivadoDSPEstimator",
    "ff": "hls_opt.backends.vivado.objectives:VivadoFFEstimator",
    "bram": "hls_opt.backends.vivado.objectives:VivadoBRAMEstimator",
    "dsp+bram": "hls_opt.backends.vivado.objectives:VivadoMultiObjectiveEstimator",
}

#: The built-in objective names (docs/resources.md §6), in the public contract's order.
OBJECTIVE_NAMES: tuple[str, ...] = ("params", "flops", "dsp", "ff", "bram", "dsp+bram", "memory")

_OBJECTIVES: dict[str, Any] = {}
_LOCK = threading.RLock()


def missing_estimator_method(obj: Any) -> str | None:
    """The first of an estimator's three methods ``obj`` lacks, or None when it has them all
    (an estimator need not subclass :class:`ObjectiveEstimator`: hls4ml-written ones don't)."""
    for method in ESTIMATOR_METHODS:
        if not callable(getattr(obj, method, None)):
            return method
    return None


def register_objective(name: str, estimator: Any) -> None:
    """Register ``estimator`` (a class with the three classmethods, or an instance) as ``name``.

    A name already registered (built-in or not) raises RegistryError.
    """
    key = normalise_name(name)
    if not key:
        raise RegistryError("register_objective: empty objective name")
    method = missing_estimator_method(estimator)
    if method is not None:
        raise RegistryError(f"objective {name!r}: {estimator!r} has no {method}()")
    with _LOCK:
        if key in _OBJECTIVES or key in _BUILTIN_OBJECTIVES:
            existing = _OBJECTIVES.get(key, _BUILTIN_OBJECTIVES.get(key))
            raise RegistryError(f"objective {key!r} is already registered ({_label(existing)})")
        _OBJECTIVES[key] = estimator


def unregister_objective(name: str) -> None:
    """Remove a non-built-in objective (tests, plugins replacing their own)."""
    with _LOCK:
        _OBJECTIVES.pop(normalise_name(name), None)


def _label(obj: Any) -> str:
    if isinstance(obj, str):
        return obj
    return getattr(obj, "__qualname__", type(obj).__qualname__)


def _load_builtin(key: str) -> Any:
    module_name, attr = _BUILTIN_OBJECTIVES[key].split(":")
    return getattr(importlib.import_module(module_name), attr)


def _load_entry_points() -> None:
    """Load the ``hls_opt.estimators`` entry points and register the estimators among them."""
    load_entry_points()
    for name, (value, estimator) in take_pending_objectives().items():
        try:
            register_objective(name, estimator)
        except RegistryError as exc:
            raise RegistryError(f"entry point {name} = {value} (group {ENTRY_POINT_GROUP}): {exc}") from None


def available_objectives() -> list[str]:
    """Every registered objective name (built-ins, entry points, :func:`register_objective`)."""
    _load_entry_points()
    with _LOCK:
        return sorted(set(_BUILTIN_OBJECTIVES) | set(_OBJECTIVES))


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
    with _LOCK:
        if key in _OBJECTIVES:
            return _OBJECTIVES[key]
    if key in _BUILTIN_OBJECTIVES:
        return _load_builtin(key)
    _load_entry_points()
    with _LOCK:
        if key in _OBJECTIVES:
            return _OBJECTIVES[key]
    # A class name, as hls4ml users write them.
    for name in _BUILTIN_OBJECTIVES:
        cls = _load_builtin(name)
        if cls.__name__.lower() == str(objective).strip().lower():
            return cls
    with _LOCK:
        for cls in _OBJECTIVES.values():
            if getattr(cls, "__name__", "").lower() == str(objective).strip().lower():
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
