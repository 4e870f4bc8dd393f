"""``--precision auto`` and its bounds, parsed once at the edge into a frozen :class:`PrecisionSearch`.

``precision``: ``'fixed'`` (default: every layer keeps the precision its config gives) or ``'auto'``
(the optimizer chooses each weighted layer's weight and result precision, ``docs/precision.md``).
``min_bits`` / ``max_bits``: the candidate widths (total bits, sign included), ``1 ≤ min ≤ max ≤
MAX_WIDTH``.  ``rounding`` / ``saturation``: the modes of every chosen type, hls4ml's names
(``TRN``/``AP_TRN`` … ``RND_CONV``; ``WRAP``/``SAT``/``SAT_ZERO``/``SAT_SYM``), default AP_TRN / AP_WRAP
(ap_fixed's defaults).  Every mistake is a :class:`~hls_opt.errors.ConfigError` naming the flag.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from enum import Enum
from typing import Any

from hls_opt.core.enums import parse_enum
from hls_opt.core.precision import Rounding, Saturation
from hls_opt.errors import ConfigError

#: The widest ``ap_fixed`` Vivado/Vitis HLS builds by default (``AP_INT_MAX_W`` = 1024 in ap_int.h;
#: wider needs a user define hls4ml does not write).  A DSP-sized search never comes near it.
MAX_WIDTH = 1024
#: The widths tried between ``min_bits`` and ``max_bits`` (each bound itself is always tried).
CANDIDATE_WIDTHS = (2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 18, 20, 24, 32)
#: The overflow modes the fine-tuning's fake quantizers reproduce (``hls_opt.train.quantize``).
QAT_SATURATION = (Saturation.WRAP, Saturation.SAT, Saturation.SAT_SYM)
DEFAULT_MIN_BITS = 2
DEFAULT_MAX_BITS = 16


class PrecisionMode(str, Enum):
    FIXED = "fixed"
    AUTO = "auto"


@dataclass(frozen=True)
class PrecisionSearch:
    """What ``--precision`` asks for (see the module docstring)."""

    mode: PrecisionMode = PrecisionMode.FIXED
    min_bits: int = DEFAULT_MIN_BITS
    max_bits: int = DEFAULT_MAX_BITS
    rounding: Rounding = Rounding.TRN
    saturation: Saturation = Saturation.WRAP

    @property
    def auto(self) -> bool:
        return self.mode is PrecisionMode.AUTO

    def widths(self) -> tuple[int, ...]:
        """The candidate widths, ascending: :data:`CANDIDATE_WIDTHS` within the bounds, plus both bounds."""
        inside = {w for w in CANDIDATE_WIDTHS if self.min_bits <= w <= self.max_bits}
        return tuple(sorted(inside | {self.min_bits, self.max_bits}))


def _bits(value: Any, flag: str) -> int:
    if isinstance(value, bool) or not (
        isinstance(value, numbers.Integral) or (isinstance(value, str) and value.strip().lstrip("+").isdigit())
    ):
        raise ConfigError(f"{flag}: expected a whole number of bits, got {value!r}")
    bits = int(value)
    if not 1 <= bits <= MAX_WIDTH:
        raise ConfigError(f"{flag}: {bits} bits cannot be built by hls4ml (ap_fixed widths are 1 to {MAX_WIDTH})")
    return bits


def _mode(enum: type[Enum], value: Any, flag: str) -> Any:
    if isinstance(value, enum):
        return value
    text = str(value).strip().upper()
    for prefix in ("AP_", "AC_"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    try:
        return enum(text)
    except ValueError:
        names = ", ".join(f"AP_{m.value}" for m in enum)
        raise ConfigError(f"{flag}: unknown mode {value!r} (hls4ml's ap_fixed has {names})") from None


def parse_precision_search(
    precision: Any = None, *, min_bits: Any = None, max_bits: Any = None, rounding: Any = None, saturation: Any = None
) -> PrecisionSearch:
    """:class:`PrecisionSearch` from the CLI's / API's values (None: the default of each)."""
    if isinstance(precision, PrecisionSearch):
        return precision
    if precision is None:
        mode = PrecisionMode.FIXED
    else:
        mode = parse_enum(PrecisionMode, precision, "--precision", fold=str.lower)
    lo = DEFAULT_MIN_BITS if min_bits is None else _bits(min_bits, "--min-bits")
    hi = DEFAULT_MAX_BITS if max_bits is None else _bits(max_bits, "--max-bits")
    if min_bits is not None and max_bits is None and lo > hi:
        hi = lo
    if lo > hi:
        raise ConfigError(f"--min-bits: {lo} is larger than --max-bits {hi}")
    rnd = Rounding.TRN if rounding is None else _mode(Rounding, rounding, "--rounding")
    sat = Saturation.WRAP if saturation is None else _mode(Saturation, saturation, "--saturation")
    if sat not in QAT_SATURATION:
        raise ConfigError(
            f"--saturation: AP_{sat.value} is an hls4ml mode, but quantization-aware fine-tuning reproduces only "
            f"{', '.join('AP_' + m.value for m in QAT_SATURATION)} (the quantizers package)"
        )
    if mode is PrecisionMode.FIXED and any(v is not None for v in (min_bits, max_bits, rounding, saturation)):
        raise ConfigError("--min-bits/--max-bits/--rounding/--saturation: only with --precision auto")
    return PrecisionSearch(mode, lo, hi, rnd, sat)


__all__ = ["CANDIDATE_WIDTHS", "MAX_WIDTH", "PrecisionMode", "PrecisionSearch", "parse_precision_search"]
