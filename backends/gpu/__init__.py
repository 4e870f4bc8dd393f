"""GPU backend: FLOPs, parameter count and weight memory of a layer.

Registered as the backend ``'gpu'``; the hls4ml-compatible ``GPUFLOPEstimator`` and the
memory estimator are in :mod:`hls_opt.backends.gpu.objectives`.
"""

from hls_opt.backends.gpu.resources import GPUBackend

__all__ = ["GPUBackend"]
