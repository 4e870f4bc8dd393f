"""hls4ml's Keras optimization constants (``hls4ml/optimization/dsp_aware_pruning/keras/config.py``).

* ``SUPPORTED_LAYERS``: the Keras layer classes the optimizer prunes, for ``isinstance`` checks —
  hls4ml's ``Dense``, ``Conv2D`` (and QKeras ``QDense``, ``QConv2D`` when ``qkeras`` is installed),
  plus ``Conv1D``, which hls-opt also prunes (``docs/compat.md``).
* ``SUPPORTED_METRICS``: hls4ml's ranking metrics, with hls4ml's meaning in
  :func:`hls_opt.keras.masking.get_model_masks`: ``l1`` / ``l2`` group norms, ``oracle`` |∂L/∂w · w|
  (Molchanov et al., 2016), ``saliency`` w² · ∂²L/∂w² (Optimal Brain Damage, LeCun et al., 1989).
  hls-opt's own metrics (adding ``hessian``) are ``hls_opt.train.masking.SUPPORTED_METRICS``.
* ``TMP_DIRECTORY``: hls4ml's default folder for intermediate results.
"""

from __future__ import annotations

import keras

from hls_opt.train.engine import TMP_DIRECTORY


def _qkeras_layers() -> tuple[type, ...]:
    try:
        from qkeras import QConv2D, QDense
    except ImportError:  # QKeras is optional
        return ()
    return (QDense, QConv2D)


SUPPORTED_LAYERS = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, *_qkeras_layers())

SUPPORTED_METRICS = ("l1", "l2", "oracle", "saliency")

__all__ = ["SUPPORTED_LAYERS", "SUPPORTED_METRICS", "TMP_DIRECTORY"]
