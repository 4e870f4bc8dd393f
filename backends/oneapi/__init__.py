"""Intel oneAPI (Quartus) backend: variable-precision DSP blocks and M20K memories.

hls-opt does not import this module; it is found the way a third-party backend would be,
through the entry point ``oneapi = "hls_opt.backends.oneapi:register"`` of the group
``hls_opt.estimators`` in ``pyproject.toml``.  :func:`register` is that entry point.

DSP geometry (Intel Agilex / Stratix 10 variable-precision DSP block): one block holds either
two independent signed 18×19 multipliers or one signed 27×27 multiplier; wider products tile
onto several 27×27 blocks.  Multiplier counts per strategy are hls4ml's (shared with the
Vivado model, :mod:`hls_opt.backends.fpga`), except that hls4ml's oneAPI backend implements every
Dense / Conv layer as Resource whatever its ``Strategy`` (``oneapi_backend.py`` ``init_dense`` /
``init_conv1d`` / ``init_conv2d`` set ``strategy = 'resource'``; the unrolled code generator is a
Vivado/Vitis pass); weights of Resource layers with RF > 1 go to M20K blocks (512×40 … 16K×1).

Timing: the FPGA model (:mod:`hls_opt.backends.fpga`) at the Resource strategy; hls4ml's oneAPI
dense kernels (``templates/oneapi/firmware/nnet_utils/nnet_dense.h`` ``dense_rf_lt`` /
``dense_rf_gt``) run the same ``reuse_factor``-trip loop (``[[intel::nofusion]]``, pipelined by
the compiler at II 1) over an unrolled ``block_factor`` of products.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from hls_opt.backends.fpga import M20K, FPGABackend, signed_width, tiles

from hls_opt.config import IOType, Strategy
from hls_opt.core.precision import Precision
from hls_opt.cost.registry import register_backend
from hls_opt.cost.timing import Schedule
from hls_opt.cost.vector import ceil_div

if TYPE_CHECKING:
    from hls_opt.config import LayerConfig
    from hls_opt.ir.graph import Graph
    from hls_opt.ir.nodes import Node



class OneAPIBackend(FPGABackend):
    """hls4ml's oneAPI backend on an Intel device with variable-precision DSP blocks."""

    name = "oneapi"
    memory = M20K

    def implemented_strategy(
        self, strategy: Strategy, rf: int, is_conv: bool = False, io_type: IOType = IOType.STREAM
    ) -> Strategy:
        """Always Resource (hls4ml's oneAPI backend ignores the configured strategy)."""
        return Strategy.RESOURCE

    def pruned_config(self, node: Node) -> LayerConfig:
        """The config as hls4ml's oneAPI backend builds it: Resource at the configured reuse factor.
        It builds every Dense / Conv as Resource (``init_dense`` / ``init_conv*`` above), and the
        unrolled strategy the FPGA default picks is a Vivado/Vitis pass it never runs, so writing
        ``ResourceUnrolled`` would describe hardware it does not build.  What zeroed
        weights save under Resource (parameters, memory) the cost model reads off this config."""
        cfg = node.config if getattr(node, "config", None) is not None else None
        if cfg is None:
            return super().pruned_config(node)
        return dataclasses.replace(cfg, strategy=Strategy.RESOURCE)

    def timing_schedule(self, graph: Graph) -> tuple[Schedule, int | None]:
        """hls4ml's oneAPI writer (``writer/oneapi_writer.py``): io_stream launches every layer as a
        ``task_sequence`` joined by pipes (dataflow); io_parallel calls the layers one after the
        other inside ``MyProject::operator()`` (sequential: nothing overlaps — a conservative
        reading; the compiler's pipelining of the kernel across invocations is not modelled)."""
        if any(getattr(n, "config", None) is not None and n.config.io_type is IOType.STREAM for n in graph.nodes()):
            return Schedule.DATAFLOW, None
        return Schedule.SEQUENTIAL, None

    def fits_half_block(self, data: Precision, weight: Precision) -> bool:
        """Whether the product fits one 18×19 half of a DSP block (either orientation)."""
        a, b = signed_width(data), signed_width(weight)
        return (a <= 18 and b <= 19) or (a <= 19 and b <= 18)

    def dsp_per_multiplier(self, data: Precision, weight: Precision) -> int:
        """Blocks per multiplier when it does not share a block: 1 up to 27×27, else 27×27 tiles."""
        a, b = signed_width(data), signed_width(weight)
        return tiles(a, 27) * tiles(b, 27)

    def dsp_total(self, mults: int, data: Precision, weight: Precision) -> int:
        # Two 18×19 products share one block.
        if not self.uses_dsp(data, weight):
            return 0
        if self.fits_half_block(data, weight):
            return ceil_div(mults, 2)
        return mults * self.dsp_per_multiplier(data, weight)


def register() -> None:
    """Entry point of the group ``hls_opt.estimators``: registers the ``'oneapi'`` backend."""
    register_backend(OneAPIBackend())


__all__ = ["OneAPIBackend", "register"]
