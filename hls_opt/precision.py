"""Typed fixed-point precisions, parsed once from hls4ml's strings.

Grammar follows hls4ml's ``FPGABackend.convert_precision_string`` (hls4ml/backends/fpga/
fpga_backend.py) and ``hls4ml/model/types.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Rounding(str, Enum):
    """Quantisation (rounding) modes of ap_fixed / ac_fixed."""

    TRN = "TRN"
    TRN_ZERO = "TRN_ZERO"
    RND = "RND"
    RND_ZERO = "RND_ZERO"
    RND_INF = "RND_INF"
    RND_MIN_INF = "RND_MIN_INF"
    RND_CONV = "RND_CONV"


class Saturation(str, Enum):
    """Overflow modes of ap_fixed / ac_fixed."""

    WRAP = "WRAP"
    SAT = "SAT"
    SAT_ZERO = "SAT_ZERO"
    SAT_SYM = "SAT_SYM"


@dataclass(frozen=True)
class Precision:
    """A fixed-point or integer type.

    ``width`` is the total number of bits, ``integer`` the integer bits including the sign bit
    (for an integer type ``integer == width``).  ``is_integer`` marks ``ap_int``/``ac_int``/``int``.
    """

    width: int
    integer: int
    signed: bool = True
    rounding: Rounding = Rounding.TRN
    saturation: Saturation = Saturation.WRAP
    saturation_bits: int = 0
    is_integer: bool = False

    @property
    def fractional(self) -> int:
        return self.width - self.integer

    def __str__(self) -> str:
        """hls4ml's own spelling (``fixed<16,6,TRN,WRAP,0>`` / ``int<8>``), round-trippable."""
        if self.is_integer:
            return f"{'' if self.signed else 'u'}int<{self.width}>"
        prefix = "fixed" if self.signed else "ufixed"
        return (
            f"{prefix}<{self.width},{self.integer},{self.rounding.value},"
            f"{self.saturation.value},{self.saturation_bits}>"
        )
