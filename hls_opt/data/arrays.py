"""Training data as arrays: :class:`TrainingData`, the ``.npz`` reader and the checks before training.

Every check raises :class:`~hls_opt.errors.DataError` naming the file or key; the streamed forms
(``hls_opt/data/sources.py``) run the same checks on their first batches, so arrays and streams give
the same messages.  Nothing here imports TensorFlow.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hls_opt.errors import DataError, ModelError

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


def check_dtype(dtype: np.dtype, key: str, source: str) -> None:
    """Real numbers (or booleans): DataError naming ``source`` and ``key`` otherwise."""
    if dtype.kind == "O" or not (np.issubdtype(dtype, np.number) or dtype.kind == "b"):
        raise DataError(f"{source}: {key}: expected numbers, got dtype {dtype}")
    if np.issubdtype(dtype, np.complexfloating):  # Keras would silently drop the imaginary part
        raise DataError(f"{source}: {key}: complex values (dtype {dtype}); expected real numbers")


def check_values(array: np.ndarray, key: str, source: str) -> None:
    """Every value finite (NaN and inf are counted in the message)."""
    if np.issubdtype(array.dtype, np.inexact):
        bad = int(array.size - np.count_nonzero(np.isfinite(array)))
        if bad:
            raise DataError(
                f"{source}: {key}: {bad} value{'s are' if bad > 1 else ' is'} not finite (NaN or inf)"
            )


def check_pair_counts(nx: int, ny: int, keys: tuple[str, str], source: str, where: str = "") -> None:
    """As many targets as inputs (``where``: e.g. ``'batch 3: '`` for a stream)."""
    if nx != ny:
        raise DataError(f"{source}: {keys[1]}: {where}{ny} samples but {keys[0]} has {nx}")


def check_sample_shapes(
    train: tuple, val: tuple, source: str, val_key: str = "X_val", train_key: str = "X_train"
) -> None:
    """Training and validation samples of one shape."""
    if tuple(train) != tuple(val):
        raise DataError(f"{source}: {val_key}: samples of shape {tuple(val)}, but {train_key}'s are {tuple(train)}")


def _check_array(value: Any, key: str, source: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise DataError(f"{source}: {key}: not an array ({exc})") from None
    check_dtype(array.dtype, key, source)
    if array.ndim == 0 or array.shape[0] == 0:
        raise DataError(f"{source}: {key}: expected at least one sample, got shape {array.shape}")
    check_values(array, key, source)
    return array


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected an .npz file")
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not an .npz archive (expected keys {', '.join(DATA_KEYS)})")
    try:
        with zipfile.ZipFile(path) as archive:
            present = {n[: -len(".npy")] for n in archive.namelist() if n.endswith(".npy")}
            for key in DATA_KEYS:
                if key in present:
                    npz_header(archive, key, path)  # DataError for a header declaring more than it holds
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read as .npz ({exc})") from None
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
        check_pair_counts(checked[x_key].shape[0], checked[y_key].shape[0], (x_key, y_key), source)
    check_sample_shapes(checked["X_train"].shape[1:], checked["X_val"].shape[1:], source)
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
        if sparse:  # class ids: whole numbers in 0 .. outputs − 1 (check_targets lets fractions pass)
            y = np.asarray(getattr(data, key))
            if y.size and (np.issubdtype(y.dtype, np.floating) or np.issubdtype(y.dtype, np.integer)):
                whole = np.all(np.mod(y, 1) == 0) if np.issubdtype(y.dtype, np.floating) else True
                low, high = float(np.min(y)), float(np.max(y))
                if not whole or low < 0 or high > n_outputs - 1:
                    example = y.reshape(-1)[(np.mod(y, 1) != 0).reshape(-1)][:1] if not whole else None
                    what = f"a fractional label ({example[0]:g})" if not whole else f"labels {low:g}..{high:g}"
                    raise DataError(
                        f"{data.source}: {key}: {what}, but the loss {name!r} expects class ids 0..{n_outputs - 1} "
                        "(whole numbers, one per sample)"
                    )
        if not sparse and one_per_sample:
            raise DataError(
                f"{data.source}: {key}: one label per sample, but the loss {name!r} expects one-hot "
                f"targets of width {n_outputs}; pass one-hot labels or a sparse categorical loss"
            )


def check_single_input(model: Any, source: str = "data") -> None:
    """Raise :class:`DataError` when ``model`` has several inputs: every form of training data gives
    one input array per sample (``X_train``), which cannot feed them (it failed inside
    ``fit``).  One-shot pruning (no data) works on any number of inputs."""
    inputs = list(getattr(model, "inputs", None) or ())
    if len(inputs) > 1:
        names = ", ".join(str(getattr(t, "name", "?")).split(":")[0] for t in inputs)
        raise DataError(
            f"{source}: X_train is one array, but model {getattr(model, 'name', '?')!r} has {len(inputs)} inputs "
            f"({names}); fine-tuning with data supports single-input models only; run without data for "
            "one-shot pruning"
        )


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


def npz_header(archive: zipfile.ZipFile, key: str, path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of one array of an ``.npz`` from its ``.npy`` header (the data are not read)."""
    try:
        with archive.open(key + ".npy") as member:
            version = np.lib.format.read_magic(member)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(member)
            offset = member.tell()
        stored = archive.getinfo(key + ".npy").file_size
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise DataError(f"{path}: {key}: cannot read the array header ({exc})") from None
    # numpy allocates what the header declares before it reads a byte: a header that declares more
    # than the member holds (the size the archive declares, which zipfile enforces) is refused here.
    declared = math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize
    if not np.dtype(dtype).hasobject and declared > stored - offset:  # objects are pickled: refused later
        raise DataError(
            f"{path}: {key}: the header declares shape {tuple(shape)} ({declared} bytes), "
            f"the archive holds {max(stored - offset, 0)} (a corrupt or hostile .npz)"
        )
    return tuple(shape), np.dtype(dtype)
