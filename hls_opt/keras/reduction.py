"""hls4ml's ``hls4ml.optimization.dsp_aware_pruning.keras.reduction`` path (:mod:`hls_opt.train.reduction`)."""

from hls_opt.train.reduction import reduce_model

__all__ = ["reduce_model"]
