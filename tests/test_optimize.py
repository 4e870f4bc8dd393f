"""The optimization loop on a tiny problem: contract details of optimize_model / run_optimization."""

from __future__ import annotations

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hls_opt.attributes import OptimizationAttributes, get_attributes_from_keras_model  # noqa: E402
from hls_opt.errors import ConfigError  # noqa: E402
from hls_opt.keras import optimize_model  # noqa: E402
from hls_opt.keras.api import run_optimization  # noqa: E402
from hls_opt.objectives import ParameterEstimator  # noqa: E402
from hls_opt.train.engine import OptimizationOutcome  # noqa: E402
from hls_opt.train.schedulers import ConstantScheduler, PolynomialScheduler  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def problem():
    """A separable 3-class problem and a trained 8-16-3 MLP (logits)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 8)).astype("float32")
    teacher = rng.normal(size=(8, 3))
    y = np.eye(3, dtype="float32")[np.argmax(X @ teacher, axis=1)]
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="relu", name="hidden"),
            keras.layers.Dense(3, name="logits"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), keras.losses.CategoricalCrossentropy(from_logits=True))
    model.fit(X[:400], y[:400], epochs=30, batch_size=32, verbose=0)
    return model, X[:400], y[:400], X[400:], y[400:]


def _args(problem, **overrides):
    model, Xtr, ytr, Xva, yva = problem
    args = dict(
        model=model,
        model_attributes=get_attributes_from_keras_model(model),
        objective=ParameterEstimator,
        scheduler=PolynomialScheduler(3, final_sparsity=0.5),
        X_train=Xtr,
        y_train=ytr,
        X_val=Xva,
        y_val=yva,
        batch_size=32,
        epochs=3,
        optimizer=keras.optimizers.Adam(0.01),
        loss_fn=keras.losses.CategoricalCrossentropy(from_logits=True),
        validation_metric=keras.metrics.CategoricalAccuracy(),
        increasing=True,
        rtol=0.9,
        tuner=None,
    )
    args.update(overrides)
    return args


def _accuracy(model, X, y):
    return float(np.mean(np.argmax(model.predict(X, verbose=0), 1) == np.argmax(y, 1)))


def test_run_visits_the_scheduler_sequence_and_reports_each_step(problem):
    # rtol 0 accepts every step, so the loop walks PolynomialScheduler(3, 0.5) exactly:
    # first trial at the initial sparsity 0, then s_k = 0.5 − 0.5·(1 − k/3)³: 0.3148, 0.4815, 0.5.
    out = run_optimization(**_args(problem, rtol=0.0))
    assert isinstance(out, OptimizationOutcome)
    targets = [s["target"] for s in out.steps]
    np.testing.assert_allclose(targets, [0.0, 0.5 - 0.5 * (2 / 3) ** 3, 0.5 - 0.5 * (1 / 3) ** 3, 0.5])
    assert all(s["accepted"] for s in out.steps)
    # ParameterEstimator: 8·16 + 16·3 = 176 weights; 50 % of the savable ones → 88 kept
    assert out.baseline_resources == {"params": 176.0}
    assert out.steps[-1]["achieved"] == {"params": 88.0}
    assert out.pruned_groups == 88 and out.shared_groups == 0
    kernels = [out.model.get_layer(n).kernel.numpy() for n in ("hidden", "logits")]
    # the masks zero 176 − 88 = 88 weights; a trained weight may also land on exactly 0, hence ≥
    assert sum(int((k == 0).sum()) for k in kernels) >= 88
    for name, mask in out.masks.items():
        assert np.all(out.model.get_layer(name).kernel.numpy()[mask == 0] == 0)
    assert set(out.timings) >= {"setup", "training", "regularisation", "polish", "solving", "evaluation", "total"}
    # every epoch model.fit ran is counted: the search trains each of its 2 non-zero strengths
    # max(1, min(2, epochs // 2)) = 1 epoch; each step its own epochs; a rewinding epoch after every
    # step but the last (the loop stops before rewinding); the polish 3 × epochs = 9 (KeepBest runs them all)
    expected = 2 * 1 + sum(s["epochs"] for s in out.steps) + (len(out.steps) - 1) + 3 * 3
    assert out.epochs_trained == expected


def test_caller_objects_are_not_consumed(problem):
    args = _args(problem)
    model = args["model"]
    weights = [w.copy() for w in model.get_weights()]
    optimizer_before = model.optimizer
    attrs = args["model_attributes"]
    attrs_before = {n: (a.optimizable, repr(a.optimization_attributes)) for n, a in attrs.items()}
    sched = args["scheduler"]
    opt = args["optimizer"]
    metric = args["validation_metric"]
    out = optimize_model(*[args[k] for k in list(args)[:15]], tuner=None)
    assert out is not model
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    assert model.optimizer is optimizer_before
    assert {n: (a.optimizable, repr(a.optimization_attributes)) for n, a in attrs.items()} == attrs_before
    assert sched.get_sparsity() == 0.0  # the copy advanced, not the caller's scheduler
    # Never built nor stepped. A Keras 3 optimizer owns its iterations and learning-rate variables
    # from construction (keras/src/optimizers/base_optimizer.py, BaseOptimizer.__init__), so
    # len(opt.variables) is 2 here, never 0: "never built" is `built` (set by build(), which adds
    # the slot variables), and "never stepped" is iterations == 0.
    assert not opt.built
    assert int(opt.iterations.numpy()) == 0
    assert float(metric.result()) == 0.0  # never updated
    # a second call with the same objects behaves like the first (same step sequence)
    out2 = run_optimization(**args)
    assert [s["target"] for s in out2.steps][:2] == [0.0, pytest.approx(0.5 - 0.5 * (2 / 3) ** 3)]


def test_too_tight_rtol_returns_the_baseline_weights(problem):
    # rtol 1.5 with an increasing metric: no step can reach 1.5× the baseline accuracy
    args = _args(
        problem, rtol=1.5, epochs=2, scheduler=ConstantScheduler(final_sparsity=0.5, update_step=0.25)
    )
    out = run_optimization(**args)
    assert not any(s["accepted"] for s in out.steps)
    assert len(out.steps) == 2  # cutoff_bad_trials = 1: stop after two consecutive failures
    assert all(np.array_equal(a, b) for a, b in zip(problem[0].get_weights(), out.model.get_weights()))
    assert out.final_metric == out.baseline_metric
    assert all(np.all(m == 1) for m in out.masks.values())


def test_metric_as_name_or_callable_and_objective_as_instance_or_name(problem):
    model, Xtr, ytr, Xva, yva = problem

    def acc(y_true, y_pred):
        return float(np.mean(np.argmax(y_true, 1) == np.argmax(y_pred, 1)))

    for metric, objective in (("accuracy", ParameterEstimator()), (acc, "params")):
        out = run_optimization(
            **_args(
                problem,
                validation_metric=metric,
                objective=objective,
                scheduler=ConstantScheduler(final_sparsity=0.3, update_step=0.3),
            )
        )
        assert out.baseline_metric == pytest.approx(acc(yva, model.predict(Xva, verbose=0)))
        assert out.final_metric >= 0.9 * out.baseline_metric
        assert _accuracy(out.model, Xva, yva) == pytest.approx(out.final_metric)


class _NoLastLayer:
    """Optimizes every layer but the output one, for which it answers (False, None) (hls4ml D7)."""

    @classmethod
    def is_layer_optimizable(cls, a):
        if not a.weight_shape or a.name == "logits":
            return False, None
        return True, OptimizationAttributes("structured", pruning=True)

    @classmethod
    def layer_resources(cls, a):
        return [int(np.prod(a.weight_shape))] if a.weight_shape else [0]

    @classmethod
    def layer_savings(cls, a):
        return [int(np.prod(a.weight_shape[:-1]))]


def test_non_optimizable_last_layer_does_not_crash(problem):
    out = run_optimization(**_args(problem, objective=_NoLastLayer, rtol=0.0))
    assert set(out.masks) == {"hidden"}
    # structured: 8 of 16 hidden neurons (8 weights each) are removed, the logits untouched
    assert int((out.model.get_layer("hidden").kernel.numpy() == 0).all(axis=0).sum()) == 8
    np.testing.assert_array_equal(out.model.get_layer("logits").kernel.numpy() == 0, False)


def test_bad_arguments_raise_config_errors(problem):
    with pytest.raises(ConfigError):
        run_optimization(**_args(problem, epochs=1, rewinding_epochs=1))
    with pytest.raises(ConfigError):
        run_optimization(**_args(problem, ranking_metric="Oracle"))
    with pytest.raises(ConfigError):
        run_optimization(**_args(problem, scheduler=object()))


def test_returned_model_loads_in_a_fresh_process_without_hls_opt(problem, tmp_path):
    out = run_optimization(**_args(problem, rtol=0.0))
    path = tmp_path / "m.keras"
    out.model.save(path)
    x = problem[3][:5]
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", out.model.predict(x, verbose=0))
    code = (
        "import sys; sys.modules['hls_opt'] = None\n"  # any import of hls_opt would now fail
        "import numpy as np, keras\n"
        f"m = keras.models.load_model({str(path)!r})\n"
        f"p = m.predict(np.load({str(tmp_path / 'x.npy')!r}), verbose=0)\n"
        f"assert np.array_equal(p, np.load({str(tmp_path / 'y.npy')!r}))\n"
        "assert all(getattr(l, 'kernel_constraint', None) is None and getattr(l, 'kernel_regularizer', None) is None"
        " for l in m.layers)\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(tmp_path)
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_weight_sharing_groups_stay_shared(problem):
    class Sharing(_NoLastLayer):
        @classmethod
        def is_layer_optimizable(cls, a):
            if not a.weight_shape:
                return False, None
            return True, OptimizationAttributes("structured", pruning=False, weight_sharing=True)

        @classmethod
        def layer_savings(cls, a):
            return [1]

    out = run_optimization(
        **_args(
            problem,
            objective=Sharing,
            rtol=0.0,
            scheduler=ConstantScheduler(final_sparsity=0.25, update_step=0.25),
        )
    )
    assert out.shared_groups > 0 and out.pruned_groups == 0
    for name, mask in out.masks.items():
        kernel = out.model.get_layer(name).kernel.numpy()
        for col in np.flatnonzero((mask == 0).all(axis=0)):
            assert np.all(kernel[:, col] == kernel[0, col])  # one shared value per frozen neuron


def test_conv_model_structured_flops_removes_filters_and_pattern_dsp_zeroes_reuse_rows():
    from hls_opt.core.structures import zero_reuse_groups

    rng = np.random.default_rng(1)
    X = rng.normal(size=(160, 6, 6, 1)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, size=160)]
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="c1"),
            keras.layers.Conv2D(4, 3, activation="relu", name="c2"),
            keras.layers.Flatten(),
            keras.layers.Dense(3, name="out"),
        ]
    )
    common = dict(
        scheduler=ConstantScheduler(final_sparsity=0.5, update_step=0.5),
        X_train=X[:120],
        y_train=y[:120],
        X_val=X[120:],
        y_val=y[120:],
        batch_size=32,
        epochs=2,
        optimizer=keras.optimizers.Adam(),
        loss_fn=keras.losses.CategoricalCrossentropy(from_logits=True),
        validation_metric="accuracy",
        increasing=True,
        rtol=0.0,
        tuner=None,
    )
    out = run_optimization(model, get_attributes_from_keras_model(model), "flops", **common)
    assert out.reduced
    filters = [out.model.get_layer(n).kernel.shape[-1] for n in ("c1", "c2")]
    # c1 and c2 start with 4 + 4 = 8 filters: removing any is the point; the 3 logits are never removed
    assert sum(filters) < 8 and out.model.get_layer("out").kernel.shape[-1] == 3

    # Pattern groups on convolutions (RF 9: 9 transposed weights per multiplier), from an objective
    # that asks for them on the Conv2D layers only; half of the 4 + 16 multipliers go.
    class ConvPattern(_NoLastLayer):
        @classmethod
        def is_layer_optimizable(cls, a):
            if len(a.weight_shape) != 4:
                return False, None
            return True, OptimizationAttributes(
                "pattern", pruning=True, pattern_offset=int(np.prod(a.weight_shape)) // 9
            )

        @classmethod
        def layer_savings(cls, a):
            return [1]

    out = run_optimization(model, get_attributes_from_keras_model(model), ConvPattern, **common)
    kernels = [out.model.get_layer(n).kernel.numpy() for n in ("c1", "c2")]
    assert sum(zero_reuse_groups(k, 9) for k in kernels) == 10  # ⌊0.5 · 20⌋ multipliers removed
    assert not np.any(out.model.get_layer("out").kernel.numpy() == 0)


def test_every_output_head_keeps_its_neurons_under_structured_pruning():
    from hls_opt.train.masking import output_layer_names

    inp = keras.Input((8,))
    hidden = keras.layers.Dense(6, name="h")(inp)
    head_a = keras.layers.Activation("softmax")(keras.layers.Dense(3, name="a")(hidden))
    head_b = keras.layers.Dense(2, name="b")(hidden)
    # hls4ml's "last weighted layer" rule would protect only "b"
    assert output_layer_names(keras.Model(inp, [head_a, head_b])) == {"a", "b"}


def test_decreasing_metric_regression():
    # MSE (lower is better): acceptance is mse ≤ rtol · baseline with rtol > 1
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 6)).astype("float32")
    y = (X @ rng.normal(size=(6, 1))).astype("float32")
    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(12, activation="relu", name="h"),
            keras.layers.Dense(1, name="o"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "mse")
    model.fit(X[:200], y[:200], epochs=40, batch_size=32, verbose=0)
    out = run_optimization(
        model,
        get_attributes_from_keras_model(model),
        "params",
        ConstantScheduler(final_sparsity=0.4, update_step=0.2),
        X[:200],
        y[:200],
        X[200:],
        y[200:],
        32,
        3,
        keras.optimizers.Adam(0.01),
        "mse",
        keras.metrics.MeanSquaredError(),
        False,
        1.5,
        tuner=None,
    )
    assert out.final_metric <= 1.5 * out.baseline_metric
    mse = float(np.mean((out.model.predict(X[200:], verbose=0) - y[200:]) ** 2))
    assert mse == pytest.approx(out.final_metric, rel=1e-4)
    assert any(s["accepted"] and s["target"] > 0 for s in out.steps)


def test_no_optimizable_layer_returns_the_baseline_without_training(problem):
    class Nothing(_NoLastLayer):
        @classmethod
        def is_layer_optimizable(cls, a):
            return False, None

    out = run_optimization(**_args(problem, objective=Nothing))
    assert out.steps == [] and out.masks == {}
    assert all(np.array_equal(a, b) for a, b in zip(problem[0].get_weights(), out.model.get_weights()))


def test_bayesian_tuner_without_keras_tuner_falls_back_and_logs_once(problem, caplog, monkeypatch):
    import logging

    import hls_opt.train.engine as optimize_module

    monkeypatch.setitem(sys.modules, "keras_tuner", None)  # "not installed", whatever the machine has
    monkeypatch.setattr(optimize_module, "_logged_tuner_fallback", False)
    sched = ConstantScheduler(final_sparsity=0.2, update_step=0.2)
    with caplog.at_level(logging.INFO, logger="hls_opt.train.engine"):
        run_optimization(**_args(problem, tuner="Bayesian", scheduler=sched))
        run_optimization(**_args(problem, tuner="Bayesian", scheduler=sched))
    fallback = [r for r in caplog.records if "built-in regularisation search" in r.getMessage()]
    assert len(fallback) == 1 and fallback[0].levelno == logging.INFO


def test_bayesian_tuner_drives_the_search_when_keras_tuner_is_installed(problem, monkeypatch):
    # A stand-in for keras-tuner's documented subclassing API (BayesianOptimization(hypermodel=None,
    # max_trials=…, directory=…, project_name=…, overwrite=…); run_trial(trial) returning the float
    # to minimise; trial.hyperparameters.Choice(name, values)).  It proposes the values in order.
    import types

    proposed = []

    class HP:
        def Choice(self, name, values):  # noqa: N802 - keras-tuner's name
            value = values[len(proposed) % len(values)]
            proposed.append(value)
            return value

    class BayesianOptimization:
        def __init__(
            self,
            hypermodel=None,
            objective=None,
            max_trials=10,
            directory=None,
            project_name=None,
            overwrite=False,
            **kwargs,
        ):
            self.max_trials = max_trials
            assert directory and os.path.isdir(directory)

        def search(self, *args, **kwargs):
            self.results = [
                self.run_trial(types.SimpleNamespace(hyperparameters=HP())) for _ in range(self.max_trials)
            ]

    monkeypatch.setitem(
        sys.modules, "keras_tuner", types.SimpleNamespace(BayesianOptimization=BayesianOptimization)
    )
    out = run_optimization(
        **_args(
            problem,
            tuner="Bayesian",
            regularization_range=[1e-4, 1e-3],
            scheduler=ConstantScheduler(final_sparsity=0.2, update_step=0.2),
        )
    )
    assert proposed == [0.0, 1e-4, 1e-3]  # max_trials = min(5, 3 values)
    assert out.regularization_strength in proposed


def test_reduction_of_a_structured_result_keeps_predictions(problem):
    # What run_optimization relies on for GPU FLOPs: removing all-zero neurons changes nothing.
    from hls_opt.train.reduction import reduce_model

    model, _, _, Xva, _ = problem
    pruned = keras.models.clone_model(model)
    weights = [w.copy() for w in model.get_weights()]
    weights[0][:, [1, 4, 9]] = 0.0  # three hidden neurons without inputs (their bias still acts)
    pruned.set_weights(weights)
    reduced = reduce_model(pruned)
    assert reduced.get_layer("hidden").kernel.shape[-1] == 13
    np.testing.assert_allclose(
        reduced.predict(Xva, verbose=0), pruned.predict(Xva, verbose=0), rtol=1e-5, atol=1e-5
    )
