"""Which Keras backend is running, and its module of backend-specific computations.

hls-opt runs on Keras 3's TensorFlow, JAX and PyTorch backends.  Everything but the few things that
need a backend's own autodiff or compiler is written with ``keras.ops`` and Keras' own ``fit``
(masks are kernel constraints, :class:`hls_opt.train.masking.MaskConstraint`; regularisers are
Keras regularizers).  The rest lives in one small module per backend, all with this interface:

``predictor(model) -> (X -> predictions)``
    a compiled forward pass (``training=False``) that follows the model's current weights;
``value_and_gradients(model, variables, loss, X, y, kind) -> (value, [gradient | None])``
    a loss of ``kind`` (:mod:`hls_opt.train.backends.common`) and its gradients;
``hessian_vector_products(model, variables, loss, X, y, vectors) -> [H·z | None]``
    of the mean loss (Hutchinson's Hessian diagonal, :mod:`hls_opt.train.ranking`);
``oracle_losses(model, var, loss, X, y) -> ((members, delta_flat) -> losses)``
    the batched "loss with this group changed" of the oracle ranking;
``FIT_JIT_COMPILE``, ``steps_per_execution()``, ``TRAIN_FUNCTION_SEES_ASSIGNS``, ``FULL_BATCHES``
    how the fine-tuning model is compiled (XLA, train steps per call of the traced function),
    whether its traced train function sees a mask assigned after the trace (if not:
    ``read_from_optimizer_state(model, variables)``), and whether every batch must have one size;
``under_distribution()``
    called as a fine-tuning run sets up, under whatever distribution is in force.

Gradients come back as the backend's tensors on the CPU (``numpy.asarray`` reads them).
The TensorFlow module is imported only under the TensorFlow backend, so a JAX or PyTorch run
never imports TensorFlow.
"""

from __future__ import annotations

from types import ModuleType

from hls_opt.errors import ConfigError

SUPPORTED_BACKENDS = ("tensorflow", "jax", "torch")


def native() -> ModuleType:
    """The computations of the Keras backend in use (``keras.backend.backend()``)."""
    import keras  # here, not at the top: hls_opt.train.utils imports this module without Keras

    name = keras.backend.backend()
    if name == "tensorflow":
        from hls_opt.train.backends import tf as module
    elif name == "jax":
        from hls_opt.train.backends import jax as module
    elif name == "torch":
        from hls_opt.train.backends import torch as module
    else:
        raise ConfigError(
            f"KERAS_BACKEND={name!r}: hls-opt runs on the {', '.join(SUPPORTED_BACKENDS)} backends"
        )
    return module
