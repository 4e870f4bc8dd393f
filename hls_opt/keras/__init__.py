"""hls4ml-compatible Keras entry points (``hls4ml.optimization.dsp_aware_pruning.keras``).

``optimize_model`` and ``optimize_keras_model_for_hls4ml`` are resolved lazily so that importing
``hls_opt.keras`` (e.g. for ``hls_opt.keras.utils``) does not import TensorFlow.
"""

from __future__ import annotations

from hls_opt._lazy import lazy_attributes

_LAZY = {
    "optimize_model": ("hls_opt.keras.optimize", "optimize_model"),
    "optimize_keras_model_for_hls4ml": ("hls_opt.keras.optimize", "optimize_keras_model_for_hls4ml"),
    "run_optimization": ("hls_opt.keras.optimize", "run_optimization"),
    "OptimizationOutcome": ("hls_opt.keras.optimize", "OptimizationOutcome"),
    "compute_masks": ("hls_opt.keras.masking", "compute_masks"),
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
