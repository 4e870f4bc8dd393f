"""Data loading: the bundled digits set and user training data (``arrays.py``: tuples and ``.npz``
files, checked whole; ``sources.py``: the same and memory-mapped ``.npy``, ``.npz`` shards and
``tf.data`` / ``PyDataset`` streams, as :class:`DataStreams` of batches).

The project's one digits split is :func:`digits_split`; its one baseline model is
:func:`train_baseline` / :func:`demo_model` (``hls_opt/data/baseline.py``).

``digits.npz`` is scikit-learn's 8×8 handwritten digits (keys ``X`` (1797, 64) uint8 in 0..16,
``y`` (1797,) uint8).  Nothing here imports TensorFlow, so the CLI can validate data files before
paying for that import.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from hls_opt.data.arrays import (
    DATA_KEYS,
    TrainingData,
    check_input_shape,
    check_single_input,
    check_single_output,
    check_targets,
    check_targets_for_loss,
    load_training_data,
)
from hls_opt.data.baseline import DEMO_HIDDEN, demo_model, train_baseline
from hls_opt.data.sources import CHECK_SAMPLES, DataSource, DataStreams, load_data

__all__ = [
    "CHECK_SAMPLES",
    "DATA_KEYS",
    "DEMO_HIDDEN",
    "DataSource",
    "DataStreams",
    "DigitsSplit",
    "TrainingData",
    "check_input_shape",
    "check_single_input",
    "check_single_output",
    "check_targets",
    "check_targets_for_loss",
    "demo_model",
    "digits_path",
    "digits_split",
    "load_data",
    "load_digits",
    "load_training_data",
    "train_baseline",
]

@dataclass(frozen=True)
class DigitsSplit:
    """The bundled digits, split with a fixed seed.  ``X`` are float32 in [0, 1] (pixel / 16).

    Labels are int64 class ids 0..9; :meth:`one_hot` gives the same split with float32 one-hot labels
    (what hls4ml's examples and ``CategoricalCrossentropy`` use).
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    def training_data(self) -> TrainingData:
        return TrainingData(self.X_train, self.y_train, self.X_val, self.y_val, source="digits")

    def one_hot(self) -> DigitsSplit:
        """The same split with one-hot float32 labels of width 10 (unchanged if they already are)."""
        if self.y_train.ndim == 2:
            return self
        eye = np.eye(DIGITS_CLASSES, dtype=np.float32)
        return DigitsSplit(
            self.X_train, eye[self.y_train], self.X_val, eye[self.y_val], self.X_test, eye[self.y_test]
        )

    def as_dict(self) -> dict[str, np.ndarray]:
        """``{'X_train': …, 'y_train': …, 'X_val': …, 'y_val': …, 'X_test': …, 'y_test': …}``."""
        return {k: getattr(self, k) for k in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")}


#: Classes in the bundled digits.
DIGITS_CLASSES = 10


def digits_path() -> Path:
    """Path of the bundled ``digits.npz``."""
    return Path(str(resources.files(__name__).joinpath("digits.npz")))


def digits_split(seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2) -> DigitsSplit:
    """The one digits split of the project (demo, benchmarks, tests): float32 ``X/16``, int64 labels 0..9.

    The permutation comes from ``numpy.random.default_rng(seed)``, so a seed always gives the same
    split: the first ``round(test_fraction·n)`` permuted samples are the test set, the next
    ``round(val_fraction·n)`` the validation set, the rest (60 % by default) the training set.
    """
    with np.load(digits_path()) as raw:
        X = raw["X"].astype(np.float32) / 16.0
        y = raw["y"].astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(X))
    n_test = int(round(test_fraction * len(X)))
    n_val = int(round(val_fraction * len(X)))
    test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
    return DigitsSplit(X[train], y[train], X[val], y[val], X[test], y[test])


#: The former name of :func:`digits_split` (kept: the same function).
load_digits = digits_split


