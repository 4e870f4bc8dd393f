"""GPU resource models: FLOPs of the structures still present, non-zero weights and their bits.

A GPU runs a dense matrix multiply whatever zeros it holds, so only removed *structures*
(output neurons / filters whose whole kernel column is zero; the ``reduce`` pass deletes them)
lower the FLOPs; every zero weight lowers ``params`` and ``memory_bits`` (a sparse or
compressed weight store).  DSP/BRAM/LUT/FF are 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hls_opt.backends.fpga import DEFAULT_CONFIG, as_precision, gpu_flops, nonzero_outputs

from hls_opt.ir.nodes import ConvND, WeightedNode
from hls_opt.resources import Backend, ResourceVector
from hls_opt.structures import mult_shape


class GPUBackend(Backend):
    """FLOPs per sample with hls4ml's GPUFLOPEstimator convention (bias per output pixel)."""

    name = "gpu"


@GPUBackend.model(WeightedNode)
def _weighted(
    backend: GPUBackend, node: Any, kernel: np.ndarray | None, input_precision: Any
) -> ResourceVector:
    k = np.asarray(node.kernel if kernel is None else kernel)
    n_in, _ = mult_shape(k.shape)
    n_pixels = int(node.n_pixels) if isinstance(node, ConvND) else 1
    cfg = node.config if node.config is not None else DEFAULT_CONFIG
    nnz = int(np.count_nonzero(k))
    return ResourceVector(
        flops=gpu_flops(n_in, nonzero_outputs(k), n_pixels),
        params=nnz,
        memory_bits=nnz * as_precision(cfg.weight).width,
    )
