"""hls4ml-compatible GPU estimators over the ``'gpu'`` backend's cost model.

``GPUFLOPEstimator`` (``'flops'``): whole neurons / filters (a GPU skips no zero inside a neuron,
so the backend's cost model finds that only structured groups save FLOPs), as hls4ml;
``MemoryEstimator`` (``'memory'``): weight bits, unstructured (one weight saves its width).
"""

from __future__ import annotations

from hls_opt.objectives import ObjectiveEstimator, _core

BACKEND = "gpu"


class GPUFLOPEstimator(_core.BackendEstimator, ObjectiveEstimator):
    """FLOPs per sample: ``(2·n_in + 1)`` per output neuron per output pixel (hls4ml's convention,
    with the conv bias counted per pixel).  A group saves the FLOPs of the whole neuron it empties."""

    backend = BACKEND
    objective = "flops"


class MemoryEstimator(_core.BackendEstimator, ObjectiveEstimator):
    """Bits of weight storage: ``n_weights × weight width``; unstructured, a zero weight saves its width."""

    backend = BACKEND
    objective = "memory"


__all__ = ["GPUFLOPEstimator", "MemoryEstimator"]
