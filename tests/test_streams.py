"""Streamed data: memory-mapped ``.npy`` folders, ``.npz`` shard folders,
``tf.data`` / ``PyDataset`` pairs — read batch by batch, checked like arrays, giving the array results."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from hls_opt.data import CHECK_SAMPLES, DataStreams, load_data  # noqa: E402
from hls_opt.data.sources import EVAL_BLOCK, NPY_FILES  # noqa: E402
from hls_opt.errors import DataError  # noqa: E402
from hls_opt.train.data import ShuffledBatches, evaluate, fit, fit_input  # noqa: E402
from hls_opt.train.engine import checked_data  # noqa: E402
from hls_opt.train.fit import Predictor, ValidationMetric  # noqa: E402
from hls_opt.train.ranking import MAX_RANKING_SAMPLES  # noqa: E402

KEYS = ("X_train", "y_train", "X_val", "y_val")


class Batches(keras.utils.PyDataset):
    """A user's PyDataset: ``(X, y)`` in order, ``batch`` samples a batch; counts the batches read."""

    def __init__(self, X, y, batch):
        super().__init__()
        self.X, self.y, self.batch, self.reads = X, y, batch, 0

    def __len__(self):
        return -(-len(self.X) // self.batch)

    def __getitem__(self, i):
        self.reads += 1
        return self.X[i * self.batch : (i + 1) * self.batch], self.y[i * self.batch : (i + 1) * self.batch]


def tfdata(X, y, batch):
    return tf.data.Dataset.from_tensor_slices((X, y)).batch(batch)


def task(n_train=300, n_val=200, features=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_train + n_val, features)).astype(np.float32)
    y = np.argmax(X @ rng.normal(size=(features, classes)), axis=1).astype(np.int64)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def save_npy(folder, arrays):
    folder.mkdir(exist_ok=True)
    for name, array in zip(NPY_FILES, arrays):
        np.save(folder / name, array)
    return folder


def save_shards(folder, arrays, cuts):
    """Shards ``cuts`` samples long (of both splits); a shard may hold no validation sample."""
    folder.mkdir(exist_ok=True)
    X_tr, y_tr, X_va, y_va = arrays
    tr = np.cumsum([0, *cuts[0]])
    va = np.cumsum([0, *cuts[1]])
    for i in range(len(cuts[0])):
        np.savez(
            folder / f"part-{i:02d}.npz",
            X_train=X_tr[tr[i] : tr[i + 1]], y_train=y_tr[tr[i] : tr[i + 1]],
            X_val=X_va[va[i] : va[i + 1]], y_val=y_va[va[i] : va[i + 1]],
        )  # fmt: skip
    return folder


def all_forms(arrays, tmp_path, val_batches=(7, 33)):
    """The same data in every form load_data takes (validation streams batched by ``val_batches``)."""
    X_tr, y_tr, X_va, y_va = arrays
    b_tf, b_py = val_batches
    return {
        "arrays": arrays,
        "npy folder": save_npy(tmp_path / "npy", arrays),
        # 300 = 120 + 100 + 80 training, 200 = 90 + 0 + 110 validation (an empty middle shard)
        "shards": save_shards(tmp_path / "shards", arrays, ((120, 100, 80), (90, 0, 110))),
        "memmaps": tuple(np.load(save_npy(tmp_path / "mm", arrays) / n, mmap_mode="r") for n in NPY_FILES),
        "tf.data": (tfdata(X_tr, y_tr, 32), tfdata(X_va, y_va, b_tf)),
        "PyDataset": (Batches(X_tr, y_tr, 32), Batches(X_va, y_va, b_py)),
        "hls4ml slots": (tfdata(X_tr, y_tr, 32), None, Batches(X_va, y_va, b_py), None),
    }


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def test_every_form_streams_the_same_samples_in_order(tmp_path):
    arrays = task()
    for name, data in all_forms(arrays, tmp_path).items():
        streams = load_data(data)
        assert isinstance(streams, DataStreams), name
        for split, (X, y) in ((streams.train, arrays[:2]), (streams.val, arrays[2:])):
            # 200 validation samples re-cut into blocks of 64: 64, 64, 64 and 8, whatever the
            # source's own batches (7, 33, or shards of 90 / 0 / 110)
            blocks = list(split.blocks(64))
            assert [len(b[0]) for b in blocks] == [64] * (len(X) // 64) + [len(X) % 64], name
            np.testing.assert_array_equal(np.concatenate([b[0] for b in blocks]), X, err_msg=name)
            np.testing.assert_array_equal(np.concatenate([b[1] for b in blocks]), y, err_msg=name)
        # the counts are known without reading for arrays and files, not for a user's stream
        expected = None if name in ("tf.data", "PyDataset", "hls4ml slots") else 300
        assert streams.train.num_samples == expected, name


def test_a_training_epoch_is_a_shuffled_permutation_of_every_sample(tmp_path):
    arrays = task()
    for name in ("npy folder", "shards"):
        source = load_data(all_forms(arrays, tmp_path)[name]).train
        rng = np.random.default_rng(0)
        epochs = [source.epoch_plan(32, rng) for _ in range(2)]
        for plan in epochs:
            rows = [source.read(b)[0] for b in plan]
            assert all(len(r) <= 32 for r in rows)
            seen = np.concatenate(rows)
            # brute force: every training sample exactly once (rows are distinct normal draws)
            order = np.lexsort(seen.T[::-1])
            np.testing.assert_array_equal(seen[order], arrays[0][np.lexsort(arrays[0].T[::-1])])
        sizes = sorted(len(source.read(b)[0]) for b in epochs[0])
        if name == "npy folder":
            # 300 samples by 32: ten chunks (nine of 32, one of 12) in one window, shuffled together
            # and cut again: nine batches of 32 and one of 12
            assert sizes == [12] + [32] * 9
            first = [source.read(b)[0] for b in epochs[0]]
            second = [source.read(b)[0] for b in epochs[1]]
            assert not all(np.array_equal(a, b) for a, b in zip(first, second))  # reshuffled
            # a batch mixes rows from several chunks: not all from one run of 32 consecutive rows
            rows = [int(np.flatnonzero((arrays[0] == r).all(1))[0]) for r in first[0]]
            assert len({r // 32 for r in rows}) > 1
        else:
            # a batch never spans two shards: 120 → 4 (the last 24), 100 → 4 (the last 4), 80 → 3 (16)
            assert sizes == [4, 16, 24] + [32] * 8


def test_the_ranking_sample_reads_a_bounded_number_of_batches():
    X, y = np.zeros((10_000, 8), np.float32), np.zeros(10_000, np.int64)
    val = Batches(X, y, 100)
    streams = load_data((Batches(X, y, 100), val))
    # the checks read the first CHECK_SAMPLES = 4096 samples: 41 batches of 100
    assert val.reads == -(-CHECK_SAMPLES // 100) == 41
    val.reads = 0
    Xs, ys = streams.val.first(MAX_RANKING_SAMPLES)
    # the ranking's sample: the first 1024 samples, i.e. 11 batches of 100 (not the 100 there are)
    assert len(Xs) == MAX_RANKING_SAMPLES == 1024 and val.reads == 11


# --------------------------------------------------------------------------------------------
# The streamed validation metric equals the array metric, exactly
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metric",
    ["accuracy", keras.metrics.SparseCategoricalCrossentropy(from_logits=True), keras.losses.sparse_categorical_crossentropy],
    ids=["accuracy", "keras-metric", "loss-function"],
)
def test_the_streamed_validation_metric_equals_the_array_metric(metric, tmp_path):
    # 9000 validation samples: three evaluation blocks (4096, 4096, 808)
    arrays = task(n_train=50, n_val=9000, features=4)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    predict = Predictor(model)
    X_va, y_va = arrays[2:]
    values = {}
    forms = all_forms(arrays, tmp_path, val_batches=(700, 333))  # batches that straddle the blocks
    forms["shards"] = save_shards(tmp_path / "shards9k", arrays, ((20, 30), (5000, 4000)))
    for name, data in forms.items():
        vm = ValidationMetric(metric, y_va)
        values[name] = evaluate(vm, predict, load_data(data).val)
    assert len(set(values.values())) == 1, values  # every form: the same float, bit for bit
    if metric == "accuracy":
        # brute force: the count of right argmaxes over all 9000, divided once
        right = int(np.sum(np.argmax(np.asarray(model(X_va)), 1) == y_va))
        assert values["arrays"] == right / 9000
    assert EVAL_BLOCK == 4096


def test_a_streamed_function_metric_weighs_blocks_by_their_size():
    # a function returning one number per block (here the block's mean of y) is weighted by block
    # size: blocks [0, 0, 0] and [3] give (0·3 + 3·1) / 4 = 0.75, not the mean of block means 1.5
    vm = ValidationMetric(lambda t, p: float(np.mean(t)), np.zeros(4))
    state = vm.start()
    vm.update(state, np.zeros(3), np.zeros((3, 1)))
    vm.update(state, np.full(1, 3.0), np.zeros((1, 1)))
    assert vm.result(state) == 0.75


# --------------------------------------------------------------------------------------------
# Bad data: the same message from arrays and from streams, before any training
# --------------------------------------------------------------------------------------------


def _model(features=8, classes=3):
    return keras.Sequential([keras.Input((features,)), keras.layers.Dense(classes)])


def _bad(kind, arrays):
    X_tr, y_tr, X_va, y_va = (a.copy() for a in arrays)
    if kind == "NaN":
        X_tr[5, 2] = np.nan
    elif kind == "inf in y_val":
        y_va = y_va.astype(np.float32)
        y_va[3] = np.inf
    elif kind == "complex":
        X_va = X_va.astype(np.complex64)
    elif kind == "features":
        X_tr, X_va = X_tr[:, :7], X_va[:, :7]
    elif kind == "class ids":
        y_tr = y_tr + 1  # 1..3 for 3 outputs
    elif kind == "one-hot with a sparse loss":
        y_tr, y_va = np.eye(3, dtype=np.float32)[y_tr], np.eye(3, dtype=np.float32)[y_va]
    return X_tr, y_tr, X_va, y_va


BAD = {
    "NaN": "data: X_train: 1 value is not finite (NaN or inf)",
    "inf in y_val": "data: y_val: 1 value is not finite (NaN or inf)",
    "complex": "data: X_val: complex values (dtype complex64); expected real numbers",
    "features": "data: X_train: 7 features per sample, the model expects 8",
    "class ids": "data: y_train: class ids 1..3, the model has 3 outputs",
    "one-hot with a sparse loss": "data: y_train: targets of shape (3,) (one-hot?), but the loss "
    "'sparsecategoricalcrossentropy' expects one class id per sample; pass class ids or a categorical loss",
}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_streamed_data_gives_the_array_message(kind, tmp_path):
    bad = _bad(kind, task())
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model = _model()
    messages = {}
    for name in ("arrays", "tf.data", "PyDataset", "hls4ml slots"):
        with pytest.raises(DataError) as err:
            checked_data(model, all_forms(bad, tmp_path)[name], loss)
        messages[name] = str(err.value)
    assert set(messages.values()) == {BAD[kind]}, messages
    # the file forms name the file (.npy) or the shard holding the bad array
    for name in ("npy folder", "shards"):
        with pytest.raises(DataError) as err:
            checked_data(model, all_forms(bad, tmp_path)[name], loss)
        where = str(tmp_path / ("npy" if name == "npy folder" else "shards"))
        assert str(err.value).startswith(where), err.value


def test_file_errors_name_the_file(tmp_path):
    arrays = task()
    folder = save_npy(tmp_path / "short", arrays)
    np.save(folder / "y_val.npy", arrays[3][:-1])
    with pytest.raises(DataError, match=r"short: y_val.npy: 199 samples but X_val.npy has 200"):
        load_data(folder)
    (folder / "y_val.npy").unlink()
    with pytest.raises(DataError, match=r"short: missing y_val.npy"):
        load_data(folder)
    shards = save_shards(tmp_path / "sh", arrays, ((150, 150), (100, 100)))
    np.savez(shards / "part-01.npz", X_train=arrays[0][:5, :7], y_train=arrays[1][:5], X_val=arrays[2][:5, :7], y_val=arrays[3][:5])
    with pytest.raises(DataError, match=r"part-01.npz: X_train: samples of shape \(7,\), but part-00.npz's are \(8,\)"):
        load_data(shards)
    np.savez(shards / "part-01.npz", X_train=arrays[0][:5])
    with pytest.raises(DataError, match=r"part-01.npz: missing y_train, X_val, y_val"):
        load_data(shards)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="found neither"):
        load_data(empty)
    with pytest.raises(DataError, match="repeats forever"):
        load_data((tfdata(*arrays[:2], 32).repeat(), tfdata(*arrays[2:], 32)))
    with pytest.raises(DataError, match="an iterator"):
        load_data((iter([arrays[:2]]), tfdata(*arrays[2:], 32)))


def test_a_bad_batch_after_the_checked_ones_stops_fit_with_the_file_named(tmp_path):
    # 5000 training samples: the first CHECK_SAMPLES = 4096 are checked before training; a NaN in
    # sample 4500 is found when its batch is read by fit, and raised as the DataError naming the file
    X_tr, y_tr, X_va, y_va = task(n_train=5000, n_val=50)
    X_tr[4500, 0] = np.nan
    folder = save_npy(tmp_path / "late", (X_tr, y_tr, X_va, y_va))
    streams = load_data(folder)  # passes: the NaN is beyond the checked samples
    ds = fit_input(streams.train, 1000)
    assert isinstance(ds, ShuffledBatches)
    model = _model()
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(DataError, match=r"late: X_train.npy: 1 value is not finite"):
        fit(model, ds, epochs=1, verbose=0)


# --------------------------------------------------------------------------------------------
# Peak memory: flat in the sample count
# --------------------------------------------------------------------------------------------

_MEMORY_CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from hls_opt.data import load_data
    streams = load_data(sys.argv[1])
    rng = np.random.default_rng(0)
    total = 0.0
    for batch in streams.train.epoch_plan(256, rng):   # one training epoch, as fit reads it
        total += float(streams.train.read(batch)[0][:, 0].sum())
    for x, y in streams.val.blocks():                 # one validation pass
        total += float(x[:, 0].sum())
    # this process's own peak (VmHWM; ru_maxrss would carry the forking parent's peak across exec)
    print(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")))
    """
)


@pytest.mark.slow
def test_peak_memory_of_a_streamed_epoch_is_flat_in_the_sample_count(tmp_path):
    # 2·10⁴ and 2·10⁵ samples of 64 float32 features (4.9 and 49 MiB of X): reading one shuffled
    # training epoch and one validation pass must not hold the data — kept maps or a concatenation
    # would add ~44 MiB between the two.  What may grow: the epoch's permutation (4 bytes a sample,
    # 0.6 MiB more) and allocator noise; the bound is 8 MiB.  (benchmarks/stream_memory.py measures
    # the whole optimization.)
    peaks = []
    for n in (20_000, 200_000):
        folder = tmp_path / f"n{n}"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for name, shape in zip(NPY_FILES, ((n, 64), (n,), (n // 4, 64), (n // 4,))):
            out = np.lib.format.open_memmap(folder / name, mode="w+", dtype=np.float32, shape=shape)
            out[:] = rng.random(shape, dtype=np.float32)
            del out
        proc = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(folder)], capture_output=True, text=True, check=True)
        peaks.append(int(proc.stdout.split()[-1]) / 1024)  # KiB → MiB
    assert peaks[1] - peaks[0] < 8, peaks


# --------------------------------------------------------------------------------------------
# End to end: every form gives the array result
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    """The 8-16-3 task of tests/test_optimize.py (600 samples, logits), sparse labels."""
    arrays = task(n_train=400, n_val=200, features=8, classes=3)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu", name="hidden"), keras.layers.Dense(3, name="logits")]
    )
    model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(*arrays[:2], epochs=30, batch_size=32, verbose=0)
    return model, arrays


def _optimize(model, data):
    from hls_opt.attributes import get_attributes_from_keras_model
    from hls_opt.keras.api import run_optimization
    from hls_opt.objectives import ParameterEstimator
    from hls_opt.train.schedulers import PolynomialScheduler

    keras.utils.set_random_seed(1)
    X_tr, y_tr, X_va, y_va = data if len(data) == 4 else (data[0], None, data[1], None)
    return run_optimization(
        model, get_attributes_from_keras_model(model), ParameterEstimator, PolynomialScheduler(2, final_sparsity=0.5),
        X_tr, y_tr, X_va, y_va, 32, 2, keras.optimizers.Adam(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True), "accuracy", True, 0.0,
        tuner="Manual", regularization_range=[0.0],  # no regularisation search: the forms' training is compared
    )  # fmt: skip


@pytest.mark.slow
def test_each_data_form_gives_the_array_result(trained, tmp_path):
    model, arrays = trained
    forms = all_forms(arrays, tmp_path)
    X_tr, y_tr, X_va, y_va = arrays
    runs = {
        "arrays": _optimize(model, arrays),
        "tf.data": _optimize(model, (tfdata(X_tr, y_tr, 32).shuffle(13, seed=0), tfdata(X_va, y_va, 7))),
        "PyDataset": _optimize(model, forms["PyDataset"]),
    }  # (memory-mapped files: the CLI test below)
    ref = runs["arrays"]
    # rtol 0 accepts every step: each form walks the scheduler to 50 % of the 176 parameters (88)
    assert ref.final_resources == {"params": 88.0}
    kept = {k: m.astype(bool) for k, m in ref.masks.items()}
    for name, out in runs.items():
        # the baseline is measured on the same validation samples: exactly the array value
        assert out.baseline_metric == ref.baseline_metric, name
        # training order differs (each form shuffles its own way): the same task within tolerance
        assert abs(out.final_metric - ref.final_metric) <= 0.03, (name, out.final_metric, ref.final_metric)
        assert out.final_resources == ref.final_resources, name
        for layer, mask in out.masks.items():
            # the kept weights mostly agree (l1 ranking on similarly trained weights)
            agree = np.mean(mask.astype(bool) == kept[layer])
            assert agree >= 0.9, (name, layer, agree)


@pytest.mark.slow
@pytest.mark.parametrize("form", ["npy folder", "shards"])
def test_cli_optimizes_from_a_memory_mapped_folder_and_from_shards(trained, form, tmp_path):
    import json

    from hls_opt.cli import main

    model, arrays = trained
    model.save(tmp_path / "model.keras")
    folder = all_forms(arrays, tmp_path)[form]
    out = tmp_path / "out"
    argv = ["-q", "optimize", str(tmp_path / "model.keras"), "--data", str(folder), "-o", str(out), "--no-plots",
            "--optimize", "params", "--scheduler", "polynomial:2:0.5", "--epochs", "3", "--batch-size", "32"]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    # the baseline is the array metric of the validation set (streamed in blocks)
    base = float(np.mean(np.argmax(np.asarray(model(arrays[2])), 1) == arrays[3]))
    assert report["baseline_metric"] == pytest.approx(base, abs=1e-12), report["baseline_metric"]
    assert report["final_metric"] >= 0.975 * base - 1e-9  # the CLI's default --rtol
