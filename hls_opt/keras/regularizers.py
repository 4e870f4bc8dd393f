"""hls4ml's ``hls4ml.optimization.dsp_aware_pruning.keras.regularizers`` path: the regularisers live in
:mod:`hls_opt.train.regularizers` (registered with Keras under ``hls_opt>…``, so a model saved by 0.3
loads once either module is imported)."""

from hls_opt.train.regularizers import Conv2DRegularizer, DenseRegularizer, GroupRegularizer

__all__ = ["Conv2DRegularizer", "DenseRegularizer", "GroupRegularizer"]
