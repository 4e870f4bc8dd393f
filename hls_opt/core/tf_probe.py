"""Keras' serialisation without importing TensorFlow when the run does not use it."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def without_tensorflow_probe() -> Iterator[None]:
    """Inside the block, Keras' serialisation does not import TensorFlow to ask whether an object is
    one of TensorFlow's, when TensorFlow is not imported yet and the backend is not TensorFlow.

    ``serialize_keras_object`` checks ``tf.available and isinstance(obj, tf.TensorShape)`` through a
    lazy module (``keras/src/saving/serialization_lib.py``, ``keras/src/utils/module_utils.py``) whose
    ``available`` imports TensorFlow — seconds, in a JAX run that only wanted a model's compile
    config (measured: 3–20 s on this machine, most of a small JAX run's time outside the trainer).
    While TensorFlow is not imported no object can be one of its, so the answer "not available" is
    exact; the lazy module's own state is restored afterwards (a later real use still imports it).
    Uses that private module when present; otherwise does nothing."""
    import keras

    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules:
        yield
        return
    try:
        from keras.src.utils import module_utils

        lazy = module_utils.tensorflow
        saved = lazy._available
    except (ImportError, AttributeError):
        yield
        return
    lazy._available = False
    try:
        yield
    finally:
        lazy._available = saved
