"""hls4ml-compatible GPU estimators over the ``'gpu'`` resource models.

``GPUFLOPEstimator`` (``'flops'``): structured pruning (whole neurons / filters), as hls4ml;
``MemoryEstimator`` (``'memory'``): weight bits, unstructured pruning (one weight saves its
width).
"""

from __future__ import annotations

from typing import Any

from hls_opt.backends.fpga import as_precision

from hls_opt.objectives import ObjectiveEstimator, _core

BACKEND = "gpu"


class GPUFLOPEstimator(ObjectiveEstimator):
    """FLOPs per sample: ``(2·n_in + 1)`` per output neuron per output pixel (hls4ml's convention,
    with the conv bias counted per pixel).  A group saves the FLOPs of the whole neurons it
    empties (a GPU does not skip zeros inside a neuron)."""

    @classmethod
    def is_layer_optimizable(cls, layer_attributes: Any) -> tuple[bool, Any]:
        v = _core.view(layer_attributes)
        if v is None:
            return False, None
        return True, _core.optimization_attributes("structured")

    @classmethod
    def layer_resources(cls, layer_attributes: Any) -> list[int]:
        return _core.unpruned_resources(layer_attributes, BACKEND, "flops")

    @classmethod
    def layer_savings(cls, layer_attributes: Any) -> list[int]:
        v = _core.view(layer_attributes)
        st = _core.structure(layer_attributes)
        if v is None or st is None:
            return [0]
        pixels = int(v.node.n_pixels)
        return [_core.neurons_covered(v, st) * (2 * v.n_in + 1) * pixels]


class MemoryEstimator(ObjectiveEstimator):
    """Bits of weight storage: ``n_weights × weight width``; unstructured, a zero weight saves its width."""

    @classmethod
    def is_layer_optimizable(cls, layer_attributes: Any) -> tuple[bool, Any]:
        v = _core.view(layer_attributes)
        if v is None:
            return False, None
        return True, _core.optimization_attributes("unstructured")

    @classmethod
    def layer_resources(cls, layer_attributes: Any) -> list[int]:
        return _core.unpruned_resources(layer_attributes, BACKEND, "memory_bits")

    @classmethod
    def layer_savings(cls, layer_attributes: Any) -> list[int]:
        v = _core.view(layer_attributes)
        st = _core.structure(layer_attributes)
        if v is None or st is None:
            return [0]
        return [_core.group_size(v, st) * as_precision(v.node.config.weight).width]


__all__ = ["GPUFLOPEstimator", "MemoryEstimator"]
