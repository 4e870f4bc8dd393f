"""hls4ml's ``hls4ml.optimization.dsp_aware_pruning.keras.masking`` path: ``get_model_masks`` (the
caller's attributes as set, :mod:`hls_opt.keras.api`) and the masking maths of :mod:`hls_opt.train.masking`
(``MaskConstraint`` is the class a 0.3 model names; Keras finds it by its registered name)."""

from hls_opt.keras.api import get_model_masks
from hls_opt.train.masking import SUPPORTED_METRICS, MaskConstraint

__all__ = ["SUPPORTED_METRICS", "MaskConstraint", "get_model_masks"]
