"""hls4ml's ``hls4ml.optimization.dsp_aware_pruning.keras.utils`` path (:mod:`hls_opt.train.utils`)."""

from hls_opt.train.utils import (
    get_last_layer_with_weights,
    get_model_gradients,
    get_model_hessians,
    get_model_sparsity,
)

__all__ = ["get_last_layer_with_weights", "get_model_gradients", "get_model_hessians", "get_model_sparsity"]
