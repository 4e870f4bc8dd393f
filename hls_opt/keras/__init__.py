"""hls4ml-compatible Keras entry points (``hls4ml.optimization.dsp_aware_pruning.keras``).

``optimize_model`` and ``optimize_keras_model_for_hls4ml`` are resolved lazily so that importing
``hls_opt.keras`` (e.g. for ``hls_opt.keras.utils``) does not import TensorFlow.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "optimize_model": ("hls_opt.keras.optimize", "optimize_model"),
    "optimize_keras_model_for_hls4ml": ("hls_opt.keras.optimize", "optimize_keras_model_for_hls4ml"),
    "run_optimization": ("hls_opt.keras.optimize", "run_optimization"),
    "OptimizationOutcome": ("hls_opt.keras.optimize", "OptimizationOutcome"),
    "compute_masks": ("hls_opt.keras.masking", "compute_masks"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'hls_opt.keras' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
