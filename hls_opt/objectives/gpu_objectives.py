"""hls4ml path ``dsp_aware_pruning.objectives.gpu_objectives``: re-exports the GPU estimators."""

from hls_opt.backends.gpu.objectives import GPUFLOPEstimator, MemoryEstimator

__all__ = ["GPUFLOPEstimator", "MemoryEstimator"]
