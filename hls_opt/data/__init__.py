"""Data loading: the bundled digits set and user training data (tuples or ``.npz`` files).

The project's one digits split is :func:`digits_split`; its one baseline model is
:func:`train_baseline` / :func:`demo_model` (``hls_opt/data/baseline.py``).

``digits.npz`` is scikit-learn's 8×8 handwritten digits (keys ``X`` (1797, 64) uint8 in 0..16,
``y`` (1797,) uint8).  Nothing here imports TensorFlow, so the CLI can validate data files before
paying for that import.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from hls_opt.data.baseline import DEMO_HIDDEN, demo_model, train_baseline
from hls_opt.errors import DataError, ModelError

__all__ = [
    "DATA_KEYS",
    "DEMO_HIDDEN",
    "DigitsSplit",
    "TrainingData",
    "check_input_shape",
    "check_single_output",
    "check_targets",
    "check_targets_for_loss",
    "demo_model",
    "digits_path",
    "digits_split",
    "load_digits",
    "load_training_data",
    "train_baseline",
]

#: The keys a training-data ``.npz`` must hold.
DATA_KEYS = ("X_train", "y_train", "X_val", "y_val")


@dataclass(frozen=True)
class TrainingData:
    """Training and validation arrays; ``source`` names where they came from (for error messages)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    source: str = "data"

    def as_tuple(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.X_train, self.y_train, self.X_val, self.y_val


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


def _check_array(value: Any, key: str, source: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise DataError(f"{source}: {key}: not an array ({exc})") from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise DataError(f"{source}: {key}: expected numbers, got dtype {array.dtype}")
    if np.iscomplexobj(array):  # Keras would silently drop the imaginary part
        raise DataError(f"{source}: {key}: complex values (dtype {array.dtype}); expected real numbers")
    if array.ndim == 0 or array.shape[0] == 0:
        raise DataError(f"{source}: {key}: expected at least one sample, got shape {array.shape}")
    if np.issubdtype(array.dtype, np.inexact):
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        if bad:
            raise DataError(
                f"{source}: {key}: {bad} value{'s are' if bad > 1 else ' is'} not finite (NaN or inf)"
            )
    return array


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected an .npz file")
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not an .npz archive (expected keys {', '.join(DATA_KEYS)})")
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: cannot read as .npz ({exc})") from None
    with npz:
        missing = [k for k in DATA_KEYS if k not in npz.files]
        if missing:
            raise DataError(
                f"{path}: missing {', '.join(missing)} (an .npz with {', '.join(DATA_KEYS)} is needed)"
            )
        try:
            return {k: npz[k] for k in DATA_KEYS}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise DataError(f"{path}: cannot read as .npz ({exc})") from None


def load_training_data(data: Any) -> TrainingData:
    """Validate and return training data.

    ``data`` is a :class:`TrainingData`, a 4-tuple/list ``(X_train, y_train, X_val, y_val)``, a mapping
    with those keys, or a path (str / Path) to an ``.npz`` holding them.  Raises :class:`DataError`
    naming the file or key: missing keys, non-numeric arrays, sample counts of X and y that differ,
    X_train and X_val with different per-sample shapes.
    """
    if isinstance(data, TrainingData):
        arrays, source = dict(zip(DATA_KEYS, data.as_tuple())), data.source
    elif isinstance(data, (str, Path)):
        source = str(data)
        arrays = _load_npz(Path(data))
    elif isinstance(data, dict):
        source = "data"
        missing = [k for k in DATA_KEYS if k not in data]
        if missing:
            raise DataError(f"data: missing {', '.join(missing)}")
        arrays = {k: data[k] for k in DATA_KEYS}
    elif isinstance(data, (tuple, list)):
        source = "data"
        if len(data) != 4:
            raise DataError(f"data: expected (X_train, y_train, X_val, y_val), got a sequence of {len(data)}")
        arrays = dict(zip(DATA_KEYS, data))
    else:
        raise DataError(f"data: expected a 4-tuple, a dict or an .npz path, got {type(data).__name__}")

    checked = {k: _check_array(arrays[k], k, source) for k in DATA_KEYS}
    for x_key, y_key in (("X_train", "y_train"), ("X_val", "y_val")):
        nx, ny = checked[x_key].shape[0], checked[y_key].shape[0]
        if nx != ny:
            raise DataError(f"{source}: {y_key}: {ny} samples but {x_key} has {nx}")
    if checked["X_train"].shape[1:] != checked["X_val"].shape[1:]:
        raise DataError(
            f"{source}: X_val: samples of shape {checked['X_val'].shape[1:]}, "
            f"but X_train's are {checked['X_train'].shape[1:]}"
        )
    return TrainingData(**checked, source=source)


def check_input_shape(data: TrainingData, input_shape: tuple[int | None, ...]) -> None:
    """Raise :class:`DataError` unless each sample of ``X_train``/``X_val`` fits the model input shape.

    ``input_shape`` excludes the batch dimension; ``None`` entries match any size.
    """
    expected = tuple(input_shape)
    for key in ("X_train", "X_val"):
        got = getattr(data, key).shape[1:]
        fits = len(got) == len(expected) and all(e is None or int(e) == g for e, g in zip(expected, got))
        if not fits:
            if len(got) == 1 and len(expected) == 1:
                raise DataError(
                    f"{data.source}: {key}: {got[0]} features per sample, the model expects {expected[0]}"
                )
            raise DataError(f"{data.source}: {key}: samples of shape {got}, the model expects {expected}")


def check_single_output(model: Any) -> None:
    """Raise :class:`ModelError` naming the model when it has several outputs: fine-tuning (with
    data) trains and scores one output; one-shot pruning (no data) works on any number of outputs.

    Per-output losses would train, but the loop's acceptance test compares one validation metric
    with the baseline, and several outputs' metrics have no agreed combination (hls4ml's
    ``optimize_model`` takes the last value ``model.evaluate`` returns, whichever output's it is:
    hls4ml/optimization/dsp_aware_pruning/keras/__init__.py); refusing is clearer than guessing.
    """
    outputs = len(getattr(model, "outputs", None) or ())
    if outputs > 1:
        raise ModelError(
            f"model {getattr(model, 'name', '?')!r}: has {outputs} outputs; fine-tuning with data "
            "supports single-output models only (one validation metric is compared with the baseline); "
            "run without data for one-shot pruning"
        )


def check_targets(data: TrainingData, output_shape: tuple[int | None, ...]) -> None:
    """Raise :class:`DataError` when ``y_train``/``y_val`` cannot be the targets of the model's output.

    ``output_shape`` excludes the batch dimension.  Targets of the output's shape (one-hot,
    regression) fit; one label per sample (shape ``()`` or ``(1,)``) with several outputs is read
    as class ids, which must lie in ``0 .. outputs − 1``.  Anything else of the output's rank must
    match it dimension by dimension (``None`` matches any size); other layouts are left to the loss.
    """
    expected = tuple(output_shape)
    for key in ("y_train", "y_val"):
        y = getattr(data, key)
        got = y.shape[1:]
        if len(expected) == 1 and expected[0] is not None and int(expected[0]) > 1 and got in ((), (1,)):
            n_classes = int(expected[0])
            if np.issubdtype(y.dtype, np.floating) and not np.all(np.mod(y, 1) == 0):
                continue  # not class ids: the loss decides
            low, high = int(np.min(y)), int(np.max(y))
            if low < 0 or high >= n_classes:
                raise DataError(
                    f"{data.source}: {key}: class ids {low}..{high}, the model has {n_classes} outputs"
                )
        elif len(got) == len(expected) and any(e is not None and int(e) != g for e, g in zip(expected, got)):
            raise DataError(f"{data.source}: {key}: targets of shape {got}, the model outputs {expected}")


def _loss_name(loss: Any) -> str:
    """A loss's name with underscores dropped, lower-cased (``'sparsecategoricalcrossentropy'``)."""
    if isinstance(loss, str):
        name = loss
    else:
        name = getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__
    return str(name).replace("_", "").lower()


def check_targets_for_loss(data: TrainingData, loss: Any, n_outputs: int | None) -> None:
    """Raise :class:`DataError` when the label layout cannot be what ``loss`` expects.

    Keras' sparse categorical losses take one class id per sample; the categorical ones take one
    column per class.  Handing one layout to the other fails deep inside ``fit`` with a shape
    error that names neither the data nor the loss, so it is caught here, before training.
    """
    if loss is None or not n_outputs or n_outputs < 2:
        return
    name = _loss_name(loss)
    if "categorical" not in name:
        return
    sparse = "sparse" in name
    for key in ("y_train", "y_val"):
        got = getattr(data, key).shape[1:]
        one_per_sample = got in ((), (1,))
        if sparse and not one_per_sample:
            raise DataError(
                f"{data.source}: {key}: targets of shape {got} (one-hot?), but the loss {name!r} "
                "expects one class id per sample; pass class ids or a categorical loss"
            )
        if not sparse and one_per_sample:
            raise DataError(
                f"{data.source}: {key}: one label per sample, but the loss {name!r} expects one-hot "
                f"targets of width {n_outputs}; pass one-hot labels or a sparse categorical loss"
            )
