"""What the optimizer minimises: :class:`Objective`, a typed value parsed once at the edge, and the one
registry of objective names.

An objective names the :class:`~hls_opt.cost.vector.ResourceVector` fields it reduces (``'dsp'`` →
``('dsp',)``, ``'dsp+bram'`` → ``('dsp', 'bram')``, ``'memory'`` → ``('memory_bits',)``), its
label for reports and plots, and whether its saving only appears once pruned neurons are removed
from the model (GPU FLOPs).  Everything below the edge (selection, passes, the trainer, the
report) takes an ``Objective``; nothing compares objective strings again.

The cost of each weight group comes from the run's backend (its one cost model,
:class:`hls_opt.cost.backend.Backend`), never from the objective: an objective only says which
fields of the backend's estimate count.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from hls_opt.cost.vector import FIELDS
from hls_opt.errors import RegistryError


@dataclass(frozen=True)
class Objective:
    """A resource objective: ``resources`` are ResourceVector field names, in the objective's order."""

    name: str
    resources: tuple[str, ...]
    reduce_structures: bool = False

    def __post_init__(self) -> None:
        if not self.resources:
            raise RegistryError(f"objective {self.name!r}: names no resource")
        for field in self.resources:
            if field not in FIELDS:
                raise RegistryError(
                    f"objective {self.name!r}: {field!r} is not a resource (known: {', '.join(FIELDS)})"
                )

    @property
    def label(self) -> str:
        """The printable name (report, steps plot)."""
        return self.name


#: hls-opt's objective names (the ``hls4ml``-style estimator classes map onto these).
BUILTIN_OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective("params", ("params",)),
        Objective("flops", ("flops",), reduce_structures=True),
        Objective("dsp", ("dsp",)),
        Objective("ff", ("ff",)),
        Objective("lut", ("lut",)),
        Objective("bram", ("bram",)),
        Objective("dsp+bram", ("dsp", "bram")),
        Objective("memory", ("memory_bits",)),
        Objective("ebops", ("ebops",)),
    )
}

#: The one registry of objective names: a name (as :func:`normalise_name` spells it) -> a native
#: :class:`Objective` (costs from the run's backend) or an hls4ml-style estimator (a class or instance with
#: ``is_layer_optimizable`` / ``layer_resources`` / ``layer_savings``, registered by a user or an entry
#: point).  The built-in names are :data:`BUILTIN_OBJECTIVES`; the estimator classes hls4ml users know for
#: them are an adapter table at the edge (``hls_opt.objectives``), not entries here.
_REGISTRY: dict[str, Any] = {}
_LOCK = threading.RLock()

#: hls4ml's estimator interface (``ObjectiveEstimator`` in hls4ml/optimization/dsp_aware_pruning/objectives/__init__.py).
ESTIMATOR_METHODS = ("is_layer_optimizable", "layer_resources", "layer_savings")


def normalise_name(name: str) -> str:
    """``'DSP'``, ``' dsp + bram '``, ``'bram+dsp'`` and ``'dsp,bram'`` all name ``'dsp+bram'``."""
    parts = [p.strip().lower() for p in str(name).replace(",", "+").split("+") if p.strip()]
    if sorted(parts) == ["bram", "dsp"]:
        return "dsp+bram"
    return "+".join(parts)


def missing_estimator_method(obj: Any) -> str | None:
    """The first of an estimator's three methods ``obj`` lacks, or None when it has them all
    (an estimator need not subclass anything: hls4ml-written ones don't)."""
    for method in ESTIMATOR_METHODS:
        if not callable(getattr(obj, method, None)):
            return method
    return None


def _label(entry: Any) -> str:
    if isinstance(entry, Objective):
        return f"objective {entry.name!r}"
    return getattr(entry, "__qualname__", type(entry).__qualname__)


def register_objective(name: str, entry: Any) -> Any:
    """Register ``entry`` — an :class:`Objective` or an hls4ml-style estimator — under ``name``.

    An empty name, an estimator lacking one of the three methods, or a name already taken (built-in or
    registered) raises :class:`~hls_opt.errors.RegistryError`."""
    key = normalise_name(name)
    if not key:
        raise RegistryError("register_objective: empty objective name")
    if not isinstance(entry, Objective):
        method = missing_estimator_method(entry)
        if method is not None:
            raise RegistryError(f"objective {name!r}: {entry!r} has no {method}()")
    with _LOCK:
        if key in BUILTIN_OBJECTIVES or key in _REGISTRY:
            existing = _REGISTRY.get(key, BUILTIN_OBJECTIVES.get(key))
            raise RegistryError(f"objective {key!r} is already registered ({_label(existing)})")
        _REGISTRY[key] = entry
    return entry


def unregister_objective(name: str) -> None:
    """Remove a registered (not built-in) objective: tests, plugins replacing their own."""
    with _LOCK:
        _REGISTRY.pop(normalise_name(name), None)


def lookup_objective(name: str) -> Any:
    """What ``name`` is registered as — a built-in or registered :class:`Objective`, or an estimator —
    or None.  (Entry points are loaded by :func:`hls_opt.cost.registry.find_objective`.)"""
    key = normalise_name(name)
    with _LOCK:
        found = _REGISTRY.get(key)
    return found if found is not None else BUILTIN_OBJECTIVES.get(key)


def registered_estimators() -> list[Any]:
    """The estimators in the registry (for lookups by class name)."""
    with _LOCK:
        return [e for e in _REGISTRY.values() if not isinstance(e, Objective)]


def objective_names() -> list[str]:
    """Every name: built-in and registered."""
    with _LOCK:
        return sorted(set(BUILTIN_OBJECTIVES) | set(_REGISTRY))


def find_objective(name: str) -> Objective | None:
    """The native :class:`Objective` called ``name`` (any spelling :func:`normalise_name` accepts), or None
    (also when ``name`` is an estimator's)."""
    found = lookup_objective(name)
    return found if isinstance(found, Objective) else None


def parse_objective(value: object) -> Objective:
    """An :class:`Objective` from an Objective, a name, a comma/plus string or a list of names.

    Unknown names raise :class:`~hls_opt.errors.RegistryError` naming the value and the known names.
    """
    if isinstance(value, Objective):
        return value
    if isinstance(value, (list, tuple)):
        if not value or not all(isinstance(v, str) for v in value):
            raise RegistryError(
                "objective: a list must hold objective names (e.g. ['dsp', 'bram']), got " + repr(value)
            )
        value = "+".join(value)
    if not isinstance(value, str):
        raise RegistryError(f"objective: expected a name or an Objective, got {type(value).__name__}")
    found = find_objective(value)
    if found is None:
        raise RegistryError(
            f"objective: unknown objective {value!r} (known: {', '.join(objective_names())})"
        )
    return found


__all__ = [
    "BUILTIN_OBJECTIVES",
    "ESTIMATOR_METHODS",
    "Objective",
    "find_objective",
    "lookup_objective",
    "missing_estimator_method",
    "normalise_name",
    "objective_names",
    "parse_objective",
    "register_objective",
    "registered_estimators",
    "unregister_objective",
]
