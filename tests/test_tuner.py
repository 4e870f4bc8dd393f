"""The regularisation search through the real keras-tuner (``tuner='Bayesian'``) and its fallbacks.

Everything here runs keras-tuner's own ``BayesianOptimization`` and oracle; the only spy is a
wrapper around the real ``keras_tuner.Oracle.update_trial`` that records what each trial reported.
The problem: a 64-16-10 MLP on a subset of the digits split, 400 training and 197 validation samples.  197 is
prime and does not divide 400, so an accuracy in (0, 1) that is a multiple of 1/197 can only have
been measured on the validation set (j/400 = k/197 forces j ∈ {0, 400}).
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hls_opt.attributes import get_attributes_from_keras_model  # noqa: E402
from hls_opt.data import DigitsSplit, digits_split, train_baseline  # noqa: E402
from hls_opt.errors import DataError  # noqa: E402
from hls_opt.keras.api import run_optimization  # noqa: E402
from hls_opt.objectives import ParameterEstimator  # noqa: E402
from hls_opt.train import engine as optimize_module  # noqa: E402
from hls_opt.train.schedulers import PolynomialScheduler  # noqa: E402

pytestmark = pytest.mark.slow

N_TRAIN, N_VAL = 400, 197
RRANGE = [1e-4, 1e-3, 1e-2]
CANDIDATES = [0.0, *RRANGE]  # what the search may propose: 0 plus the range (optimize.py)
FAILS_RTOL = 1e9  # the value run_trial reports for a strength whose unpruned metric fails rtol
LOGGER = "hls_opt.train.engine"


@pytest.fixture(scope="module")
def digits():
    """A 64-16-10 MLP (logits) trained briefly on 400 training digits; 197 validation digits."""
    full = digits_split(seed=0).one_hot()
    split = DigitsSplit(
        full.X_train[:N_TRAIN],
        full.y_train[:N_TRAIN],
        full.X_val[:N_VAL],
        full.y_val[:N_VAL],
        full.X_test,
        full.y_test,
    )
    model = train_baseline(split, hidden=(16,), epochs=10, batch_size=32, learning_rate=0.01)
    return model, split.X_train, split.y_train, split.X_val, split.y_val


def _args(digits, **overrides):
    model, Xtr, ytr, Xva, yva = digits
    args = dict(
        model=model,
        model_attributes=get_attributes_from_keras_model(model),
        objective=ParameterEstimator,
        scheduler=PolynomialScheduler(2, final_sparsity=0.5),
        X_train=Xtr,
        y_train=ytr,
        X_val=Xva,
        y_val=yva,
        batch_size=32,
        epochs=2,
        optimizer=keras.optimizers.Adam(0.01),
        loss_fn=keras.losses.CategoricalCrossentropy(from_logits=True),
        validation_metric=keras.metrics.CategoricalAccuracy(),
        increasing=True,
        rtol=0.95,
        tuner="Bayesian",
        regularization_range=RRANGE,
    )
    args.update(overrides)
    return args


@pytest.fixture
def kt():
    return pytest.importorskip("keras_tuner", reason="the real keras-tuner path needs keras-tuner installed")


@pytest.fixture
def trials(monkeypatch):
    """Every trial keras-tuner's (real) oracle is told about: strength, objective, project dir.

    Stays empty when keras-tuner is not installed (the fallback tests still run then)."""
    seen: list[dict] = []
    try:
        import keras_tuner as kt
    except ImportError:
        return seen
    original = kt.Oracle.update_trial

    def spy(self, trial_id, metrics, step=0):
        seen.append(
            {
                "strength": self.trials[trial_id].hyperparameters.values["strength"],
                "objective": float(metrics["default_objective"]),
                "project_dir": self._project_dir,
                "project_dir_existed": os.path.isdir(self._project_dir),
            }
        )
        return original(self, trial_id, metrics, step=step)

    monkeypatch.setattr(kt.Oracle, "update_trial", spy)
    return seen


@pytest.fixture
def fresh_fallback_log(monkeypatch):
    monkeypatch.setattr(optimize_module, "_logged_tuner_fallback", False)


def _fallback_records(caplog):
    return [r for r in caplog.records if "built-in regularisation search" in r.getMessage()]


def _scored(caplog) -> dict[float, float]:
    """strength → one-shot pruned validation score, from the search's own INFO lines."""
    out = {}
    for r in caplog.records:
        m = re.match(r"regularisation (\S+): unpruned \S+, one-shot at \S+ sparsity (\S+)", r.getMessage())
        if m:
            out[float(m.group(1))] = float(m.group(2))
    return out


def test_bayesian_search_runs_in_keras_tuner_on_validation_data(
    kt, digits, trials, tmp_path, monkeypatch, caplog, capsys, fresh_fallback_log
):
    model = digits[0]
    before = [w.copy() for w in model.get_weights()]
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.INFO, logger=LOGGER)

    out = run_optimization(**_args(digits))
    first = list(trials)

    # keras-tuner ran trials, proposing only candidates; max_trials = min(5, 4 candidates).
    assert 1 <= len(first) <= len(CANDIDATES)
    assert {t["strength"] for t in first} <= set(CANDIDATES)
    assert not _fallback_records(caplog)
    # Each reported objective is −(one-shot pruned validation accuracy) or the rtol-failure value;
    # the accuracy is the one the search logged and a multiple of 1/197: validation data.
    scored = _scored(caplog)
    for t in first:
        if t["objective"] == FAILS_RTOL:
            continue
        accuracy = -t["objective"]
        assert 0 < accuracy < 1
        # accuracy = correct / N_VAL: times N_VAL it must be a whole count of samples
        assert abs(accuracy * N_VAL - round(accuracy * N_VAL)) < 1e-3
        assert abs(scored[t["strength"]] - accuracy) < 6e-5  # the log has 4 decimals
    # The chosen strength is the best the tuner saw (lowest objective, ties → smaller strength),
    # or 0 when every proposal failed rtol.
    passing = [(t["objective"], t["strength"]) for t in first if t["objective"] != FAILS_RTOL]
    expected = min(passing)[1] if passing else 0.0
    assert out.regularization_strength == expected
    assert out.regularization_strength in CANDIDATES

    # Trials lived in a temporary directory outside the working directory, removed afterwards;
    # nothing is left in the working directory (not even hls4ml's default "directory").
    dirs = {t["project_dir"] for t in first}
    assert all(t["project_dir_existed"] for t in first)
    assert all(not Path(d).resolve().is_relative_to(tmp_path.resolve()) for d in dirs)
    assert not any(os.path.exists(d) for d in dirs)
    assert os.listdir(tmp_path) == []
    # keras-tuner printed nothing (its display clears notebook output too).
    assert "Trial" not in capsys.readouterr().out

    # The caller's model is untouched: same weights, no constraint or regulariser attached.
    for w0, w1 in zip(before, model.get_weights()):
        np.testing.assert_array_equal(w0, w1)
    for layer in model.layers:
        assert getattr(layer, "kernel_constraint", None) is None
        assert getattr(layer, "kernel_regularizer", None) is None

    # The oracle is seeded: the same problem gives the same proposals and the same choice.
    trials.clear()
    again = run_optimization(**_args(digits))
    assert [t["strength"] for t in trials] == [t["strength"] for t in first]
    assert again.regularization_strength == out.regularization_strength


def test_an_error_while_scoring_reaches_the_caller(kt, digits, trials, tmp_path, monkeypatch):
    # keras-tuner records an exception in run_trial as a failed trial and carries on, so a
    # one-off error would vanish: the metric raises only on its second call (the first is the
    # baseline, the second scores the first proposal); later calls would succeed.
    monkeypatch.chdir(tmp_path)
    calls = []

    def accuracy_then_fail(y_true, y_pred):
        calls.append(1)
        if len(calls) == 2:
            raise DataError("metric broke on purpose")
        return float(np.mean(np.argmax(y_true, 1) == np.argmax(y_pred, 1)))

    with pytest.raises(DataError, match="metric broke on purpose"):
        run_optimization(**_args(digits, validation_metric=accuracy_then_fail, regularization_range=[1e-3]))
    assert trials == []  # no trial reported a score
    assert os.listdir(tmp_path) == []


def test_hyperband_uses_the_builtin_search_and_says_why(
    kt, digits, trials, tmp_path, monkeypatch, caplog, fresh_fallback_log
):
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.INFO, logger=LOGGER)
    out = run_optimization(**_args(digits, tuner="Hyperband"))
    assert trials == []  # keras-tuner was not asked
    records = _fallback_records(caplog)
    assert len(records) == 1 and records[0].levelno == logging.INFO
    assert "only 'Bayesian'" in records[0].getMessage()
    assert out.regularization_strength in CANDIDATES
    assert os.listdir(tmp_path) == []


def test_bayesian_without_keras_tuner_falls_back_and_logs_once(
    digits, trials, monkeypatch, caplog, fresh_fallback_log
):
    monkeypatch.setitem(sys.modules, "keras_tuner", None)  # "not installed"
    caplog.set_level(logging.INFO, logger=LOGGER)
    run_optimization(**_args(digits))
    run_optimization(**_args(digits))
    assert trials == []  # the real oracle was never used
    records = _fallback_records(caplog)
    assert len(records) == 1 and records[0].levelno == logging.INFO
    assert "keras-tuner is not installed" in records[0].getMessage()


def test_bayesian_without_scikit_learn_falls_back(
    kt, digits, trials, monkeypatch, caplog, fresh_fallback_log
):
    # keras-tuner's BayesianOptimization raises ImportError without scipy / scikit-learn (its
    # 'bayesian' extra); that is a fallback with a hint, not a crash of the default tuner.
    bayesian = importlib.import_module(kt.BayesianOptimization.__module__)
    if not hasattr(bayesian, "sklearn"):
        pytest.skip("this keras-tuner does not import scikit-learn where 1.4 does")
    monkeypatch.setattr(bayesian, "sklearn", None)
    caplog.set_level(logging.INFO, logger=LOGGER)
    out = run_optimization(**_args(digits))
    assert trials == []
    records = _fallback_records(caplog)
    assert len(records) == 1 and "scikit-learn" in records[0].getMessage()
    assert out.regularization_strength in CANDIDATES
