"""Every clock-cycle constant of the FPGA timing model, in one place, with its basis.

The *structure* of the timing model (which loops exist, their trip counts, their pipeline II
pragmas, what is pipelined and what is not) is read from hls4ml's generated code and templates and
checked against a project hls4ml writes (``tests/test_timing_hls4ml.py``).  The per-operation
cycle counts below cannot be read from the code: they are what Vivado/Vitis HLS schedules at
hls4ml's default clock (``ClockPeriod: 5`` ns, ``vivado_backend.py`` ``create_initial_config``)
for the default ``ap_fixed<16,6>`` types.  They are estimates, not checked without synthesis;
``docs/timing.md`` says so and gives the reasoning.  Change them here, nowhere else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class CycleConstants:
    """Cycle counts per operation (see the module docstring for what is and is not checked)."""

    #: A product (``product::mult``, nnet_mult.h: one ``*``) registered once (the DSP's M register).
    mult: int = 1
    #: Adder-tree levels chained in one cycle: HLS balances a fixed-point sum into a tree
    #: (``acc[j] += mult[i]`` unrolled in nnet_dense_latency.h ``Accum1/Accum2``); two 16–24-bit
    #: additions fit in one 5 ns cycle.
    add_levels_per_cycle: int = 2
    #: Reading the weight ROM (``ROM_nP_BRAM``, nnet_dense_resource.h; ``BIND_STORAGE ... impl=BRAM``
    #: in unrolled_codegen.py): a block RAM read is one registered cycle.
    rom_read: int = 1
    #: The ``Result`` cast loop (``cast<data_T,res_T>``, unrolled) registered once.
    cast: int = 1
    #: Entering and leaving a function or a non-rewound pipelined loop (HLS FSM states).
    call: int = 1
    #: One elementwise activation / batch-norm / merge element (nnet_activation.h relu, a table
    #: lookup for sigmoid/tanh/softmax's exp, nnet_batchnorm.h multiply-add): one cycle.
    elementwise: int = 1
    #: Softmax (nnet_activation.h ``softmax_stable``/``softmax_latency``): exp table, sum tree,
    #: inverse table, multiply — four registered steps.
    softmax: int = 4
    #: Reading one pack from / writing one pack to an ``hls::stream`` FIFO.
    stream_io: int = 1

    def adder_tree(self, terms: int) -> int:
        """Cycles of a balanced sum of ``terms`` values: ``⌈⌈log2 terms⌉ / add_levels_per_cycle⌉``."""
        if terms <= 1:
            return 0
        return math.ceil(math.ceil(math.log2(terms)) / self.add_levels_per_cycle)


#: The constants every FPGA backend uses unless given others (``FPGABackend(cycles=...)``).
CYCLES = CycleConstants()

__all__ = ["CYCLES", "CycleConstants"]
