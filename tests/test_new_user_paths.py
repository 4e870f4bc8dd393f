"""Paths a new user takes that once failed, one section per case:

1. multi-output models (one-shot works; with data: a ModelError naming the model);
2. unknown config keys and LayerName entries naming no layer (a warning naming the nearest known
   key; ``strict`` makes them errors);
3. the reuse factor hls4ml applies, beside the one given;
4. layers hls-opt does not model: their parameters counted, marked "not modelled";
5. ``steps.png``: the acceptance limit and the order of the steps;
6. Ctrl-C: exit 130, one line, nothing left behind;
7. ``'saliency'`` means the same in ``get_model_masks`` and ``optimize_model`` (hls4ml's meaning).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from hls_opt.cli import main
from hls_opt.errors import ConfigError, ModelError

keras = pytest.importorskip("keras")


def _err_lines(capsys):
    return capsys.readouterr().err.strip().splitlines()


# ------------------------------------------------------------------------------------------------
# 1. multi-output models


def _two_headed(compiled: bool = True):
    keras.utils.set_random_seed(0)
    inp = keras.Input((8,), name="x")
    h = keras.layers.Dense(16, activation="relu", name="trunk")(inp)
    a = keras.layers.Dense(3, name="head_a")(h)
    b = keras.layers.Dense(1, name="head_b")(h)
    model = keras.Model(inp, [a, b], name="two_heads")
    if compiled:
        model.compile(optimizer="adam", loss=["mse", "mae"])
    return model


def test_a_compiled_multi_output_model_is_pruned_one_shot():
    import hls_opt

    model = _two_headed()
    before = [w.copy() for w in model.get_weights()]
    result = hls_opt.convert_and_optimize(model)  # no data: one-shot, to the default 50 %
    assert result.report["mode"] == "one-shot"
    assert result.report["pruned"] is True
    # the returned model keeps both heads and the per-output losses of the compile config
    assert len(result.model.outputs) == 2
    losses = result.model.get_compile_config()["loss"]
    assert isinstance(losses, (list, tuple)) and len(losses) == 2
    X = np.ones((2, 8), np.float32)
    a, b = result.model.predict(X, verbose=0)
    assert a.shape == (2, 3) and b.shape == (2, 1)
    # the caller's model is untouched
    assert all(np.array_equal(w, v) for w, v in zip(before, model.get_weights()))


def test_cli_one_shot_on_a_multi_output_model_succeeds(tmp_path, capsys):
    _two_headed().save(tmp_path / "m.keras")
    code = main(["optimize", str(tmp_path / "m.keras"), "-o", str(tmp_path / "out"), "-q"])
    assert code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "out" / "report.json").read_text())["mode"] == "one-shot"


def test_multi_output_with_data_is_a_model_error_naming_the_model(tmp_path, capsys):
    import hls_opt

    model = _two_headed()
    rng = np.random.default_rng(0)
    X, y = rng.random((20, 8), dtype=np.float32), rng.random((20, 3), dtype=np.float32)
    with pytest.raises(ModelError, match=r"two_heads.*2 outputs.*without data"):
        hls_opt.convert_and_optimize(model, data=(X, y, X, y), epochs=2)
    # the CLI: exit 2, one line, before any training
    model.save(tmp_path / "m.keras")
    np.savez(tmp_path / "d.npz", X_train=X, y_train=y, X_val=X, y_val=y)
    code = main(["optimize", str(tmp_path / "m.keras"), "--data", str(tmp_path / "d.npz"),
                 "--epochs", "2", "-o", str(tmp_path / "out"), "-q"])  # fmt: skip
    err = _err_lines(capsys)
    assert code == 2 and len(err) == 1 and "two_heads" in err[0] and "2 outputs" in err[0], err
    assert not (tmp_path / "out").exists()


def test_hls4ml_style_optimize_model_refuses_a_multi_output_model_and_masks_work():
    from hls_opt.attributes import get_attributes_from_keras_model
    from hls_opt.keras import optimize_model
    from hls_opt.keras.api import compute_masks
    from hls_opt.train.schedulers import ConstantScheduler

    model = _two_headed()
    attrs = get_attributes_from_keras_model(model)
    # one-shot masks (hls4ml's post-training path) work on the two heads
    masks, _ = compute_masks(model, attrs, 0.5, "params")
    assert set(masks) >= {"trunk"}
    X = np.zeros((4, 8), np.float32)
    with pytest.raises(ModelError, match="two_heads"):
        optimize_model(model, attrs, "params", ConstantScheduler(0.5), X, X[:, :3], X, X[:, :3],
                       4, 2, "adam", "mse", "mse", False, 1.1)  # fmt: skip


# ------------------------------------------------------------------------------------------------
# 2. unknown config keys


def _small(name="small"):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(4, activation="relu", name="fc1"), keras.layers.Dense(2, name="out")],
        name=name,
    )
    model.compile(optimizer="adam", loss="mse")
    return model


def _key_warnings(caplog):
    return [r.getMessage() for r in caplog.records if "unknown" in r.getMessage() or "names no layer" in r.getMessage()]


def test_misspelt_keys_are_warned_once_each_with_the_nearest_known_key(caplog):
    import hls_opt

    caplog.set_level(logging.WARNING, logger="hls_opt")
    cfg = {
        "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactr": 2, "Strategy": "Latency"},
        "Modle": {"ReuseFactor": 4},
        "LayerName": {"fc_1": {"ReuseFactor": 2}, "fc1_relu": {"Precision": "ap_fixed<8,3>"}},
    }
    hls_opt.convert_and_optimize(_small(), cfg, scheduler="constant:0.1:0.1")
    found = _key_warnings(caplog)
    # one warning per key: the misspelt top-level key, the misspelt Model key, the LayerName entry
    # naming no layer ('fc1_relu' is the activation hls4ml splits off fc1: a real hls4ml layer)
    assert len(found) == 3, found
    assert any("Modle" in m and "'Model'" in m for m in found), found
    assert any("Model.ReuseFactr" in m and "'ReuseFactor'" in m for m in found), found
    assert any("LayerName.fc_1" in m and "'fc1'" in m for m in found), found


def test_strict_makes_unknown_keys_errors():
    import hls_opt

    with pytest.raises(ConfigError, match=r"Modle.*did you mean 'Model'"):
        hls_opt.convert_and_optimize(_small(), {"Modle": {}}, strict=True)
    with pytest.raises(ConfigError, match=r"LayerName\.fc_1.*names no layer.*'fc1'"):
        hls_opt.convert_and_optimize(_small(), {"LayerName": {"fc_1": {}}}, strict=True)


def test_every_key_hls4ml_reads_or_writes_is_known(caplog):
    # The known keys are hls4ml's (graph.py HLSConfig._parse_hls_config, converters/__init__.py
    # _check_hls_config, the passes reading HLSConfig['Model']), not just the ones hls-opt uses.
    from hls_opt.config.keys import config_key_problems

    cfg = {
        "Model": {
            "Precision": {"default": "fixed<16,6>", "maximum": "fixed<24,8>"}, "ReuseFactor": 1,
            "Strategy": "Latency", "BramFactor": 1_000_000_000, "TraceOutput": False, "TargetCycles": 10,
            "ConvImplementation": "LineBuffer", "Compression": False, "PipelineStyle": "auto",
            "PipelineInterval": 1, "ChannelsLastConversion": "off", "TransposeOutputs": False,
            "BitExact": None, "AllowDAFallback": True, "AllowV2Fallback": True,
        },
        "LayerType": {"Dense": {"ReuseFactor": 2}},
        "LayerName": {}, "Flows": [], "SkipOptimizers": [], "IOType": "io_parallel",
    }  # fmt: skip
    assert config_key_problems(cfg, layer_names=[]) == []


def test_the_config_real_hls4ml_generates_raises_no_key_warning(caplog):
    hls4ml = pytest.importorskip("hls4ml")
    from hls_opt.config.generate import hls4ml_layer_names
    from hls_opt.config.keys import config_key_problems

    model = _small()
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vivado")
    assert config_key_problems(cfg, layer_names=hls4ml_layer_names(model)) == []


def test_cli_strict_exits_2_and_without_it_warns(tmp_path, capsys, caplog):
    _small().save(tmp_path / "m.keras")
    (tmp_path / "c.yml").write_text("Modle:\n  ReuseFactor: 4\nModel:\n  Precision: ap_fixed<16,6>\n")
    for argv in (["estimate"], ["optimize", "-o", str(tmp_path / "out")]):
        code = main([*argv, str(tmp_path / "m.keras"), "--config", str(tmp_path / "c.yml"), "--strict", "-q"])
        err = _err_lines(capsys)
        assert code == 2, err
        assert len(err) == 1 and "c.yml" in err[0] and "Modle" in err[0] and "'Model'" in err[0], err
    assert not (tmp_path / "out").exists()
    caplog.set_level(logging.WARNING, logger="hls_opt")
    code = main(["estimate", str(tmp_path / "m.keras"), "--config", str(tmp_path / "c.yml")])
    assert code == 0
    # on a terminal this is the line "hls-opt: WARNING: <message>" (cli.py's logging format)
    assert [r.getMessage() for r in caplog.records if "Modle" in r.getMessage()] == [
        f"{tmp_path / 'c.yml'}: Modle: unknown top-level key (did you mean 'Model'?); hls4ml ignores it"
    ]


# ------------------------------------------------------------------------------------------------
# 3. the reuse factor hls4ml applies


def _rf_model():
    keras.utils.set_random_seed(0)
    # fc: 8 inputs × 4 outputs; hls4ml's valid RFs (fpga_backend.py _validate_reuse_factor):
    # divisors of 8 {1, 2, 4, 8} ∪ 8·(divisors of 4) {8, 16, 32} = {1, 2, 4, 8, 16, 32}
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, name="fc"), keras.layers.Dense(2, name="out")])
    return model


RF_CFG = {
    "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Resource"},
    "LayerName": {"fc": {"ReuseFactor": 10**9}, "out": {"ReuseFactor": 4}},  # out: 4×2, 4 is valid
}


def test_estimate_json_shows_the_applied_reuse_factor_beside_the_given_one(tmp_path, capsys):
    from hls_opt.config import save_config

    _rf_model().save(tmp_path / "m.keras")
    save_config(RF_CFG, tmp_path / "c.yml")
    assert main(["estimate", str(tmp_path / "m.keras"), "--config", str(tmp_path / "c.yml"), "--json"]) == 0
    layers = {la["name"]: la for la in json.loads(capsys.readouterr().out)["layers"]}
    # 10⁹ → the nearest valid RF is the largest, 8·4 = 32 (FPGABackend.set_closest_reuse_factor)
    assert layers["fc"]["reuse_factor"] == 32 and layers["fc"]["reuse_factor_given"] == 10**9
    assert layers["out"]["reuse_factor"] == 4 and "reuse_factor_given" not in layers["out"]
    # the numbers use 32: Resource strategy, ⌈32 / 32⌉ = 1 multiplier
    assert layers["fc"]["before"]["dsp"] == 1

    assert main(["estimate", str(tmp_path / "m.keras"), "--config", str(tmp_path / "c.yml")]) == 0
    out = capsys.readouterr().out.splitlines()
    header = out[0].split()
    assert header[3:6] == ["RF", "RF", "given"]  # "RF given" beside RF, only when some differ
    row = next(line.split() for line in out if line.startswith("fc "))
    assert row[3] == "32" and row[4] == str(10**9)


def test_an_rf_between_two_valid_ones_ties_to_the_smaller_as_hls4ml():
    from hls_opt.flow.report import estimate
    from hls_opt.frontend.keras import from_keras

    cfg = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 3, "Strategy": "Resource"}}
    layers = {la["name"]: la for la in estimate(from_keras(_rf_model(), cfg))["layers"]}
    # fc: 3 is halfway between 2 and 4 → 2 (get_closest_reuse_factor: ties go to the smaller)
    assert (layers["fc"]["reuse_factor"], layers["fc"]["reuse_factor_given"]) == (2, 3)
    # out: 4×2 → {1, 2, 4} ∪ {4, 8} = {1, 2, 4, 8}: 3 → 2 as well
    assert (layers["out"]["reuse_factor"], layers["out"]["reuse_factor_given"]) == (2, 3)


def test_the_applied_reuse_factor_is_what_real_hls4ml_applies():
    hls4ml = pytest.importorskip("hls4ml")
    import copy

    model = _rf_model()
    cfg = copy.deepcopy(RF_CFG)
    cfg["LayerName"]["fc"]["ReuseFactor"] = 20  # nearest valid: 16 (|20−16| < |20−32|)
    hmodel = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, backend="Vivado", output_dir="/tmp/unused")
    applied = {layer.name: layer.get_attr("reuse_factor") for layer in hmodel.get_layers()}
    from hls_opt.flow.report import estimate
    from hls_opt.frontend.keras import from_keras

    ours = {la["name"]: la["reuse_factor"] for la in estimate(from_keras(model, cfg))["layers"]}
    # fc: 20 → 16, the nearest of {1, 2, 4, 8, 16, 32} (_rf_model); out: 4 is valid for 4×2, kept
    assert ours["fc"] == applied["fc"] == 16
    assert ours["out"] == applied["out"] == 4


def test_the_optimize_report_keeps_the_given_reuse_factor_too():
    import hls_opt

    result = hls_opt.convert_and_optimize(_rf_model(), RF_CFG, scheduler="constant:0.25:0.25")
    fc = next(la for la in result.report["layers"] if la["name"] == "fc")
    assert fc["reuse_factor_given"] == 10**9  # RF_CFG's fc entry, reported as given
    assert fc["reuse_factor_before"] == 32  # what hls4ml built before: the applied one


# ------------------------------------------------------------------------------------------------
# 4. layers hls-opt does not model


@keras.saving.register_keras_serializable(package="hls_opt_tests")
class Scale(keras.layers.Layer):
    """A custom layer: one weight per feature (6 parameters on 6 features)."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.w


def _unmodelled():
    keras.utils.set_random_seed(0)
    inp = keras.Input((3, 2))
    # LSTM(4) on 2 features: 4 gates × 4 units × (2 inputs + 4 recurrent + 1 bias) = 112 parameters
    h = keras.layers.LSTM(4, name="lstm")(inp)
    h = keras.layers.Dense(6, name="fc")(h)  # 4·6 + 6 = 30 weights, 24 non-zero kernel weights counted
    out = Scale(name="scale")(h)  # 6 parameters
    return keras.Model(inp, out)


def test_unmodelled_layers_count_their_parameters_and_say_so():
    from hls_opt.flow.report import estimate, format_table
    from hls_opt.frontend.keras import from_keras

    report = estimate(from_keras(_unmodelled()))
    layers = {la["name"]: la for la in report["layers"]}
    # params of unmodelled layers = Keras' count_params() (_unmodelled): LSTM 4·4·(2 + 4 + 1) = 112, Scale 6
    assert layers["lstm"]["modelled"] is False and layers["lstm"]["before"]["params"] == 112
    assert layers["scale"]["modelled"] is False and layers["scale"]["before"]["params"] == 6
    assert layers["fc"]["modelled"] is True
    assert layers["lstm"]["before"]["dsp"] == 0  # nothing else is claimed for it
    table = format_table(report, before_after=False).splitlines()
    lstm_row = next(line for line in table if line.startswith("lstm"))
    fc_row = next(line for line in table if line.startswith("fc"))
    assert "not modelled" in lstm_row and "not modelled" not in fc_row
    assert "112" in lstm_row


def test_the_layers_plot_marks_unmodelled_layers():
    pytest.importorskip("matplotlib")
    import hls_opt
    from hls_opt.flow.report import layers_figure

    result = hls_opt.convert_and_optimize(_unmodelled(), scheduler="constant:0.25:0.25")
    assert next(la for la in result.report["layers"] if la["name"] == "lstm")["modelled"] is False
    fig = layers_figure(result.report)
    labels = {t.get_text() for ax in fig.axes for t in ax.get_xticklabels()}
    assert "lstm (not modelled)" in labels and "fc" in labels


# ------------------------------------------------------------------------------------------------
# 5. steps.png: acceptance limit and step order


def _steps_report(increasing: bool):
    baseline = 0.9 if increasing else 0.2
    return {
        "baseline_metric": baseline,
        "rtol": 0.8,
        "increasing": increasing,
        "steps": [
            {"target": 0.25, "achieved": {"dsp": 30}, "metric": baseline, "accepted": True},
            {"target": 0.5, "achieved": {"dsp": 20}, "metric": baseline, "accepted": True},
            {"target": 0.75, "achieved": {"dsp": 10}, "metric": 0.0 if increasing else 1.0, "accepted": False},
        ],
    }


@pytest.mark.parametrize("increasing", [True, False])
def test_the_steps_figure_draws_the_acceptance_limit_and_numbers_the_steps(increasing):
    pytest.importorskip("matplotlib")
    from hls_opt.flow.report import steps_figure

    fig = steps_figure(_steps_report(increasing))
    (ax,) = fig.axes
    # higher is better: limit = 0.9 · 0.8 = 0.72; lower is better (a loss): 0.2 / 0.8 = 0.25
    limit = 0.72 if increasing else 0.25
    lines = [line for line in ax.get_lines() if line.get_label().startswith("acceptance limit")]
    assert len(lines) == 1, [line.get_label() for line in ax.get_lines()]
    assert np.allclose(lines[0].get_ydata(), limit)
    assert f"{limit:.3g}" in lines[0].get_label()
    assert ("≥" if increasing else "≤") in lines[0].get_label()
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == ["1", "2", "3"]
    # step 1 is annotated at its point (30 DSP)
    one = next(t for t in ax.texts if t.get_text() == "1")
    assert one.xy[0] == 30


@pytest.mark.slow
def test_the_report_records_rtol_and_the_limit():
    import hls_opt

    model = _small()
    rng = np.random.default_rng(0)
    X, y = rng.random((32, 6), dtype=np.float32), rng.random((32, 2), dtype=np.float32)
    result = hls_opt.convert_and_optimize(model, data=(X, y, X, y), epochs=2, rtol=0.5, scheduler="constant:0.5:0.5")
    report = result.report
    # the metric is the loss (mse, lower is better): limit = baseline / 0.5
    assert report["rtol"] == 0.5 and report["increasing"] is False
    assert report["acceptance_limit"] == pytest.approx(report["baseline_metric"] / 0.5)


# ------------------------------------------------------------------------------------------------
# 6. Ctrl-C


_SIGINT_DURING_SAVE = """
import os, signal, sys, time
from hls_opt import cli
from hls_opt.flow.result import OptimizationResult

class Model:
    def save(self, path):
        with open(path, "wb") as f:
            f.write(b"half")
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(30)

def run(args):
    OptimizationResult(model=Model(), hls_config={"Model": {}}, graph=None, report={}).save(sys.argv[1])
    return 0

cli.COMMANDS["estimate"] = run
sys.exit(cli.main(["estimate", "m.keras"]))
"""


def _sigint_default() -> None:
    # A child started with SIGINT ignored (a background job without job control) keeps ignoring
    # it, and so does hls-opt (cli.main leaves an ignored signal alone): give the child the default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_exits_130_with_one_line_and_cleans_up(tmp_path):
    # was: exit 1 (the internal-error code) with the same line
    proc = subprocess.run(
        [sys.executable, "-c", _SIGINT_DURING_SAVE, str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_sigint_default,
    )
    assert proc.returncode == 128 + signal.SIGINT, proc.stderr
    assert proc.stderr.strip().splitlines() == ["hls-opt: interrupted (no output was written or replaced)"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_ctrl_c_while_a_real_run_trains_exits_130(tmp_path):
    # A real `hls-opt optimize` with data, interrupted once it is training (after the baseline).
    _small().save(tmp_path / "m.keras")
    rng = np.random.default_rng(0)
    X, y = rng.random((64, 6), dtype=np.float32), rng.random((64, 2), dtype=np.float32)
    np.savez(tmp_path / "d.npz", X_train=X, y_train=y, X_val=X, y_val=y)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hls_opt.cli", "-v", "optimize", str(tmp_path / "m.keras"), "--data",
         str(tmp_path / "d.npz"), "--epochs", "500", "-o", str(tmp_path / "out")],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, preexec_fn=_sigint_default,
    )  # fmt: skip
    lines = []
    try:
        for line in proc.stderr:  # wait for the baseline line: training has started
            lines.append(line)
            if "baseline" in line:
                break
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, "".join(lines) + rest
    assert "hls-opt: interrupted (no output was written or replaced)" in rest.splitlines()
    assert "Traceback" not in rest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz", "m.keras"]


# ------------------------------------------------------------------------------------------------
# 7. 'saliency'


def test_optimize_model_takes_hls4ml_ranking_names_as_get_model_masks_does(monkeypatch):
    # hls4ml's optimize_model passes ranking_metric to get_model_masks unchanged
    # (hls4ml/optimization/dsp_aware_pruning/keras/__init__.py), so 'saliency' is w²·h (hls-opt's
    # 'hessian') and 'oracle' |w·∂L/∂w| (hls-opt's first-order 'saliency') in both.
    from hls_opt.attributes import get_attributes_from_keras_model
    from hls_opt.keras import api
    from hls_opt.train.schedulers import ConstantScheduler

    seen = []

    def capture(model, problem, scheduler, data, options, **kw):
        seen.append(options.ranking)
        raise RuntimeError("captured")

    monkeypatch.setattr(api, "prune_with_fine_tuning", capture)
    model = _small()
    X, y = np.zeros((4, 6), np.float32), np.zeros((4, 2), np.float32)
    for name in ("saliency", "oracle", "l1", "hessian"):
        with pytest.raises(RuntimeError, match="captured"):
            api.optimize_model(model, get_attributes_from_keras_model(model), "params", ConstantScheduler(0.5),
                               X, y, X, y, 4, 2, "adam", "mse", "mse", False, 1.1, ranking_metric=name)  # fmt: skip
    assert seen == ["hessian", "saliency", "l1", "hessian"]
    assert api.HLS4ML_RANKING == {name: r for name, (r, _) in api._GIVEN_DERIVATIVES.items()}
