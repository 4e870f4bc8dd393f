"""Training helpers: the validation metric in each form the API accepts (docs/optimization.md)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hls_opt.errors import ConfigError  # noqa: E402
from hls_opt.train.fit import ValidationMetric  # noqa: E402

# 4 samples, 3 classes: predictions right for samples 0, 1 and 3, wrong for sample 2 → accuracy 3/4
Y_SPARSE = np.array([0, 1, 2, 1])
Y_PRED = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.7, 0.2, 0.1], [0.2, 0.7, 0.1]], dtype="float32")


def test_a_per_sample_callable_is_averaged():
    # Keras' metric functions return one value per sample ([1, 1, 0, 1] here); the metric is their mean
    metric = ValidationMetric(keras.metrics.sparse_categorical_accuracy, Y_SPARSE)
    assert metric(Y_SPARSE, Y_PRED) == pytest.approx(0.75)


def test_a_scalar_callable_is_used_as_it_is():
    def acc(y_true, y_pred):
        return float(np.mean(y_true == np.argmax(y_pred, axis=-1)))

    # argmax of Y_PRED rows = 0, 1, 0, 1 against labels 0, 1, 2, 1: 3 of 4 right
    assert ValidationMetric(acc, Y_SPARSE)(Y_SPARSE, Y_PRED) == pytest.approx(0.75)


@pytest.mark.parametrize("labels", [Y_SPARSE, np.eye(3)[Y_SPARSE]], ids=["sparse", "one-hot"])
def test_accuracy_by_name_follows_the_label_format(labels):
    assert ValidationMetric("accuracy", labels)(labels, Y_PRED) == pytest.approx(0.75)  # 3 of 4, as above


def test_an_unknown_metric_name_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match="validation_metric 'no_such_metric'"):
        ValidationMetric("no_such_metric", Y_SPARSE)


def _run_with_data(X_train, y_train, X_val, y_val):
    from hls_opt.attributes import get_attributes_from_keras_model
    from hls_opt.keras.api import run_optimization
    from hls_opt.train.schedulers import ConstantScheduler

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    return run_optimization(
        model,
        get_attributes_from_keras_model(model),
        "params",
        ConstantScheduler(update_step=0.5, final_sparsity=0.5),
        X_train,
        y_train,
        X_val,
        y_val,
        8,
        2,
        "adam",
        "mse",
        "mse",
        False,
        1.1,
        tuner=None,
    )


@pytest.mark.parametrize(
    "broken, needle",
    [
        # the same checks and messages as the flow's data loader (hls_opt.data), before any training
        ({"X_val": np.array([[0.0, np.nan, 0.0], [0.0, 0.0, 0.0]])}, "X_val: 1 value is not finite"),
        ({"y_train": np.zeros((3, 2))}, "y_train: 3 samples but X_train has 4"),
        ({"X_val": np.zeros((2, 4))}, r"X_val: samples of shape \(4,\), but X_train's are \(3,\)"),
        ({"y_val": None}, "y_val"),
    ],
)
def test_optimize_model_names_the_array_that_is_wrong(broken, needle):
    from hls_opt.errors import DataError

    data = {
        "X_train": np.zeros((4, 3)),
        "y_train": np.zeros((4, 2)),
        "X_val": np.zeros((2, 3)),
        "y_val": np.zeros((2, 2)),
    }
    data.update(broken)
    with pytest.raises(DataError, match=needle):
        _run_with_data(**data)


def test_an_unknown_loss_or_optimizer_name_is_a_config_error_naming_it():
    from hls_opt.train.fit import fresh_loss, fresh_optimizer

    with pytest.raises(ConfigError, match="loss_fn 'no_such_loss'"):
        fresh_loss("no_such_loss")
    with pytest.raises(ConfigError, match="optimizer 'no_such_optimizer'"):
        fresh_optimizer("no_such_optimizer")


def test_optimize_model_names_labels_that_do_not_fit_the_loss():
    # One-hot targets under a sparse loss: a DataError naming y_train before any training,
    # where Keras would fail inside fit with a rank error that names neither.
    import keras

    from hls_opt.errors import DataError
    from hls_opt.keras import optimize_model
    from hls_opt.objectives import ParameterEstimator
    from hls_opt.train.schedulers import PolynomialScheduler

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    X = np.zeros((12, 4), np.float32)
    y = np.eye(3, dtype=np.float32)[np.arange(12) % 3]
    with pytest.raises(DataError, match="y_train.*one class id per sample"):
        optimize_model(
            model,
            None,
            ParameterEstimator,
            PolynomialScheduler(2, final_sparsity=0.5),
            X,
            y,
            X,
            y,
            4,
            2,
            "adam",
            "sparse_categorical_crossentropy",
            "accuracy",
            True,
            0.9,
        )


def test_several_train_steps_per_call_give_the_same_weights_as_one():
    """The fine-tuner compiles with ``native().steps_per_execution()`` (32 under TensorFlow): Keras
    then runs the same train steps in a loop inside one call.  100 samples in batches of 16 make
    6 full batches and a short one (4 rows), so the loop also meets a batch of another shape;
    after 3 epochs the weights must equal those of one step per call, bit for bit."""
    from hls_opt.train.backends import native
    from hls_opt.train.fit import train_dataset

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 5)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, size=100)]
    weights = []
    for steps in (1, max(2, native().steps_per_execution())):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(3)])
        model.compile(keras.optimizers.Adam(0.01), keras.losses.CategoricalCrossentropy(from_logits=True), steps_per_execution=steps)
        model.fit(train_dataset(X, y, 16, 0) if keras.backend.backend() == "tensorflow" else (X, y), epochs=3, verbose=0, shuffle=False)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
