"""More than one device: fine-tuning under a ``tf.distribute.MirroredStrategy`` over
two logical CPU devices, in a subprocess (the CPU must be split before TensorFlow starts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

_CHILD = textwrap.dedent(
    r'''
    import json, os, sys
    import numpy as np
    tmp = sys.argv[1]
    with np.load(f"{tmp}/d.npz") as npz:
        arrays = tuple(npz[k] for k in ("X_train", "y_train", "X_val", "y_val"))

    # the trainer under the strategy, and the same steps on one device
    import contextlib
    import keras
    import tensorflow as tf
    from hls_opt.attributes import get_attributes_from_keras_model
    from hls_opt.data import load_data
    from hls_opt.train.distributed import distributed
    from hls_opt.keras.api import problem_from_attributes
    from hls_opt.train.engine import FineTuneOptions, FineTuner, LoopPolicy
    from hls_opt.objectives import ParameterEstimator

    def run(scope):
        with scope as strategy:   # as the CLI: the model is loaded under it
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
            options = FineTuneOptions(loss=loss, optimizer=keras.optimizers.SGD(0.05), epochs=3, rewinding_epochs=1,
                                      batch_size=32, policy=LoopPolicy(fine_tune="full"))
            model = keras.saving.load_model(f"{tmp}/m.keras")
            attributes = get_attributes_from_keras_model(model)
            groups = list(problem_from_attributes(model, attributes, ParameterEstimator).groups)
            tuner = FineTuner(model, groups, load_data(arrays), options)
            trial = tuner.select(0.5)
            tuner.apply(trial.masks, trial.offsets)
            value, _ = tuner.fine_tune()           # 2 masked epochs, every batch split over the replicas
            kernels = {}
            for g in groups:
                var = tuner.work.get_layer(g.name).kernel.value
                parts = getattr(var, "values", (var,))   # a mirrored variable: one copy per replica
                kernels[g.name] = [np.asarray(p.numpy()) for p in parts]
            return strategy, trial.masks, kernels, value

    strategy, masks2, mirrored, value2 = run(distributed(2))   # first: TensorFlow has run nothing yet
    _, masks1, single, value1 = run(contextlib.nullcontext())

    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync, "copies": {k: len(v) for k, v in mirrored.items()},
        "same_masks": all(np.array_equal(masks1[k], masks2[k]) for k in masks1),
        "pruned_zero_on_every_replica": all(bool(np.all(c[masks2[k] == 0] == 0)) for k, cs in mirrored.items() for c in cs),
        "replicas_equal": all(bool(np.array_equal(cs[0], c)) for cs in mirrored.values() for c in cs),
        "max_diff_to_single": max(float(np.max(np.abs(mirrored[k][0] - single[k][0]))) for k in single),
        "metric_single": value1, "metric_mirrored": value2,
    }))
    '''
)


@pytest.mark.slow
def test_fine_tuning_under_a_mirrored_strategy_matches_one_device(tmp_path):
    import keras
    import numpy as np

    # the data and a trained 8-16-3 model, made here: the child's TensorFlow must run nothing before
    # distributed(2) (what `hls-opt optimize --devices 2` wraps the run in) splits its CPU in two
    rng = np.random.default_rng(0)
    X = rng.normal(size=(512, 8)).astype(np.float32)
    y = np.argmax(X @ rng.normal(size=(8, 3)), axis=1)
    np.savez(tmp_path / "d.npz", X_train=X[:384], y_train=y[:384], X_val=X[384:], y_val=y[384:])
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu", name="hidden"), keras.layers.Dense(3, name="logits")]
    )
    model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(X[:384], y[:384], epochs=20, batch_size=32, verbose=0)
    model.save(tmp_path / "m.keras")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # two replicas; each kernel is a mirrored variable with one copy per replica
    assert out["replicas"] == 2 and set(out["copies"].values()) == {2}
    # the same ranking on the same weights gives the same masks; after 2 masked epochs every replica's
    # copy is zero where the mask is (the constraint ran on each) and the copies are identical
    assert out["same_masks"] and out["pruned_zero_on_every_replica"] and out["replicas_equal"]
    # two masked epochs: Keras draws the shuffled order separately under the strategy, so the weights
    # drift apart a little (measured: 0.005 after 24 SGD steps), and the metric stays within tolerance
    assert out["max_diff_to_single"] < 0.05, out
    assert abs(out["metric_single"] - out["metric_mirrored"]) <= 0.02, out


def test_devices_must_be_a_positive_count(capsys):
    from hls_opt.cli import main

    code = main(["optimize", "m.keras", "-o", "out", "--devices", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "--devices: expected an integer >= 1, got '0'" in err
