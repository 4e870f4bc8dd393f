"""What the optimizer minimises: :class:`Objective`, a typed value parsed once at the edge.

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

_REGISTERED: dict[str, Objective] = {}
_LOCK = threading.RLock()


def normalise_name(name: str) -> str:
    """``'DSP'``, ``' dsp + bram '``, ``'bram+dsp'`` and ``'dsp,bram'`` all name ``'dsp+bram'``."""
    parts = [p.strip().lower() for p in str(name).replace(",", "+").split("+") if p.strip()]
    if sorted(parts) == ["bram", "dsp"]:
        return "dsp+bram"
    return "+".join(parts)


def register_native_objective(objective: Objective) -> Objective:
    """Add an objective (a new combination of resource fields) under its name; a taken name raises."""
    key = normalise_name(objective.name)
    with _LOCK:
        if key in BUILTIN_OBJECTIVES or key in _REGISTERED:
            raise RegistryError(f"objective {key!r} is already registered")
        _REGISTERED[key] = objective
    return objective


def unregister_native_objective(name: str) -> None:
    with _LOCK:
        _REGISTERED.pop(normalise_name(name), None)


def find_objective(name: str) -> Objective | None:
    """The native objective called ``name`` (any spelling :func:`normalise_name` accepts), or None."""
    key = normalise_name(name)
    with _LOCK:
        found = _REGISTERED.get(key)
    return found if found is not None else BUILTIN_OBJECTIVES.get(key)


def native_objective_names() -> list[str]:
    with _LOCK:
        return sorted(set(BUILTIN_OBJECTIVES) | set(_REGISTERED))


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
            f"objective: unknown objective {value!r} (known: {', '.join(native_objective_names())})"
        )
    return found


__all__ = [
    "BUILTIN_OBJECTIVES",
    "Objective",
    "find_objective",
    "native_objective_names",
    "normalise_name",
    "parse_objective",
    "register_native_objective",
    "unregister_native_objective",
]
