"""Training helpers: the validation metric in each form the API accepts (API.md §1)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hls_opt.errors import ConfigError  # noqa: E402
from hls_opt.keras.training import ValidationMetric  # noqa: E402

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

    assert ValidationMetric(acc, Y_SPARSE)(Y_SPARSE, Y_PRED) == pytest.approx(0.75)


@pytest.mark.parametrize("labels", [Y_SPARSE, np.eye(3)[Y_SPARSE]], ids=["sparse", "one-hot"])
def test_accuracy_by_name_follows_the_label_format(labels):
    assert ValidationMetric("accuracy", labels)(labels, Y_PRED) == pytest.approx(0.75)


def test_an_unknown_metric_name_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match="validation_metric 'no_such_metric'"):
        ValidationMetric("no_such_metric", Y_SPARSE)
