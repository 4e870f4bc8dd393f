"""The compiler flow: scheduler strings, emitted configs, reports, atomic saving, and
``convert_and_optimize`` end to end on tiny models."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from hls_opt.config import IOType, Strategy, dump_config_yaml, load_config, save_config
from hls_opt.emit.hls4ml_config import emit_hls_config
from hls_opt.errors import ConfigError
from hls_opt.flow.report import format_table, report_json, summary_text
from hls_opt.flow.run import OptimizationResult, check_rtol, parse_scheduler

# ----------------------------------------------------------------------------------------------
# arguments


@pytest.mark.parametrize(
    "spec, kind, final, extra",
    [
        ("polynomial:5:0.5", "PolynomialScheduler", 0.5, {"maximum_steps": 5}),
        ("polynomial:3:0.8:2", "PolynomialScheduler", 0.8, {"maximum_steps": 3, "decay_power": 2}),
        ("constant:0.1:0.6", "ConstantScheduler", 0.6, {}),
        ("binary:0.7:0.02", "BinaryScheduler", 0.7, {}),
    ],
)
def test_scheduler_strings(spec, kind, final, extra):
    sched = parse_scheduler(spec)
    assert type(sched).__name__ == kind
    assert sched.final_sparsity == pytest.approx(final)
    for key, value in extra.items():
        assert getattr(sched, key) == value


@pytest.mark.parametrize(
    "spec", ["poly:5", "polynomial", "polynomial:x:0.5", "polynomial:2.5:0.5", "binary:1.5"]
)
def test_bad_scheduler_strings(spec):
    with pytest.raises(ConfigError, match="scheduler"):
        parse_scheduler(spec)


def test_default_scheduler_is_five_polynomial_steps_to_half():
    sched = parse_scheduler(None)
    assert type(sched).__name__ == "PolynomialScheduler" and sched.final_sparsity == 0.5


@pytest.mark.parametrize(
    "value, expected",
    [
        (5, 5),
        (np.int64(5), 5),
        (5.0, 5),
        ("7", 7),
        (" 7 ", 7),
        (0, None),
        (True, None),
        (2.5, None),
        ("x", None),
    ],
)
def test_positive_integers_from_python_numpy_or_the_command_line(value, expected):
    # numpy integers (epochs=np.int64(5)) are integers; the CLI passes the text it was given
    from hls_opt.flow.run import check_positive_int

    if expected is None:
        with pytest.raises(ConfigError, match="epochs: expected an integer >= 1"):
            check_positive_int(value, "epochs")
    else:
        assert check_positive_int(value, "epochs") == expected


@pytest.mark.parametrize(
    "value, ok",
    [
        (1.0, True),
        (0.975, True),
        (1e-9, True),
        (0, False),
        (-0.1, False),
        (1.01, False),
        ("abc", False),
        (True, False),
    ],
)
def test_rtol_must_be_in_zero_one(value, ok):
    if ok:
        assert check_rtol(value) == pytest.approx(float(value))
    else:
        with pytest.raises(ConfigError, match="rtol"):
            check_rtol(value)


# ----------------------------------------------------------------------------------------------
# emitted config


@pytest.fixture
def rewritten_graph(dense_graph, layer_config):
    """``rewritten_graph()``: fc rewritten to ResourceUnrolled RF 4; out untouched (Resource RF 4)."""
    import dataclasses

    def build():
        g = dense_graph(16, 8, rf=4)
        fc = g.node("fc")
        g.replace("fc", dataclasses.replace(fc, config=layer_config(4, Strategy.RESOURCE_UNROLLED)))
        return g

    return build


USER = {
    "Model": {
        "Precision": {"default": "ac_fixed<16,6>"},
        "ReuseFactor": 4,
        "Strategy": "Resource",
        "BramFactor": 1000000000,
    },
    "LayerName": {
        "fc": {"Precision": {"weight": "ac_fixed<16,6>", "result": "auto"}, "ReuseFactor": 4},
        "out": {"Precision": {"weight": "ac_fixed<12,4>"}, "Trace": True},
    },
}


def test_emitted_config_rewrites_only_the_rewritten_layers(rewritten_graph):
    import copy

    user = copy.deepcopy(USER)
    cfg = emit_hls_config(rewritten_graph(), user, {"fc"})
    assert user == USER  # the caller's dict is not modified
    assert cfg["LayerName"]["fc"]["Strategy"] == "ResourceUnrolled"
    assert cfg["LayerName"]["fc"]["ReuseFactor"] == 4
    assert cfg["LayerName"]["fc"]["Precision"] == USER["LayerName"]["fc"]["Precision"]  # precision preserved
    assert cfg["LayerName"]["out"] == USER["LayerName"]["out"]  # untouched layer: the user's settings
    # fc is ResourceUnrolled and out is Resource: no common strategy, so the model level stays the user's.
    assert cfg["Model"]["Strategy"] == "Resource"
    assert cfg["Model"]["BramFactor"] == 1000000000
    assert cfg["IOType"] == "io_parallel"


def test_emitted_model_strategy_follows_when_every_weighted_layer_agrees(rewritten_graph, layer_config):
    import dataclasses

    g = rewritten_graph()
    g.replace("out", dataclasses.replace(g.node("out"), config=layer_config(2, Strategy.RESOURCE_UNROLLED)))
    cfg = emit_hls_config(g, USER, {"fc", "out"}, io_type=IOType.STREAM)
    assert cfg["Model"]["Strategy"] == "ResourceUnrolled"
    assert cfg["LayerName"]["out"]["ReuseFactor"] == 2 and cfg["LayerName"]["out"]["Trace"] is True
    assert cfg["IOType"] == "io_stream"


def test_unrolled_spelling_is_accepted_but_never_emitted(rewritten_graph):
    user = {
        "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 4, "Strategy": "Unrolled"},
        "LayerType": {"Dense": {"Strategy": "unrolled"}},
    }
    cfg = emit_hls_config(rewritten_graph(), user, {"fc"})
    text = dump_config_yaml(cfg)
    assert "Unrolled" not in text.replace("ResourceUnrolled", "")
    assert cfg["LayerType"]["Dense"]["Strategy"] == "ResourceUnrolled"


def test_emitted_io_type_is_written_in_hls4ml_spelling_whatever_the_users_case(dense_graph):
    # the config reader accepts any letter case (config.parse_io_type); emitting must too
    cfg = emit_hls_config(dense_graph(), {"Model": {"Strategy": "Latency"}, "IOType": "IO_Stream"})
    assert cfg["IOType"] == "io_stream"
    assert emit_hls_config(dense_graph(), None, io_type="IO_PARALLEL")["IOType"] == "io_parallel"


def test_emitted_config_round_trips_through_yaml(tmp_path, rewritten_graph):
    cfg = emit_hls_config(rewritten_graph(), USER, {"fc"})
    save_config(cfg, tmp_path / "c.yml")
    assert load_config(tmp_path / "c.yml") == cfg


# ----------------------------------------------------------------------------------------------
# reports

REPORT = {
    "backend": "vivado",
    "mode": "fine-tuned",
    "objective": "dsp",
    "baseline_metric": 0.96,
    "final_metric": 0.95,
    "layers": [
        {
            "name": "fc",
            "type": "Dense",
            "strategy": "ResourceUnrolled",
            "reuse_factor": 4,
            "strategy_before": "Resource",
            "reuse_factor_before": 4,
            "before": {"dsp": 32, "bram": 0, "lut": 0, "ff": 0, "flops": 264, "params": 128},
            "after": {"dsp": 16, "bram": 0, "lut": 0, "ff": 0, "flops": 136, "params": 64},
            "sparsity": 0.5,
        },
    ],
    "total": {
        "before": {"dsp": 32, "bram": 0, "lut": 0, "ff": 0, "flops": 264, "params": 128},
        "after": {"dsp": 16, "bram": 0, "lut": 0, "ff": 0, "flops": 136, "params": 64},
    },
    "steps": [{"target": 0.5, "achieved": {"dsp": 16}, "metric": 0.95, "accepted": True}],
}


def test_table_has_dsp_as_first_resource_column_and_a_total_row():
    lines = format_table(REPORT).splitlines()
    header = lines[0].split()
    assert header[:5] == ["layer", "type", "strategy", "RF", "DSP"]
    assert lines[-1].split()[0] == "total"
    assert "32→16" in lines[2] and "32→16" in lines[-1]  # DSP before→after (32 − 16 zero groups)
    assert "Resource→ResourceUnrolled" in lines[2]
    assert "50%" in lines[2]


def test_summary_mentions_the_saving_and_the_metric():
    text = summary_text(REPORT)
    assert "DSP: 32 → 16 (−50.0%)" in text and "0.96 → 0.95" in text


def test_summary_shows_an_increase_with_a_plus_sign():
    # BRAM 4 → 5 is +25 %, not "−-25.0%"
    rep = {"total": {"before": {"bram": 4}, "after": {"bram": 5}}}
    assert "BRAM: 4 → 5 (+25.0%)" in summary_text(rep)


def test_one_shot_step_reports_the_objective_resources_in_either_order():
    # '--optimize bram,dsp' names the objective 'dsp+bram': its step reports DSP and BRAM, read off
    # the backend's estimate of the masked graph -- the same numbers as the report's totals after.
    import keras

    import hls_opt

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((16,)), keras.layers.Dense(8, name="fc"), keras.layers.Dense(4, name="out")]
    )
    cfg = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 4, "Strategy": "Resource"}}
    for objective in ("bram,dsp", "dsp+bram"):
        rep = hls_opt.convert_and_optimize(
            model, cfg, objective=objective, scheduler="polynomial:1:0.5"
        ).report
        assert rep["objective"] == "dsp+bram"
        (step,) = rep["steps"]
        after = rep["total"]["after"]
        assert step["achieved"] == {"dsp": after["dsp"], "bram": after["bram"]}
        assert after["dsp"] < rep["total"]["before"]["dsp"]


def test_the_report_has_each_layers_final_timing_and_the_devices_fraction():
    import keras

    import hls_opt

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((16,)), keras.layers.Dense(8, name="fc"), keras.layers.Dense(4, name="out")]
    )
    cfg = {
        "Part": "xcvu9p-flga2104-2L-e",
        "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 4, "Strategy": "Resource"},
    }
    rep = hls_opt.convert_and_optimize(model, cfg, objective="dsp", scheduler="polynomial:1:0.5").report
    fc = next(layer for layer in rep["layers"] if layer["name"] == "fc")
    # fc 16x8 Resource RF 4 (II = latency = 9, docs/timing.md) is rewritten ResourceUnrolled RF 4
    # (pipelined at II 4): the report gives the final config's II and the user's
    assert (fc["strategy"], fc["ii_before"], fc["ii"]) == ("ResourceUnrolled", 9, 4)
    # 'out' is left Resource (not pruned), so hls4ml still builds the top as DATAFLOW
    assert [layer["strategy"] for layer in rep["layers"] if layer["name"] == "out"] == ["Resource"]
    assert rep["timing"]["before"]["schedule"] == rep["timing"]["after"]["schedule"] == "dataflow"
    assert rep["device"]["name"] == "xcvu9p"  # from the config's Part
    assert rep["device"]["after"]["dsp"]["used"] == rep["total"]["after"]["dsp"]
    # device= is parsed before any work (an unknown Part in the config only loses the fraction:
    # device_from_config, tests/test_budgets.py; the single-layer case whose emitted Model.Strategy
    # changes is run through hls4ml in tests/test_timing_hls4ml.py)
    with pytest.raises(ConfigError, match=r"device: unknown part 'xcvu99p' \(closest known: xcvu9p"):
        hls_opt.convert_and_optimize(model, cfg, device="xcvu99p")


def test_report_json_is_plain_json():
    rep = dict(REPORT, extra=np.float32(0.5), arr=np.arange(2))
    assert json.loads(report_json(rep))["arr"] == [0, 1]


class _FakeModel:
    def __init__(self, fail: bool = False):
        self.fail = fail

    def save(self, path):
        if self.fail:
            with open(path, "wb") as f:
                f.write(b"half")
            raise OSError("disk full")
        with open(path, "wb") as f:
            f.write(b"model")


def test_save_writes_everything_or_nothing(tmp_path):
    ok = OptimizationResult(model=_FakeModel(), hls_config={"Model": {}}, graph=None, report=REPORT)
    written = ok.save(tmp_path / "out", plots=False)
    assert sorted(p.name for p in written) == ["hls_config.yml", "model.keras", "report.json"]
    assert json.loads((tmp_path / "out" / "report.json").read_text())["steps"][0]["accepted"] is True

    bad = OptimizationResult(model=_FakeModel(fail=True), hls_config={"Model": {}}, graph=None, report=REPORT)
    with pytest.raises(OSError):
        bad.save(tmp_path / "new", plots=False)
    assert not (tmp_path / "new").exists()
    with pytest.raises(OSError):
        bad.save(tmp_path / "out", plots=False)  # an existing folder keeps its files
    assert (tmp_path / "out" / "model.keras").read_bytes() == b"model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder left behind


def test_an_output_folder_that_cannot_be_created_is_a_config_error_naming_it(tmp_path):
    (tmp_path / "file").write_text("x")  # a file where the output folder's parent should be
    ok = OptimizationResult(model=_FakeModel(), hls_config={"Model": {}}, graph=None, report=REPORT)
    with pytest.raises(ConfigError, match="file/out: cannot create the output folder"):
        ok.save(tmp_path / "file" / "out", plots=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_plots_are_written_when_matplotlib_is_there(tmp_path):
    pytest.importorskip("matplotlib", reason="the plots extra is not installed (pip install hls-opt[plots])")
    from hls_opt.flow.report import write_plots

    written = write_plots(REPORT, tmp_path)
    assert {p.name for p in written} == {"steps.png", "layers.png"}
    assert all(p.stat().st_size > 0 for p in written)


# ----------------------------------------------------------------------------------------------
# convert_and_optimize end to end


def digits_model(epochs: int | None = None):
    pytest.importorskip("keras")
    from hls_opt.data import digits_split, train_baseline

    split = digits_split(seed=0)
    # the project's baseline (30 epochs) unless a test wants a less trained one
    return (train_baseline(split) if epochs is None else train_baseline(split, epochs=epochs)), split


def demo_config(model):
    from hls_opt.config import config_from_keras_model

    cfg = config_from_keras_model(
        model, granularity="name", default_precision="ac_fixed<16,6>", default_reuse_factor=4
    )
    cfg["Model"]["Strategy"] = "Resource"
    return cfg


@pytest.mark.slow
def test_two_argument_call_prunes_one_shot_and_says_so(tmp_path):
    import hls_opt

    model, split = digits_model(epochs=5)
    kernels_before = [w.copy() for w in model.get_weights()]
    cfg = demo_config(model)
    result = hls_opt.convert_and_optimize(model, cfg)
    assert all(
        np.array_equal(a, b) for a, b in zip(kernels_before, model.get_weights())
    )  # caller's model intact
    rep = result.report
    assert rep["mode"] == "one-shot" and any("one-shot" in n for n in rep["notes"])
    assert rep["total"]["after"]["dsp"] < rep["total"]["before"]["dsp"]
    rewritten = [layer for layer in rep["layers"] if layer["rewritten"]]
    assert rewritten
    for layer in rewritten:
        entry = result.hls_config["LayerName"][layer["name"]]
        assert entry["Strategy"] == "ResourceUnrolled" and entry["ReuseFactor"] > 1
    # The Keras model carries exactly the graph's (pruned) weights.
    for node in result.graph.weighted_nodes():
        assert np.array_equal(result.model.get_layer(node.name).get_weights()[0], node.kernel)
    written = result.save(tmp_path / "out")
    assert {"model.keras", "hls_config.yml", "report.json"} <= {p.name for p in written}
    assert load_config(tmp_path / "out" / "hls_config.yml") == result.hls_config


@pytest.mark.slow
def test_fine_tuning_with_data_honours_rtol_and_accepts_paths(tmp_path):
    import hls_opt

    model, split = digits_model()
    model.save(tmp_path / "m.keras")
    save_config(demo_config(model), tmp_path / "c.yml")
    np.savez(
        tmp_path / "d.npz", X_train=split.X_train, y_train=split.y_train, X_val=split.X_val, y_val=split.y_val
    )
    result = hls_opt.convert_and_optimize(
        str(tmp_path / "m.keras"),
        str(tmp_path / "c.yml"),
        data=str(tmp_path / "d.npz"),
        objective="dsp",
        scheduler="polynomial:2:0.5",
        epochs=2,
        batch_size=64,
        rtol=0.95,
    )
    rep = result.report
    assert rep["mode"] == "fine-tuned" and rep["steps"]
    assert all({"target", "achieved", "metric", "accepted"} <= set(s) for s in rep["steps"])
    assert rep["final_metric"] >= 0.95 * rep["baseline_metric"]
    assert rep["total"]["after"]["dsp"] <= rep["total"]["before"]["dsp"]
    # where the time went (the outcome's timings), and the epochs fit ran: at least the polish's 3 × 2
    assert {"setup", "regularisation", "training", "polish", "solving", "evaluation", "total"} <= set(rep["seconds"])
    assert rep["epochs_trained"] >= 6 and rep["seconds"]["total"] >= rep["seconds"]["polish"] > 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "objective, resource",
    [("flops", "flops"), ("dsp+bram", "bram"), ("params", "params"), ("ff", "ff")],
)
def test_every_objective_fine_tunes_through_the_flow(objective, resource):
    # Regression: with data, the FLOPs objective used to come back from the loop already reduced
    # (fewer neurons), so its weights no longer fitted the graph and unrolled-rewrite raised.
    import hls_opt

    model, split = digits_model()
    result = hls_opt.convert_and_optimize(
        model,
        demo_config(model),
        data=(split.X_train, split.y_train, split.X_val, split.y_val),
        objective=objective,
        scheduler="polynomial:2:0.5",
        epochs=2,
        batch_size=64,
        rtol=0.95,
    )
    rep = result.report
    assert rep["total"]["after"][resource] < rep["total"]["before"][resource]
    assert rep["final_metric"] >= 0.95 * rep["baseline_metric"]
    if objective == "flops":
        # structured pruning ends in a genuinely smaller model: fewer units in a hidden layer
        units = [layer.units for layer in result.model.layers if hasattr(layer, "units")]
        assert units[-1] == 10 and sum(units[:-1]) < 64 + 32


def _exact_regression(compile_loss=None, **flow_args):
    """y = x0 − x1 + noise, fitted exactly by a 4→1 Dense with kernel [1, −1, 0, 0], through the
    flow with the params objective at 50 %: pruning 2 of the 4 kernel weights removes the two zeros,
    so every step scores exactly the baseline.  Returns (result, validation MSE of the model)."""
    import keras

    import hls_opt

    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 4)).astype("float32")
    y = (X[:, :1] - X[:, 1:2] + 0.1 * rng.normal(size=(96, 1))).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, name="out")])
    model.set_weights([np.array([[1.0], [-1.0], [0.0], [0.0]], "float32"), np.zeros(1, "float32")])
    if compile_loss is not None:
        model.compile("adam", compile_loss)
    val_mse = float(np.mean((X[64:, :1] - X[64:, 1:2] - y[64:]) ** 2))
    result = hls_opt.convert_and_optimize(
        model,
        None,
        data=(X[:64], y[:64], X[64:], y[64:]),
        objective="params",
        scheduler="constant:0.5:0.5",
        epochs=2,
        batch_size=32,
        optimize_kwargs={"tuner": "Manual", "regularization_range": [0.0]},
        **flow_args,
    )
    return result, val_mse


@pytest.mark.slow
def test_a_lower_is_better_metric_accepts_steps_within_rtol():
    # "Within rtol = 0.9" for MSE means ≤ baseline / 0.9; the flow used to pass rtol on unchanged,
    # so MSE ≤ 0.9 · baseline was asked and every step failed, even those scoring the baseline.
    result, _ = _exact_regression(loss="mse", metric="mse", rtol=0.9)  # increasing: False from the name
    steps = result.report["steps"]
    assert steps and all(s["accepted"] for s in steps)
    assert result.report["final_metric"] <= result.report["baseline_metric"] / 0.9
    np.testing.assert_array_equal(result.model.get_layer("out").get_weights()[0][2:], 0.0)


@pytest.mark.slow
def test_a_model_compiled_with_a_regression_loss_only_is_scored_by_that_loss():
    # No metric anywhere and an MSE loss: 'accuracy' (the classification default) would threshold
    # continuous targets at 0.5; the validation metric is the loss itself, lower is better.
    result, val_mse = _exact_regression(compile_loss="mse", rtol=0.9)
    assert result.report["baseline_metric"] == pytest.approx(val_mse, rel=1e-5)
    assert result.report["steps"] and all(s["accepted"] for s in result.report["steps"])


@pytest.mark.parametrize(
    "metric, higher_is_better",
    [
        ("accuracy", True),
        ("auc", True),
        ("mse", False),
        ("sparse_categorical_crossentropy", False),
        # lower is better although the name has no "loss"/"error" in it
        ("kl_divergence", False),
        ("kld", False),
        ("poisson", False),
        ("logcosh", False),
        ("false_negatives", False),
    ],
)
def test_the_metric_direction_follows_from_its_name(metric, higher_is_better):
    from hls_opt.flow.run import metric_increasing

    assert metric_increasing(metric) is higher_is_better


def test_a_renamed_keras_metric_keeps_the_direction_of_its_class():
    import keras

    from hls_opt.flow.run import metric_increasing

    assert metric_increasing(keras.metrics.MeanSquaredError(name="val_score")) is False
    assert metric_increasing(keras.metrics.KLDivergence()) is False
    assert metric_increasing(keras.metrics.CategoricalAccuracy(name="acc")) is True


def test_the_returned_model_is_compiled_whatever_form_the_metric_took():
    # A plain callable (a validation_metric form docs/optimization.md lists) has no Keras name: the
    # model is compiled without it, not a ValueError after the whole optimization.  The caller's
    # optimizer object is not shared.
    import keras

    from hls_opt.flow.run import compile_for_keras

    def within_ten_percent(y_true, y_pred):
        return float(np.mean(np.abs(y_pred - y_true) <= 0.1 * np.abs(y_true)))

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    given = keras.optimizers.SGD(0.5)
    compile_for_keras(model, "mse", given, within_ten_percent)
    assert model.compiled and model.optimizer is not given
    assert float(model.optimizer.learning_rate) == pytest.approx(0.5)
    compile_for_keras(model, "mse", None, keras.metrics.MeanAbsoluteError())
    assert model.compiled


# ----------------------------------------------------------------------------------------------
# data loading and progress


def test_digits_split_is_fixed_and_complete():
    from hls_opt.data import digits_split

    a, b = digits_split(seed=0), digits_split(seed=0)
    assert np.array_equal(a.X_train, b.X_train) and np.array_equal(a.y_val, b.y_val)
    # 1797 samples: 20 % test (359), 20 % val (359), the rest train (1079).
    assert (len(a.X_train), len(a.X_val), len(a.X_test)) == (1079, 359, 359)
    assert a.X_train.dtype == np.float32 and a.X_train.min() >= 0 and a.X_train.max() <= 1
    assert set(np.unique(a.y_train)) == set(range(10))
    assert not np.array_equal(digits_split(seed=1).y_train, a.y_train)
    hot = a.one_hot()
    assert hot.y_train.shape == (1079, 10) and np.array_equal(np.argmax(hot.y_test, 1), a.y_test)


def test_training_data_from_tuple_dict_and_npz(tmp_path):
    from hls_opt.data import load_training_data

    X, y = np.zeros((5, 3), np.float32), np.arange(5)
    t = load_training_data((X, y, X[:2], y[:2]))
    assert t.X_val.shape == (2, 3)
    d = load_training_data({"X_train": X, "y_train": y, "X_val": X, "y_val": y})
    assert d.y_val.shape == (5,)
    np.savez(tmp_path / "d.npz", X_train=X, y_train=y, X_val=X, y_val=y)
    assert load_training_data(tmp_path / "d.npz").source == str(tmp_path / "d.npz")


@pytest.mark.parametrize(
    "data, needle",
    [
        (
            (np.zeros((5, 3)), np.zeros(4), np.zeros((2, 3)), np.zeros(2)),
            "y_train: 4 samples but X_train has 5",
        ),
        ((np.zeros((5, 3)), np.zeros(5), np.zeros((2, 4)), np.zeros(2)), "X_val: samples of shape"),
        ((np.zeros((5, 3)), np.zeros(5), np.zeros((2, 3))), "sequence of 3"),
        ((np.array(["a", "b"]), np.zeros(2), np.zeros((2, 3)), np.zeros(2)), "X_train: expected numbers"),
        # a NaN in the data turns every loss and metric into NaN far from the cause
        (
            (np.zeros((2, 3)), np.zeros(2), np.zeros((2, 3)), np.array([0.0, np.nan])),
            "y_val: 1 value is not finite",
        ),
        ({"X_train": np.zeros((2, 1))}, "missing y_train, X_val, y_val"),
        (42, "expected a 4-tuple"),
    ],
)
def test_bad_training_data(data, needle):
    from hls_opt.data import load_training_data
    from hls_opt.errors import DataError

    with pytest.raises(DataError, match=needle):
        load_training_data(data)


def test_target_check_names_labels_that_do_not_fit_the_output():
    from hls_opt.data import check_targets, load_training_data
    from hls_opt.errors import DataError

    X = np.zeros((4, 2))

    def data(y_train, y_val):
        return load_training_data((X, y_train, X[:2], y_val))

    sparse = np.array([0, 2, 1, 2])
    check_targets(data(sparse, sparse[:2]), (3,))  # class ids 0..2 for 3 outputs
    check_targets(data(np.eye(3)[sparse], np.eye(3)[:2]), (3,))  # one-hot, 3 columns
    check_targets(data(np.zeros(4), np.ones(2)), (1,))  # binary / regression, one output
    check_targets(data(np.full(4, 0.5), np.ones(2)), (None,))  # unknown width: nothing to check
    # sparse + 1 = [1, 3, 2, 3]: label 3 does not exist among 3 outputs (Keras fails deep inside fit)
    with pytest.raises(DataError, match="y_train: class ids 1..3, the model has 3 outputs"):
        check_targets(data(sparse + 1, sparse[:2]), (3,))
    # one-hot with 4 columns for 3 outputs
    with pytest.raises(DataError, match=r"y_val: targets of shape \(4,\), the model outputs \(3,\)"):
        check_targets(data(np.eye(3)[sparse], np.eye(4)[:2]), (3,))


def test_input_shape_check_names_the_feature_counts():
    from hls_opt.data import check_input_shape, load_training_data
    from hls_opt.errors import DataError

    data = load_training_data((np.zeros((4, 63)), np.zeros(4), np.zeros((2, 63)), np.zeros(2)))
    check_input_shape(data, (63,))
    check_input_shape(data, (None,))
    with pytest.raises(DataError, match="63 features per sample, the model expects 64"):
        check_input_shape(data, (64,))
    with pytest.raises(DataError, match=r"shape \(63,\), the model expects \(8, 8\)"):
        check_input_shape(data, (8, 8))


def test_quiet_silences_status_and_bars(capsys):
    from hls_opt.core import progress

    try:
        progress.set_quiet(False)
        progress.status("step one")
        assert capsys.readouterr().err == "step one\n"
        progress.set_quiet(True)
        progress.status("step two")
        progress.force_bars(True)
        with progress.progress("bar", total=3) as bar:
            bar.update(3)
        assert capsys.readouterr().err == ""
    finally:
        progress.set_quiet(False)
        progress.force_bars(False)


def test_bars_are_drawn_when_forced(capsys):
    # tqdm when installed, else the plain one-line bar: either way the description is drawn.
    from hls_opt.core import progress

    try:
        progress.force_bars(True)
        with progress.progress("crunching", total=2) as bar:
            bar.update(2)
        assert "crunching" in capsys.readouterr().err
    finally:
        progress.force_bars(False)


@pytest.mark.parametrize("kwargs, expected", [({}, None), ({"tuner": "Bayesian"}, "Bayesian")])
def test_the_flow_uses_the_built_in_regularisation_search_unless_asked(monkeypatch, kwargs, expected):
    # convert_and_optimize is hls-opt's own front door: its default search is the cheap,
    # deterministic built-in one even when keras-tuner is installed (optimize_model keeps
    # hls4ml's 'Bayesian').  The flow itself is stopped right where it would start.
    import keras

    import hls_opt
    import hls_opt.flow.run

    seen = {}

    class Stop(Exception):
        pass

    def fake_run_flow(graph, flow, context, **_):
        seen["tuner"] = context.training.tuner
        raise Stop

    monkeypatch.setattr(hls_opt.flow.run, "run_flow", fake_run_flow)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    X, y = np.zeros((8, 4), np.float32), np.zeros((8, 2), np.float32)
    with pytest.raises(Stop):
        hls_opt.convert_and_optimize(model, data=(X, y, X, y), loss="mse", epochs=2, **kwargs)
    assert seen["tuner"] == expected


@pytest.mark.parametrize(
    "loss, y_shape, needle",
    [
        # one-hot labels (width 3) under a sparse loss: Keras would fail inside fit with a rank error
        ("sparse_categorical_crossentropy", (12, 3), "expects one class id per sample"),
        # class ids under a categorical loss
        ("categorical_crossentropy", (12,), "expects one-hot targets of width 3"),
    ],
)
def test_labels_that_do_not_fit_the_loss_are_a_data_error_before_training(loss, y_shape, needle):
    import keras

    import hls_opt
    from hls_opt.errors import DataError

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(loss=loss)
    X = np.zeros((12, 4), np.float32)
    y = np.zeros(y_shape, np.float32)
    with pytest.raises(DataError, match=needle) as info:
        hls_opt.convert_and_optimize(model, data=(X, y, X, y), epochs=2)
    assert "y_train" in str(info.value)


def test_labels_that_fit_the_loss_pass_the_check():
    from hls_opt.data import TrainingData, check_targets_for_loss

    X = np.zeros((4, 2), np.float32)
    ids, onehot = np.array([0, 1, 2, 1]), np.eye(3)[[0, 1, 2, 1]]
    # sparse loss with ids, categorical loss with one-hot, a regression loss with anything
    check_targets_for_loss(TrainingData(X, ids, X, ids, "data"), "sparse_categorical_crossentropy", 3)
    check_targets_for_loss(TrainingData(X, onehot, X, onehot, "data"), "categorical_crossentropy", 3)
    check_targets_for_loss(TrainingData(X, ids, X, ids, "data"), "mse", 3)


def test_target_other_than_max_or_without_data_is_a_config_error():
    import keras

    import hls_opt
    from hls_opt.errors import ConfigError

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ConfigError, match="target: expected 'max'"):
        hls_opt.convert_and_optimize(model, target="min")
    with pytest.raises(ConfigError, match="needs data"):
        hls_opt.convert_and_optimize(model, target="max")


def test_save_through_a_link_to_another_file_system_writes_there(tmp_path):
    # staging beside the link (another file system) made the final rename fail (EXDEV → internal error)
    elsewhere = Path(tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    try:
        (tmp_path / "link").symlink_to(elsewhere, target_is_directory=True)
        ok = OptimizationResult(model=_FakeModel(), hls_config={"Model": {}}, graph=None, report=REPORT)
        written = ok.save(tmp_path / "link", plots=False)
        assert [p.parent for p in written] == [tmp_path / "link"] * 3
        assert (tmp_path / "link").is_symlink()
        assert sorted(p.name for p in elsewhere.iterdir()) == [
            ".hls-opt-manifest.json", "hls_config.yml", "model.keras", "report.json"
        ]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["link"]
        assert not [p for p in elsewhere.parent.iterdir() if p.name.startswith(f".{elsewhere.name}.")]
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_a_new_output_folder_gets_the_users_umask(tmp_path, umask):
    ok = OptimizationResult(model=_FakeModel(), hls_config={"Model": {}}, graph=None, report=REPORT)
    old = os.umask(umask)
    try:
        ok.save(tmp_path / "out", plots=False)
    finally:
        os.umask(old)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's 0700


def test_an_existing_output_folder_is_replaced_whole(tmp_path):
    # An earlier run's output (its plots listed in its manifest) is replaced whole: its steps.png
    # does not survive a run without plots; the folder gets the umask's mode, not the old one's.
    import hashlib

    out = tmp_path / "out"
    ok = OptimizationResult(model=_FakeModel(), hls_config={"Model": {}}, graph=None, report=REPORT)
    ok.save(out, plots=False)
    (out / "steps.png").write_bytes(b"an earlier run's plot")
    manifest = json.loads((out / ".hls-opt-manifest.json").read_text())
    manifest["entries"]["steps.png"] = {
        "type": "file", "size": 21, "sha256": hashlib.sha256(b"an earlier run's plot").hexdigest()
    }
    (out / ".hls-opt-manifest.json").write_text(json.dumps(manifest))
    out.chmod(0o750)
    old = os.umask(0o022)
    try:
        ok.save(out, plots=False)
    finally:
        os.umask(old)
    names = sorted(p.name for p in out.iterdir())
    assert names == [".hls-opt-manifest.json", "hls_config.yml", "model.keras", "report.json"]
    assert out.stat().st_mode & 0o777 == 0o755  # the umask's mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing left aside


def test_an_output_folder_holding_other_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    ok = OptimizationResult(model=_FakeModel(), hls_config={"Model": {}}, graph=None, report=REPORT)
    with pytest.raises(ConfigError, match="notes.txt"):
        ok.save(tmp_path, plots=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_the_report_says_plainly_when_nothing_could_be_pruned(dense_graph):
    # Every trial rejected: no mask prunes anything, the weights are the baseline's, and the
    # report and its summary say so instead of a bare 0 % change.
    from hls_opt.passes import PruningPlan

    from hls_opt.flow.report import build_report

    rejected = {"target": 0.5, "achieved": {"dsp": 16.0}, "metric": 0.5, "accepted": False}
    plan = PruningPlan(objective="dsp", mode="fine-tuned", target=0.5, steps=(rejected,), baseline_metric=0.9)
    g = dense_graph()
    rep = build_report(g, g, "vivado", plan=plan, objective="dsp")
    assert rep["pruned"] is False and rep["weights"] == "baseline"
    assert rep["notes"][0] == "nothing could be pruned within the tolerance; the returned weights are the baseline's"
    assert summary_text(rep).splitlines()[-1].strip() == rep["notes"][0]
    # an accepted trial at target 0 fine-tuned the unpruned model: said as well
    zero = dict(rejected, target=0.0, accepted=True)
    plan = PruningPlan(objective="dsp", mode="fine-tuned", target=0.5, steps=(zero, rejected))
    rep = build_report(g, g, "vivado", plan=plan, objective="dsp")
    assert rep["weights"] == "baseline, fine-tuned unpruned" and rep["notes"][0].endswith("(fine-tuned, unpruned)")
    # a plan that prunes says nothing of the kind
    mask = np.ones((16, 8), np.float32)
    mask[0] = 0
    plan = PruningPlan(objective="dsp", mode="one-shot", target=0.1, masks={"fc": mask}, steps=(zero,))
    rep = build_report(g, g, "vivado", plan=plan, objective="dsp")
    assert rep["pruned"] is True and "weights" not in rep
    assert not any(n.startswith("nothing could be pruned") for n in rep["notes"])
