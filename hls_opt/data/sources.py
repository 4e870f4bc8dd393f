"""Training and validation data as streams of ``(x, y)`` batches, never concatenated whole.

One split (training or validation) is a :class:`DataSource`; the pair is a :class:`DataStreams`.
:func:`load_data` turns everything a user may pass into one, checking it on the way:

* arrays (a 4-tuple, a dict, an ``.npz`` file, a :class:`~hls_opt.data.TrainingData`): checked
  whole, as before (:func:`~hls_opt.data.load_training_data`), and streamed as slices;
* ``np.memmap`` arrays, or a directory holding ``X_train.npy``, ``y_train.npy``, ``X_val.npy`` and
  ``y_val.npy`` (opened with ``np.load(mmap_mode='r')``): shapes, dtypes and sample counts are read
  from the headers of the whole files; the values of the first :data:`CHECK_SAMPLES` samples are
  checked before training, every later batch as it is read;
* a directory of ``.npz`` shards (``*.npz``, read in name order), each with the four keys of the
  single ``.npz``: the training set is every shard's ``X_train``/``y_train`` in turn, the validation
  set every shard's ``X_val``/``y_val``; headers of every shard are checked up front (keys, dtypes,
  per-sample shapes, sample counts), values as for ``.npy``; one shard is in memory at a time;
* a pair ``(train, val)`` of re-iterable streams of ``(x, y)`` batches (a ``tf.data.Dataset``, a
  ``keras.utils.PyDataset``): their first batches (up to :data:`CHECK_SAMPLES` samples) are checked
  with the checks of arrays, so both give the same messages.

Nothing here imports TensorFlow or Keras: a ``tf.data.Dataset`` and a ``PyDataset`` are recognised
by their methods.  How ``fit`` consumes a source (a ``tf.data`` pipeline for in-memory arrays, a
shuffled ``keras.utils.PyDataset`` for files, the user's own object for streams) is
``hls_opt/train/data.py``.
"""

from __future__ import annotations

import mmap
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from hls_opt.data.arrays import (
    DATA_KEYS,
    TrainingData,
    check_dtype,
    check_pair_counts,
    check_sample_shapes,
    check_values,
    load_training_data,
    npz_header,
)
from hls_opt.errors import DataError

#: Samples of each split whose values are checked before any training (streams and files; in-memory
#: arrays are checked whole).  Also the rows the label checks (class ids, layouts) look at.
CHECK_SAMPLES = 4096
#: The block size of the streamed validation pass.  Every source is re-cut into blocks of exactly
#: this many samples (the last one shorter), so the model sees the same inputs — and the metric the
#: same per-block values in the same order — whatever the source's own batching: the streamed metric
#: of a stream equals that of the arrays it holds, bit for bit.
EVAL_BLOCK = 4096
#: File names of the memory-mapped form (a directory holding these four ``.npy`` files).
NPY_FILES = ("X_train.npy", "y_train.npy", "X_val.npy", "y_val.npy")

#: Training batches of a file are drawn from windows of this many chunks (each ``batch_size`` rows
#: long, taken from random places in the file) shuffled together: one window is in memory at a time.
WINDOW_CHUNKS = 64

_TRAIN_KEYS = ("X_train", "y_train")
_VAL_KEYS = ("X_val", "y_val")


# --------------------------------------------------------------------------------------------
# A memory-mapped .npy file, mapped only while a batch is read
# --------------------------------------------------------------------------------------------


class NpyFile:
    """An ``.npy`` file read by rows: ``len``, ``shape``, ``dtype`` from its header (``np.load(mmap_mode='r')``,
    which also rejects pickled object arrays), and ``file[rows]`` copies those rows out.

    A run of rows (a slice) of a C-ordered file is read with one ``readinto`` into a fresh array:
    nothing stays mapped, so the process's resident set holds one batch, not the pages it has read
    (a memory map kept open leaves them resident and counted in its RSS; even a map opened per read
    of scattered rows faults in most of the file, the kernel mapping 64 KiB around each touched page).
    Any other index (an index array, a Fortran-ordered file) is read through a map opened for that read.
    """

    def __init__(self, path: Path, label: str) -> None:
        self.path, self.label = Path(path), label
        try:
            mapped = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(f"{self.label}: cannot read as .npy ({exc})") from None
        if not isinstance(mapped, np.memmap):  # a 0-d array or an empty file: no map
            shape = tuple(getattr(mapped, "shape", ()))
            raise DataError(f"{self.label}: expected at least one sample, got shape {shape}")
        self.shape, self.dtype, self.offset = tuple(mapped.shape), mapped.dtype, int(mapped.offset)
        self.order = "F" if (mapped.flags.f_contiguous and not mapped.flags.c_contiguous) else "C"
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        del mapped

    @classmethod
    def of_memmap(cls, array: Any, label: str) -> NpyFile | None:
        """The file behind a caller's ``np.memmap`` (a whole map, not a view), read like an ``.npy``; None otherwise."""
        if not (isinstance(array, np.memmap) and array.filename and isinstance(array.base, mmap.mmap)):
            return None
        if array.ndim == 0 or not array.flags.c_contiguous:
            return None
        reader = cls.__new__(cls)
        reader.path, reader.label = Path(array.filename), label
        reader.shape, reader.dtype, reader.offset, reader.order = tuple(array.shape), array.dtype, int(array.offset), "C"
        reader.row_bytes = int(np.prod(reader.shape[1:], dtype=np.int64)) * reader.dtype.itemsize
        return reader

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: Any) -> np.ndarray:
        if isinstance(rows, slice) and self.order == "C" and rows.step in (None, 1):
            start, stop, _ = rows.indices(self.shape[0])
            out = np.empty((max(stop - start, 0), *self.shape[1:]), dtype=self.dtype)
            if len(out):
                with open(self.path, "rb") as handle:
                    handle.seek(self.offset + start * self.row_bytes)
                    got = handle.readinto(memoryview(out).cast("B"))
                if got != out.nbytes:
                    raise DataError(f"{self.label}: the file is shorter than its header says (truncated?)")
            return out
        mapped = np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset, shape=self.shape, order=self.order)
        try:
            return np.array(mapped[rows])
        finally:
            del mapped


# --------------------------------------------------------------------------------------------
# One split
# --------------------------------------------------------------------------------------------


class DataSource:
    """One split as ``(x, y)`` numpy batches.

    ``source`` names where the data came from (the file, the folder, ``'data'``); ``keys`` the two
    names errors use (``('X_train', 'y_train')``, or the ``.npy`` file names); ``num_samples`` is
    the sample count when it is known without reading the data (None for a user's stream).
    """

    source: str = "data"
    keys: tuple[str, str] = _TRAIN_KEYS
    num_samples: int | None = None
    #: True when the source is numpy arrays in memory (fully checked; ``arrays()`` gives them).
    in_memory: bool = False

    def batches(self, batch_size: int = EVAL_BLOCK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """One pass over the split, in order (a stream's own batches; arrays and files by ``batch_size``)."""
        raise NotImplementedError

    def blocks(self, size: int = EVAL_BLOCK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """One pass in order, re-cut into blocks of exactly ``size`` samples (the last one shorter)."""
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        held = 0
        for x, y in self.batches(size):
            while len(x):
                take = min(size - held, len(x))
                xs.append(x[:take])
                ys.append(y[:take])
                x, y, held = x[take:], y[take:], held + take
                if held == size:
                    yield _joined(xs), _joined(ys)
                    xs, ys, held = [], [], 0
        if held:
            yield _joined(xs), _joined(ys)

    def first(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The first ``min(n, all)`` samples as two arrays (the ranking's bounded sample)."""
        for x, y in self.blocks(int(n)):
            return x, y
        raise DataError(f"{self.source}: {self.keys[0]}: expected at least one sample, got none")

    def probe(self) -> tuple[np.ndarray, np.ndarray]:
        """What the checks before training look at: the first :data:`CHECK_SAMPLES` samples."""
        return self.first(CHECK_SAMPLES)

    def arrays(self) -> tuple[Any, Any]:
        """The split as two sliceable arrays (in memory, or :class:`NpyFile`); streams have none."""
        raise DataError(f"{self.source}: a stream of batches has no arrays")

    def epoch_plan(self, batch_size: int, rng: np.random.Generator) -> list[Any]:
        """One training epoch as a list of batch descriptors, shuffled with ``rng`` (:meth:`read`)."""
        raise NotImplementedError

    def read(self, batch: Any) -> tuple[np.ndarray, np.ndarray]:
        """The ``(x, y)`` arrays of one descriptor of :meth:`epoch_plan`, values checked."""
        raise NotImplementedError

    def user_stream(self) -> Any:
        """The user's own stream object (handed to ``fit`` as it is), or None."""
        return None

    def describe(self) -> str:
        count = "?" if self.num_samples is None else str(self.num_samples)
        return f"{type(self).__name__}({self.source}, {count} samples)"


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)


class ArraySource(DataSource):
    """Two arrays of equal length: numpy arrays in memory, or :class:`NpyFile` / ``np.memmap``.

    In memory, the arrays were checked whole by :func:`~hls_opt.data.load_training_data`; from files,
    each batch's values are checked as it is read (the first ones before training, by :func:`load_data`).
    """

    def __init__(self, X: Any, y: Any, source: str, keys: tuple[str, str], in_memory: bool) -> None:
        self.X, self.y, self.source, self.keys, self.in_memory = X, y, source, keys, in_memory
        self.num_samples = len(X)
        self._window: tuple | None = None

    def batches(self, batch_size: int = EVAL_BLOCK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, self.num_samples, int(batch_size)):
            yield self._checked(slice(start, start + int(batch_size)))

    def arrays(self) -> tuple[Any, Any]:
        return self.X, self.y

    def probe(self) -> tuple[np.ndarray, np.ndarray]:
        if self.in_memory:  # already in memory: the checks see all of it, as before streaming
            return self.X, self.y
        return super().probe()

    def epoch_plan(self, batch_size: int, rng: np.random.Generator) -> list[Any]:
        if self.in_memory:
            # a permutation of every sample, cut into batches
            order = rng.permutation(self.num_samples)
            return [order[i : i + batch_size] for i in range(0, self.num_samples, batch_size)]
        # files: chunks of `batch_size` consecutive rows in a random order, WINDOW_CHUNKS of them at a
        # time read into memory and shuffled together, then cut into batches — each batch mixes rows
        # from up to WINDOW_CHUNKS places in the file (a file sorted by class still gives mixed
        # batches), memory holds one window, and the plan is one small tuple per window
        n_chunks = -(-self.num_samples // batch_size)
        chunks = rng.permutation(n_chunks)
        plan = []
        for w in range(0, n_chunks, WINDOW_CHUNKS):
            window = (int(batch_size), tuple(sorted(int(c) for c in chunks[w : w + WINDOW_CHUNKS])), int(rng.integers(2**62)))
            rows = sum(min(batch_size, self.num_samples - c * batch_size) for c in window[1])
            plan += [(window, j) for j in range(-(-rows // batch_size))]
        return plan

    def read(self, batch: Any) -> tuple[np.ndarray, np.ndarray]:
        if self.in_memory:
            return self._checked(np.sort(batch))
        window, j = batch
        if self._window is None or self._window[0] != window:
            self._window = None  # drop the previous window before reading the next
            size, chunks, seed = window
            parts = [self._checked(slice(c * size, (c + 1) * size)) for c in chunks]
            order = np.random.default_rng(seed).permutation(sum(len(p[0]) for p in parts))
            self._window = (window, _joined([p[0] for p in parts])[order], _joined([p[1] for p in parts])[order])
        size = window[0]
        return self._window[1][j * size : (j + 1) * size], self._window[2][j * size : (j + 1) * size]

    def _checked(self, rows: Any) -> tuple[np.ndarray, np.ndarray]:
        x, y = np.asarray(self.X[rows]), np.asarray(self.y[rows])
        if not self.in_memory:
            check_values(x, self.keys[0], self.source)
            check_values(y, self.keys[1], self.source)
        return x, y


class ShardSource(DataSource):
    """One split spread over ``.npz`` shards (``keys`` in each); one shard of the split is in memory at a time."""

    def __init__(self, shards: list[Path], counts: list[int], keys: tuple[str, str]) -> None:
        self.shards, self.counts, self.keys = list(shards), list(counts), keys
        self.source = str(self.shards[0].parent)
        self.num_samples = int(sum(counts))
        self._cached: tuple[int, np.ndarray, np.ndarray] | None = None
        self._order: tuple[int, int, np.ndarray] | None = None

    def _shard(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if self._cached is None or self._cached[0] != i:
            self._cached = None  # drop the previous shard before reading the next
            path = self.shards[i]
            try:
                with np.load(path, allow_pickle=False) as npz:
                    x, y = npz[self.keys[0]], npz[self.keys[1]]
            except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
                raise DataError(f"{path}: cannot read as .npz ({exc})") from None
            self._cached = (i, x, y)
        return self._cached[1], self._cached[2]

    def _rows(self, i: int, rows: Any) -> tuple[np.ndarray, np.ndarray]:
        x, y = self._shard(i)
        x, y = x[rows], y[rows]
        check_values(x, self.keys[0], str(self.shards[i]))
        check_values(y, self.keys[1], str(self.shards[i]))
        return x, y

    def batches(self, batch_size: int = EVAL_BLOCK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for i, n in enumerate(self.counts):
            for start in range(0, n, int(batch_size)):
                yield self._rows(i, slice(start, start + int(batch_size)))

    def epoch_plan(self, batch_size: int, rng: np.random.Generator) -> list[Any]:
        # shards in a shuffled order, each shuffled within (by a seed drawn here, the permutation made
        # when the shard is read: the plan is three numbers a batch); a batch never spans two shards
        # (one shard is read per pass), which leaves at most one short batch per shard
        plan = []
        for i in rng.permutation(len(self.shards)):
            seed = int(rng.integers(2**62))
            plan += [(int(i), seed, s, int(batch_size)) for s in range(0, self.counts[i], batch_size)]
        return plan

    def read(self, batch: Any) -> tuple[np.ndarray, np.ndarray]:
        i, seed, start, size = batch
        if self._order is None or self._order[:2] != (i, seed):
            self._order = (i, seed, np.random.default_rng(seed).permutation(self.counts[i]))
        return self._rows(i, np.sort(self._order[2][start : start + size]))


class StreamSource(DataSource):
    """A user's re-iterable stream of ``(x, y)`` batches: a ``tf.data.Dataset`` or a
    ``keras.utils.PyDataset`` (read by index).  ``fit`` gets the object as it is."""

    def __init__(self, stream: Any, source: str, keys: tuple[str, str]) -> None:
        self.stream, self.source, self.keys = stream, source, keys

    def user_stream(self) -> Any:
        return self.stream

    def batches(self, batch_size: int = EVAL_BLOCK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        stream = self.stream
        if _is_py_dataset(stream):
            items: Any = (stream[i] for i in range(len(stream)))
        elif hasattr(stream, "as_numpy_iterator"):  # tf.data.Dataset
            items = stream.as_numpy_iterator()
        else:
            items = iter(stream)
        for n, item in enumerate(items, start=1):
            yield self._batch(item, n)

    def _batch(self, item: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
        where = f"batch {n}: "
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            got = f"a sequence of {len(item)}" if isinstance(item, (tuple, list)) else type(item).__name__
            raise DataError(
                f"{self.source}: {where}expected (x, y) batches, got {got} (sample weights are not supported)"
            )
        x, y = (_as_array(v, key, self.source, where) for v, key in zip(item, self.keys))
        for array, key in ((x, self.keys[0]), (y, self.keys[1])):
            check_dtype(array.dtype, key, self.source)
            if array.ndim == 0:
                raise DataError(f"{self.source}: {key}: {where}not a batch (a scalar); is the stream batched?")
        check_pair_counts(len(x), len(y), self.keys, self.source, where)
        return x, y


def _as_array(value: Any, key: str, source: str, where: str) -> np.ndarray:
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    try:
        return np.asarray(value)
    except Exception as exc:  # ragged values and the like
        raise DataError(f"{source}: {key}: {where}not an array ({exc})") from None


def _is_py_dataset(obj: Any) -> bool:
    """A ``keras.utils.PyDataset`` (by its class names, so Keras need not be imported)."""
    return any(c.__name__ == "PyDataset" for c in type(obj).__mro__) or (
        hasattr(obj, "__getitem__") and hasattr(obj, "__len__") and hasattr(obj, "on_epoch_end")
    )


def _is_stream(obj: Any) -> bool:
    """A ``tf.data.Dataset`` (``element_spec``) or a ``keras.utils.PyDataset``."""
    return hasattr(obj, "element_spec") or _is_py_dataset(obj)


# --------------------------------------------------------------------------------------------
# The pair
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataStreams:
    """Training and validation splits; ``source`` names the data in messages."""

    train: DataSource
    val: DataSource
    source: str = "data"

    @cached_property
    def _probe(self) -> TrainingData:
        return TrainingData(*self.train.probe(), *self.val.probe(), source=self.source)

    def probe(self) -> TrainingData:
        """A :class:`~hls_opt.data.TrainingData` of what the checks look at (all of in-memory arrays,
        the first :data:`CHECK_SAMPLES` samples of files and streams); read once, then kept."""
        return self._probe

    @property
    def in_memory(self) -> bool:
        return self.train.in_memory and self.val.in_memory


def load_data(data: Any) -> DataStreams:
    """Every form of training data (module docstring) as checked :class:`DataStreams`.

    Raises :class:`DataError` naming the file, key or batch at fault.
    """
    if isinstance(data, DataStreams):
        return data
    if isinstance(data, (str, Path)) and Path(data).is_dir():
        return _load_directory(Path(data))
    if isinstance(data, (tuple, list)) and len(data) == 4 and data[1] is None and data[3] is None:
        data = (data[0], data[2])  # hls4ml's slots with streams in X_train / X_val
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return _streams(data[0], data[1])
    arrays = _as_mapping(data)
    if arrays is not None and any(isinstance(v, (np.memmap, NpyFile)) for v in arrays.values()):
        # a caller's memory maps: read from their files by rows (no pages left resident), when whole maps
        arrays = {k: NpyFile.of_memmap(v, k) or v for k, v in arrays.items()}
        return _checked_files(arrays, source="data", keys=dict(zip(_TRAIN_KEYS + _VAL_KEYS, _TRAIN_KEYS + _VAL_KEYS)))
    checked: TrainingData = load_training_data(data)
    X_train, y_train, X_val, y_val = checked.as_tuple()
    return DataStreams(
        ArraySource(X_train, y_train, checked.source, _TRAIN_KEYS, in_memory=True),
        ArraySource(X_val, y_val, checked.source, _VAL_KEYS, in_memory=True),
        checked.source,
    )


def _as_mapping(data: Any) -> dict[str, Any] | None:
    if isinstance(data, Mapping) and all(k in data for k in _TRAIN_KEYS + _VAL_KEYS):
        return {k: data[k] for k in _TRAIN_KEYS + _VAL_KEYS}
    if isinstance(data, (tuple, list)) and len(data) == 4:
        return dict(zip(_TRAIN_KEYS + _VAL_KEYS, data))
    return None


def _streams(train: Any, val: Any) -> DataStreams:
    """``(train, val)``: two streams (checked on their first batches), or two ``(X, y)`` pairs."""
    sources = []
    pairs = [isinstance(obj, (tuple, list)) and len(obj) == 2 and not _is_stream(obj) for obj in (train, val)]
    streams = [_is_stream(obj) for obj in (train, val)]
    if (pairs[0] and streams[1]) or (streams[0] and pairs[1]):  # was a TypeError
        stream, arrays = ("training", "validation") if streams[0] else ("validation", "training")
        raise DataError(
            f"data: a {stream} stream with {arrays} arrays: pass both as streams (e.g. "
            "tf.data.Dataset.from_tensor_slices((X, y)).batch(n)) or both as arrays"
        )
    for obj, keys in ((train, _TRAIN_KEYS), (val, _VAL_KEYS)):
        if isinstance(obj, (tuple, list)) and len(obj) == 2 and not _is_stream(obj):
            return load_data((train[0], train[1], val[0], val[1]))
        if not _is_stream(obj):
            what = "an iterator (it can be read once)" if hasattr(obj, "__next__") else type(obj).__name__
            raise DataError(
                f"data: {keys[0]}: expected (X_train, y_train, X_val, y_val) arrays, or a tf.data.Dataset "
                f"or keras.utils.PyDataset of (x, y) batches for training and for validation; got {what}"
            )
        cardinality = getattr(obj, "cardinality", None)
        if callable(cardinality) and int(cardinality()) == -1:  # tf.data.INFINITE_CARDINALITY
            raise DataError(f"data: {keys[0]}: the dataset repeats forever; pass one epoch (no .repeat())")
        sources.append(StreamSource(obj, "data", keys))
    streams = DataStreams(sources[0], sources[1], "data")
    _check_probe(streams)
    return streams


def _check_probe(streams: DataStreams) -> None:
    """The array checks on what :meth:`DataStreams.probe` gives (same messages as arrays)."""
    load_training_data(streams.probe())


def _checked_files(arrays: dict[str, Any], source: str, keys: dict[str, str]) -> DataStreams:
    """Memory-mapped arrays: dtypes, counts and per-sample shapes from the headers, values of the first samples."""
    for key, array in arrays.items():
        check_dtype(np.dtype(array.dtype), keys[key], source)
        if array.ndim == 0 or len(array) == 0:
            raise DataError(f"{source}: {keys[key]}: expected at least one sample, got shape {tuple(array.shape)}")
    for x_key, y_key in (_TRAIN_KEYS, _VAL_KEYS):
        check_pair_counts(len(arrays[x_key]), len(arrays[y_key]), (keys[x_key], keys[y_key]), source)
    check_sample_shapes(arrays["X_train"].shape[1:], arrays["X_val"].shape[1:], source, keys["X_val"], keys["X_train"])
    streams = DataStreams(
        ArraySource(arrays["X_train"], arrays["y_train"], source, (keys["X_train"], keys["y_train"]), in_memory=False),
        ArraySource(arrays["X_val"], arrays["y_val"], source, (keys["X_val"], keys["y_val"]), in_memory=False),
        source,
    )
    _check_probe(streams)
    return streams


def _load_directory(folder: Path) -> DataStreams:
    """A folder of the four ``.npy`` files (memory-mapped), or of ``.npz`` shards."""
    present = [name for name in NPY_FILES if (folder / name).is_file()]
    shards = sorted(p for p in folder.iterdir() if p.suffix == ".npz" and p.is_file())
    if present and shards:
        raise DataError(
            f"{folder}: holds both .npy arrays ({', '.join(present)}) and .npz shards; keep one form per folder"
        )
    if shards:
        return _load_shards(folder, shards)
    if not present:
        raise DataError(
            f"{folder}: expected {', '.join(NPY_FILES)} (memory-mapped) or .npz shards, found neither"
        )
    missing = [name for name in NPY_FILES if name not in present]
    if missing:
        raise DataError(f"{folder}: missing {', '.join(missing)} (the four .npy files are needed)")
    arrays = {name[: -len(".npy")]: NpyFile(folder / name, str(folder / name)) for name in NPY_FILES}
    return _checked_files(arrays, str(folder), {name[: -len(".npy")]: name for name in NPY_FILES})


def _load_shards(folder: Path, shards: list[Path]) -> DataStreams:
    """Every shard's headers checked (keys, dtypes, counts, per-sample shapes alike), then the first samples."""
    counts: dict[str, list[int]] = {"X_train": [], "X_val": []}
    sample_shape: dict[str, tuple] = {}
    for path in shards:
        if not zipfile.is_zipfile(path):
            raise DataError(f"{path}: not an .npz archive (expected keys {', '.join(DATA_KEYS)})")
        with zipfile.ZipFile(path) as archive:
            names = {n[: -len(".npy")] for n in archive.namelist() if n.endswith(".npy")}
            missing = [k for k in DATA_KEYS if k not in names]
            if missing:
                raise DataError(
                    f"{path}: missing {', '.join(missing)} (every shard holds {', '.join(DATA_KEYS)})"
                )
            headers = {k: npz_header(archive, k, path) for k in DATA_KEYS}
        for key, (shape, dtype) in headers.items():
            check_dtype(dtype, key, str(path))
            if not shape:
                raise DataError(f"{path}: {key}: expected at least one sample, got shape {shape}")
            first = sample_shape.setdefault(key, shape[1:])
            if shape[1:] != first:
                raise DataError(
                    f"{path}: {key}: samples of shape {shape[1:]}, but {shards[0].name}'s are {first}"
                )
        for x_key, y_key in (_TRAIN_KEYS, _VAL_KEYS):
            check_pair_counts(headers[x_key][0][0], headers[y_key][0][0], (x_key, y_key), str(path))
            counts[x_key].append(headers[x_key][0][0])
    for x_key in counts:
        if sum(counts[x_key]) == 0:
            raise DataError(f"{folder}: {x_key}: expected at least one sample, every shard has none")
    check_sample_shapes(sample_shape["X_train"], sample_shape["X_val"], str(folder))
    streams = DataStreams(
        ShardSource(shards, counts["X_train"], _TRAIN_KEYS),
        ShardSource(shards, counts["X_val"], _VAL_KEYS),
        str(folder),
    )
    _check_probe(streams)
    return streams


__all__ = [
    "CHECK_SAMPLES",
    "EVAL_BLOCK",
    "NPY_FILES",
    "ArraySource",
    "DataSource",
    "DataStreams",
    "NpyFile",
    "ShardSource",
    "StreamSource",
    "load_data",
]
