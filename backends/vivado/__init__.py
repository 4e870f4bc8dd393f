"""AMD/Xilinx Vivado (and Vitis) HLS backend: resource models and hls4ml-compatible estimators.

The resource models live in :mod:`hls_opt.backends.vivado.resources` (registered as the
backend ``'vivado'``); the estimator classes in :mod:`hls_opt.backends.vivado.objectives`.
Nothing here imports TensorFlow.
"""

from hls_opt.backends.vivado.resources import DSP48E1, DSP48E2, DSPSlice, VivadoBackend

__all__ = ["DSP48E1", "DSP48E2", "DSPSlice", "VivadoBackend"]
