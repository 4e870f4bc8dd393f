"""Vivado resource models: DSP48 slices for the multipliers, 18 Kb BRAM for Resource-style weights.

Multiplier and memory counts are hls4ml's code generation (see :mod:`hls_opt.backends.fpga`);
this module adds the AMD DSP slice geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

from hls_opt.backends.fpga import BRAM18K, FPGABackend, signed_width, tiles

from hls_opt.core.precision import Precision


@dataclass(frozen=True)
class DSPSlice:
    """A DSP slice's signed multiplier: an ``a_bits × b_bits`` two's-complement product."""

    name: str
    a_bits: int
    b_bits: int

    def per_product(self, x_bits: int, y_bits: int) -> int:
        """Slices for a signed ``x_bits × y_bits`` product: the better of the two orientations,
        each operand split into port-sized pieces (:func:`~hls_opt.backends.fpga.tiles`), one
        slice per pair of pieces (partial products summed through the cascade).

        DSP48E2: 27×18 → 1, 32×16 → 2, 35×35 → 4 (the counts UG579 / UG479 give for the
        classic 35×25 → 2 and 35×35 → 4 on DSP48E1 follow from the same rule).
        """
        one = tiles(x_bits, self.a_bits) * tiles(y_bits, self.b_bits)
        other = tiles(y_bits, self.a_bits) * tiles(x_bits, self.b_bits)
        return min(one, other)


#: UltraScale / UltraScale+ (UG579): 27 × 18 signed multiplier (hls4ml's default part xcvu13p).
DSP48E2 = DSPSlice("DSP48E2", 27, 18)
#: 7-series (UG479): 25 × 18 signed multiplier.
DSP48E1 = DSPSlice("DSP48E1", 25, 18)


class VivadoBackend(FPGABackend):
    """hls4ml's Vivado/Vitis backend on an AMD device with the given DSP slice (default DSP48E2).

    ``VivadoBackend(dsp=DSP48E1, name='vivado-7series')`` models a 7-series part; register it
    with :func:`hls_opt.cost.registry.register_backend` to use it by name.
    """

    name = "vivado"
    memory = BRAM18K

    def __init__(
        self, *, dsp: DSPSlice = DSP48E2, name: str | None = None, lut_threshold_bits: int = 9
    ) -> None:
        super().__init__(name=name, lut_threshold_bits=lut_threshold_bits)
        self.dsp = dsp

    def dsp_per_multiplier(self, data: Precision, weight: Precision) -> int:
        # Unsigned operands need one more bit on a signed port.
        return self.dsp.per_product(signed_width(data), signed_width(weight))
