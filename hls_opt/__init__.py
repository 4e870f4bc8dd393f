"""hls-opt: hardware-aware pruning and weight sharing for hls4ml (Keras 3).

Importing this package is cheap: TensorFlow and Keras are imported only by the functions
that train or load models (``import hls_opt`` leaves TensorFlow unimported and its global
state untouched).
"""

from __future__ import annotations

from hls_opt._lazy import lazy_attributes

#: The one place the version is written (pyproject.toml reads it: tool.setuptools.dynamic).
__version__ = "0.4.0"

# Public names resolved lazily (PEP 562) so that importing hls_opt never pulls in TensorFlow.
_LAZY = {
    "convert_and_optimize": ("hls_opt.flow.run", "convert_and_optimize"),
    "OptimizationResult": ("hls_opt.flow.run", "OptimizationResult"),
    "optimize_keras_model_for_hls4ml": ("hls_opt.keras", "optimize_keras_model_for_hls4ml"),
    # imported into hls4ml's dsp_aware_pruning package too (from its keras subpackage)
    "optimize_model": ("hls_opt.keras", "optimize_model"),
    "get_attributes_from_keras_model": ("hls_opt.attributes", "get_attributes_from_keras_model"),
    "get_attributes_from_keras_model_and_hls4ml_config": (
        "hls_opt.attributes",
        "get_attributes_from_keras_model_and_hls4ml_config",
    ),
    "config_from_keras_model": ("hls_opt.config", "config_from_keras_model"),
    "solve_knapsack": ("hls_opt.solve.knapsack", "solve_knapsack"),
    # hls4ml's default regularization_range (hls4ml/optimization/dsp_aware_pruning/__init__.py); imports Keras
    "default_regularization_range": ("hls_opt.train.engine", "DEFAULT_REGULARIZATION_RANGE"),
}

__all__ = ["__version__", *sorted(_LAZY)]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
