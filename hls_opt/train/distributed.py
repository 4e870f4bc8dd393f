"""More than one device: data-parallel fine-tuning under the user's distribution, or one set up here.

hls-opt has no scheduler of its own: the optimization runs under whatever distribution is in force
when it is called, because every model, mask and optimizer variable of the run is created inside
``prune_with_fine_tuning`` (``keras.models.clone_model``, ``MaskConstraint``'s ``keras.Variable``\\ s,
``compile``):

* TensorFlow: call it inside ``with strategy.scope():`` of a ``tf.distribute.Strategy``
  (``MirroredStrategy`` over a node's GPUs, ``MultiWorkerMirroredStrategy`` over hosts).  The variables
  are then mirrored (one copy per replica), ``fit`` splits each batch over the replicas and all-reduces
  the gradients, and Keras applies a variable's constraint — the mask — to every replica's copy after
  each step (``keras/src/optimizers/base_optimizer.py``, ``_apply_weight_decay`` / constraints in
  ``apply``; the masks are mirrored variables, so every replica holds the same mask).
* JAX: ``keras.distribution.set_distribution(keras.distribution.DataParallel(...))`` before the call
  (``keras/src/distribution/distribution_lib.py``): variables replicated, batches sharded.

:func:`distributed` is what ``hls-opt optimize --devices N`` uses to set this up for ``N`` local
devices.  ``docs/devices.md`` shows the same code on a multi-GPU node and on several hosts.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from hls_opt.errors import ConfigError

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def distributed(devices: int | None, field: str = "--devices") -> Iterator[Any]:
    """Data parallelism over ``devices`` local devices for the duration of the block (None or 1: none).

    TensorFlow: a ``tf.distribute.MirroredStrategy`` over the first ``devices`` GPUs, or, on a machine
    without GPUs, over ``devices`` logical CPU devices, at most one per core (the CPU split in as many; this must happen
    before TensorFlow runs anything, so the CLI calls it first — useful to try the set-up, not faster).
    JAX: ``keras.distribution.DataParallel`` over the first ``devices`` devices (restored afterwards).
    Yields the strategy / distribution.  :class:`ConfigError` naming ``field`` when there are fewer
    devices, or on another backend.
    """
    if devices is None or int(devices) <= 1:
        yield None
        return
    import keras

    n = int(devices)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        strategy = _mirrored(n, field)
        logger.info("%s %d: %s over %s", field, n, type(strategy).__name__, ", ".join(strategy.extended.worker_devices))
        with strategy.scope():
            yield strategy
        return
    if backend == "jax":
        found = keras.distribution.list_devices()
        if len(found) < n:
            raise ConfigError(f"{field} {n}: only {len(found)} device(s) visible to JAX ({', '.join(found)})")
        previous = keras.distribution.distribution()
        dist = keras.distribution.DataParallel(devices=found[:n])
        keras.distribution.set_distribution(dist)
        try:
            yield dist
        finally:
            keras.distribution.set_distribution(previous)
        return
    raise ConfigError(f"{field} {n}: data parallelism is set up for the tensorflow and jax backends, not {backend}")


def _mirrored(n: int, field: str) -> Any:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        if len(gpus) < n:
            raise ConfigError(f"{field} {n}: only {len(gpus)} GPU(s) visible")
        return tf.distribute.MirroredStrategy([f"/gpu:{i}" for i in range(n)])
    # No GPU: the CPU split in n logical devices.  More than its cores is not parallelism but n
    # replicas time-sharing them, each step n times over (--devices 64 on 2 cores ran for minutes
    # without a word), so hls-opt does not make such a split itself: more devices than exist is
    # refused.  A split the user made before TensorFlow started (to test a layout, as the tests do)
    # is theirs to use.
    physical = tf.config.list_physical_devices("CPU")[0]
    configured = tf.config.get_logical_device_configuration(physical)  # the user's split; starts nothing
    if not configured or len(configured) < n:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        if n > cores:
            raise ConfigError(
                f"{field} {n}: no GPU visible, and this machine has {cores} CPU core(s) to split into "
                f"devices; use at most {cores}"
            )
        # split the CPU first: listing logical devices would start TensorFlow and fix the split at one
        try:
            tf.config.set_logical_device_configuration(physical, [tf.config.LogicalDeviceConfiguration()] * n)
        except RuntimeError:  # "Virtual devices cannot be modified after being initialized"
            pass
    cpus = tf.config.list_logical_devices("CPU")
    if len(cpus) < n:  # started before, with fewer
        raise ConfigError(
            f"{field} {n}: no GPU, and TensorFlow is already running on {len(cpus)} CPU device(s); "
            "split the CPU before TensorFlow starts (tf.config.set_logical_device_configuration)"
        )
    return tf.distribute.MirroredStrategy([d.name for d in cpus[:n]])


__all__ = ["distributed"]
