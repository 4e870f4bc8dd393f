"""GPU resource models: FLOPs of the structures still present, non-zero weights and their bits.

A GPU runs a dense matrix multiply whatever zeros it holds, so only removed *structures*
(output neurons / filters whose whole kernel column is zero; the ``reduce`` pass deletes them)
lower the FLOPs; every zero weight lowers ``params`` and ``memory_bits`` (a sparse or
compressed weight store).  DSP/BRAM/LUT/FF are 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from hls_opt.backends.fpga import weight_costs

from hls_opt.cost.backend import Backend
from hls_opt.cost.vector import ResourceVector
from hls_opt.ir.nodes import WeightedNode

if TYPE_CHECKING:
    from hls_opt.ir.nodes import WeightedNode



class GPUBackend(Backend):
    """FLOPs per sample with hls4ml's GPUFLOPEstimator convention (bias per output pixel)."""

    name = "gpu"


@GPUBackend.model(WeightedNode)
def _weighted(
    backend: GPUBackend, node: WeightedNode, kernel: np.ndarray | None, input_precision: Any
) -> ResourceVector:
    return ResourceVector(**weight_costs(node, node.kernel if kernel is None else kernel, input_precision))
