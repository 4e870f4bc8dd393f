"""Keras entry point of model reduction: a genuinely smaller model with the same predictions.

Replaces hls4ml's keras-surgeon based ``reduce_model``
(hls4ml/optimization/dsp_aware_pruning/keras/reduction.py), which has no Keras 3 version.  The
surgery is :func:`hls_opt.ir.reduce.reduce_graph` on the IR; this module only converts in and out.
Keras is imported (by the frontend / emitter) when the function runs.
"""

from __future__ import annotations

import logging
from typing import Any

from hls_opt.emit.keras_model import to_keras_model
from hls_opt.frontend.keras import from_keras
from hls_opt.ir.reduce import reduce_graph

__all__ = ["reduce_model"]

logger = logging.getLogger(__name__)


def reduce_model(model: Any) -> Any:
    """A new Keras model with the all-zero neurons / filters of ``model`` removed.

    Dense / Conv1D / Conv2D units whose kernel column / filter is all zero are deleted, and the
    layers after them (Dense, Conv1D, Conv2D, BatchNormalization, through Flatten, pooling,
    Dropout and element-wise activations) are resized; each removed unit's constant output
    ``act(bias)`` is folded into the next layer's bias, so the new model's predictions equal
    ``model``'s up to float rounding.  The last weighted layer (the model's outputs) is never
    reduced.  See :mod:`hls_opt.ir.reduce` for what blocks a removal.

    ``model`` (a built ``Sequential`` or functional Keras 3 model) is not modified; the returned
    model is a ``Sequential`` when ``model`` was one, and is not compiled.
    """
    reduced, removed = reduce_graph(from_keras(model))
    if removed:
        logger.info("reduce_model: removed %s", removed)
    return to_keras_model(reduced)
