"""hls4ml-compatible Keras entry points (``hls4ml.optimization.dsp_aware_pruning.keras``).

``optimize_model`` and ``optimize_keras_model_for_hls4ml`` are resolved lazily so that importing
``hls_opt.keras`` (e.g. for ``hls_opt.train.utils``) does not import TensorFlow.
"""

from __future__ import annotations

from hls_opt._lazy import lazy_attributes

_LAZY = {
    "optimize_model": ("hls_opt.keras.api", "optimize_model"),
    "optimize_keras_model_for_hls4ml": ("hls_opt.keras.api", "optimize_keras_model_for_hls4ml"),
    "run_optimization": ("hls_opt.keras.api", "run_optimization"),
    "compute_masks": ("hls_opt.keras.api", "compute_masks"),
    "OptimizationOutcome": ("hls_opt.train.engine", "OptimizationOutcome"),
    "FineTuneOptions": ("hls_opt.train.engine", "FineTuneOptions"),
    "FineTuner": ("hls_opt.train.engine", "FineTuner"),
    "LoopPolicy": ("hls_opt.train.engine", "LoopPolicy"),
    "prune_with_fine_tuning": ("hls_opt.train.engine", "prune_with_fine_tuning"),
    # hls4ml's other names in hls4ml/optimization/dsp_aware_pruning/keras/__init__.py
    "default_regularization_range": ("hls_opt.train.engine", "DEFAULT_REGULARIZATION_RANGE"),
    "MaskedBackprop": ("hls_opt.train.fit", "MaskedBackprop"),
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
