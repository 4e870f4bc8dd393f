"""What ``model.fit`` and the validation pass read, for every kind of :class:`~hls_opt.data.DataSource`.

* :func:`fit_input`: in-memory arrays under the TensorFlow backend → the shuffled ``tf.data``
  pipeline of :func:`~hls_opt.train.fit.train_dataset` (as before streaming; the same batches,
  so the same results); a user's ``tf.data.Dataset`` / ``keras.utils.PyDataset`` → that object, as
  it is (its own batching and shuffling; ``batch_size`` does not apply, as in ``keras.Model.fit``);
  anything else (memory-mapped ``.npy``, ``.npz`` shards, arrays under another backend) →
  :class:`ShuffledBatches`, a ``keras.utils.PyDataset`` reading one batch at a time (every backend).
* :func:`fit`: ``model.fit`` that gives back the :class:`~hls_opt.errors.DataError` a batch raised
  (Keras' ``tf.data`` generator would turn it into a TensorFlow error naming neither file nor key).
* :func:`evaluate`: the validation metric, streamed over fixed blocks of the validation source.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from hls_opt.data import DataSource
from hls_opt.data.sources import EVAL_BLOCK
from hls_opt.errors import DataError
from hls_opt.train.backends import native
from hls_opt.train.fit import fit as train_fit
from hls_opt.train.fit import train_dataset


class ShuffledBatches(keras.utils.PyDataset):
    """A source's training batches for ``fit``: reshuffled every epoch (seeded), read one at a time.

    The epoch's plan (:meth:`DataSource.epoch_plan`: a sample permutation for arrays and ``.npy``
    files, shard order then samples within a shard for ``.npz`` shards) is drawn from a generator
    seeded with ``seed``, so a run is repeatable.  A batch whose values are bad raises
    :class:`DataError`; it is also kept in :attr:`error` for :func:`fit` to re-raise.

    Under a backend that wants every batch the same size (JAX, ``FULL_BATCHES``: one trace of the
    jitted step, and a ``DataParallel`` distribution splits each batch evenly over its devices) a
    short batch — the last of an epoch, of a ``.npz`` shard — is padded to ``batch_size`` rows with
    the first rows of the batch read before it (its own rows, repeated, when it is the first):
    those samples count twice in that one step.  Other backends get the short batch as it is
    (``docs/devices.md``).
    """

    def __init__(self, source: DataSource, batch_size: int, seed: int = 0) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        self.source, self.batch_size = source, int(batch_size)
        self._rng = np.random.default_rng(seed)
        self.error: DataError | None = None
        self._plan = source.epoch_plan(self.batch_size, self._rng)
        self._full = bool(native().FULL_BATCHES)
        self._previous: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self._plan)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        try:
            x, y = self.source.read(self._plan[index])
        except DataError as exc:
            self.error = exc
            raise
        if self._full:
            x, y = self._padded(x, y)
        return x, y

    def _padded(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b, n = self.batch_size, len(x)
        if n >= b or n == 0:
            self._previous = (x, y)
            return x, y
        px, py = self._previous if self._previous is not None else (x, y)
        take = np.arange(b - n) % len(px)
        return np.concatenate([x, px[take]]), np.concatenate([y, py[take]])

    def on_epoch_end(self) -> None:
        self._plan = self.source.epoch_plan(self.batch_size, self._rng)


def fit_input(source: DataSource, batch_size: int, seed: int = 0) -> Any:
    """What ``model.fit`` is given for ``source`` (module docstring)."""
    stream = source.user_stream()
    if stream is not None:
        return stream
    if source.in_memory and keras.backend.backend() == "tensorflow":
        X, y = source.arrays()
        return train_dataset(X, y, int(batch_size), seed)
    return ShuffledBatches(source, batch_size, seed)


def fit(model: Any, data: Any, **kwargs: Any) -> Any:
    """:func:`hls_opt.train.fit.fit` (``model.fit`` with a train function that sees the masks
    assigned since the last fit, on every backend); a bad batch of a :class:`ShuffledBatches` comes
    out as its DataError."""
    try:
        return train_fit(model, data, **kwargs)
    except Exception:
        error = getattr(data, "error", None)
        if isinstance(error, DataError):
            raise error from None
        raise


def evaluate(metric: Any, predict: Any, source: DataSource, block: int = EVAL_BLOCK) -> float:
    """``metric`` (a :class:`~hls_opt.train.fit.ValidationMetric`) of ``predict`` over ``source``,
    streamed in blocks of ``block`` samples (:data:`~hls_opt.data.sources.EVAL_BLOCK`): only one block
    of inputs and predictions is in memory, and the value is the same for any source holding the same
    samples (the same blocks are predicted and accumulated in the same order)."""
    state = metric.start()
    for x, y in source.blocks(block):
        metric.update(state, y, predict(x))
    return metric.result(state)


__all__ = ["ShuffledBatches", "evaluate", "fit", "fit_input"]
