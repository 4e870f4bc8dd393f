"""What a layer or a model costs: :class:`ResourceVector` and its field names.

Units of :class:`ResourceVector`: ``dsp`` DSP slices (DSP48 on AMD, variable-precision DSP
blocks on Intel), ``bram`` 18 Kb block RAMs (Intel: 20 Kb M20K), ``lut`` look-up tables (Intel:
ALMs), ``ff`` flip-flops, ``flops`` floating-point operations per sample, ``params`` non-zero
kernel weights, ``memory_bits`` bits to store them, ``ebops`` effective bit operations (HGQ2's
measure, ``docs/precision.md``).  See ``docs/resources.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResourceVector:
    """What one layer (or a whole model) costs; every field an ``int`` in the unit named above."""

    dsp: int = 0
    bram: int = 0
    lut: int = 0
    ff: int = 0
    flops: int = 0
    params: int = 0
    memory_bits: int = 0
    ebops: int = 0

    FIELDS: ClassVar[tuple[str, ...]] = ("dsp", "bram", "lut", "ff", "flops", "params", "memory_bits", "ebops")

    def __post_init__(self) -> None:
        for name in self.FIELDS:
            value = getattr(self, name)
            if isinstance(value, (bool, float)) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"ResourceVector.{name}: expected an int, got {value!r}")
            object.__setattr__(self, name, int(value))

    def __add__(self, other: ResourceVector) -> ResourceVector:
        if not isinstance(other, ResourceVector):
            return NotImplemented
        return ResourceVector(**{f: getattr(self, f) + getattr(other, f) for f in self.FIELDS})

    def __sub__(self, other: ResourceVector) -> ResourceVector:
        if not isinstance(other, ResourceVector):
            return NotImplemented
        return ResourceVector(**{f: getattr(self, f) - getattr(other, f) for f in self.FIELDS})

    def __radd__(self, other: Any) -> ResourceVector:
        # Lets ``sum(vectors)`` work (it starts from 0).
        if other == 0:
            return self
        return NotImplemented

    def scaled(self, factor: int) -> ResourceVector:
        """Every field multiplied by the integer ``factor`` (e.g. parallel copies of a kernel)."""
        return ResourceVector(**{f: getattr(self, f) * int(factor) for f in self.FIELDS})

    def as_dict(self) -> dict[str, int]:
        """``{field: value}`` in :data:`FIELDS` order."""
        return {f: getattr(self, f) for f in self.FIELDS}

    def __getitem__(self, name: str) -> int:
        if name not in self.FIELDS:
            raise KeyError(f"ResourceVector has no field {name!r} (fields: {', '.join(self.FIELDS)})")
        return getattr(self, name)


FIELDS: tuple[str, ...] = ResourceVector.FIELDS
assert FIELDS == tuple(f.name for f in fields(ResourceVector))


def total(vectors: Iterable[ResourceVector]) -> ResourceVector:
    """Field-wise sum."""
    acc = ResourceVector()
    for v in vectors:
        acc = acc + v
    return acc


def ceil_div(a: int, b: int) -> int:
    """⌈a / b⌉ for non-negative integers (C's DIV_ROUNDUP)."""
    return -(-int(a) // int(b))
