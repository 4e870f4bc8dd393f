"""--precision auto: bad input exits 2 before any training with one line naming the
flag; end to end on the bundled digits (slow), the quantized model within the tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from hls_opt.cli import main
from hls_opt.config.precision_search import PrecisionMode, parse_precision_search
from hls_opt.core.precision import Rounding, Saturation
from hls_opt.errors import ConfigError, InfeasibleBudget


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import keras

    root = tmp_path_factory.mktemp("precision")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(8, activation="relu", name="fc"), keras.layers.Dense(10, name="out")])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.save(root / "model.keras")
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 64), dtype=np.float32), rng.integers(0, 10, 40)
    np.savez(root / "data.npz", X_train=X[:30], y_train=y[:30], X_val=X[30:], y_val=y[30:])
    return root


@pytest.fixture
def no_training(monkeypatch):
    """Training raises: a bad input found after it would be exit 1 (internal), not 2.  The modules that bind
    ``fit`` by name are imported first, so that none binds the stand-in for good (monkeypatch then restores
    the real function on each of them)."""
    import hls_opt.train.data
    import hls_opt.train.engine
    import hls_opt.train.fit as fit_module
    import hls_opt.train.precision_search  # noqa: F401

    def boom(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(fit_module, "fit", boom)
    monkeypatch.setattr("hls_opt.train.precision_search.fit", boom)


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--precision", "auto", "--min-bits", "0"], "--min-bits: 0 bits cannot be built by hls4ml"),
        (["--precision", "auto", "--max-bits", "2000"], "--max-bits: 2000 bits cannot be built by hls4ml"),
        (["--precision", "auto", "--min-bits", "8", "--max-bits", "4"], "--min-bits: 8 is larger than --max-bits 4"),
        (["--precision", "auto", "--min-bits", "four"], "--min-bits: expected a whole number of bits"),
        (["--precision", "auto", "--rounding", "AP_NEAREST"], "--rounding: unknown mode 'AP_NEAREST'"),
        (["--precision", "auto", "--saturation", "AP_CLAMP"], "--saturation: unknown mode 'AP_CLAMP'"),
        (["--precision", "auto", "--saturation", "AP_SAT_ZERO"], "--saturation: AP_SAT_ZERO is an hls4ml mode"),
        (["--min-bits", "4"], "only with --precision auto"),
        (["--optimize", "fit"], "--optimize fit: needs --device"),
        (["--precision", "auto", "--lut-budget", "10"], "--lut-budget: 10 LUTs is below the smallest LUT count"),
        (["--precision", "auto", "--lut-budget", "ten"], "--lut-budget: cannot read 'ten'"),
    ],
)
def test_bad_input_exits_2_before_training(files, capsys, tmp_path, no_training, flags, needle):
    out = tmp_path / "out"
    code = main(["optimize", str(files / "model.keras"), "--data", str(files / "data.npz"), "-o", str(out), "-q", *flags])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("hls-opt: error:")]
    assert code == 2 and len(lines) == 1 and needle in lines[0], err
    assert not out.exists() or not any(out.iterdir())


def test_precision_auto_needs_data(files, capsys, tmp_path):
    code = main(["optimize", str(files / "model.keras"), "-o", str(tmp_path / "o"), "-q", "--precision", "auto"])
    assert code == 2 and "--precision auto: choosing precisions within the tolerance needs --data" in capsys.readouterr().err


def test_budget_checked_at_the_narrowest_width_names_it(files, no_training):
    from hls_opt import convert_and_optimize

    with pytest.raises(InfeasibleBudget, match=r"--lut-budget: 10 LUTs .* even with every width at --min-bits 3"):
        convert_and_optimize(str(files / "model.keras"), data=str(files / "data.npz"), precision="auto", min_bits=3, lut_budget=10)
    with pytest.raises(ConfigError, match="--optimize fit: needs --device"):
        convert_and_optimize(str(files / "model.keras"), data=str(files / "data.npz"), objective="fit")


def test_parse_once_into_a_typed_value():
    s = parse_precision_search("AUTO", min_bits="3", max_bits=8, rounding="ap_rnd", saturation="SAT")
    assert (s.mode, s.min_bits, s.max_bits, s.rounding, s.saturation) == (PrecisionMode.AUTO, 3, 8, Rounding.RND, Saturation.SAT)
    assert s.widths() == (3, 4, 5, 6, 7, 8)
    assert parse_precision_search(None).mode is PrecisionMode.FIXED
    assert parse_precision_search("auto", min_bits=20).max_bits == 20  # a lone --min-bits above the default max
    with pytest.raises(ConfigError, match="--precision: expected one of 'fixed', 'auto', got 'ap_fixed<8,3>'"):
        parse_precision_search("ap_fixed<8,3>")


@pytest.mark.slow
def test_digits_precision_auto_end_to_end_within_tolerance(tmp_path):
    """The bundled digits MLP: --precision auto chooses narrower types, the model computed in them
    (quantized_copy of the emitted model with the emitted configs) stays within rtol of the float
    baseline, and the report and the emitted config carry every choice."""
    from hls_opt import convert_and_optimize
    from hls_opt.data import digits_split, train_baseline
    from hls_opt.train.fit import ValidationMetric
    from hls_opt.train.quantize import quantized_copy

    split = digits_split(seed=0)
    model = train_baseline(split)
    data = (split.X_train, split.y_train, split.X_val, split.y_val)
    result = convert_and_optimize(model, data=data, precision="auto", objective="dsp", epochs=4, rtol=0.975,
                                  scheduler="constant:0.5:0.5", output_dir=tmp_path / "out")
    report = result.report
    section = report["precision"]
    assert section["chosen"] and section["predicted_drop"] <= section["drop_budget"] + 1e-12
    baseline = section["float_baseline_metric"]
    assert section["quantized_metric"] >= 0.975 * baseline
    # the final model, computed in the chosen types, on the validation data
    configs = {n.name: n.config for n in result.graph.nodes() if n.config is not None}
    q = quantized_copy(result.model, configs)
    accuracy = ValidationMetric("accuracy", split.y_val)(split.y_val, np.asarray(q(split.X_val, training=False)))
    assert accuracy >= 0.975 * baseline
    layers = {row["name"]: row for row in report["layers"]}
    for name in ("fc1", "fc2", "logits"):
        assert layers[name]["precision"]["before"]["weight"] == "ap_fixed<16,6>"
        after = layers[name]["precision"]["after"]
        assert after["weight"] == configs[name].weight.to_ap_string()
        assert layers[name]["ebops"] == layers[name]["after"]["ebops"]
        assert result.hls_config["LayerName"][name]["Precision"]["weight"] == after["weight"]
    assert report["total"]["after"]["ebops"] < report["total"]["before"]["ebops"]
    assert report["total"]["after"]["dsp"] <= report["total"]["before"]["dsp"]


def test_verify_undoes_a_pruning_the_tolerance_does_not_allow():
    """precision-verify, last resort: the pruned design is outside rtol even after quantization-aware
    fine-tuning (here: every kernel weight pruned, so the masks keep it at 0 and fine-tuning cannot help),
    so the search's own unpruned design at the chosen types comes back.

    A 2 → 2 Dense that copies its input (kernel I, bias 0) classifies x by argmax: accuracy 1.0 on data
    whose label is the larger coordinate.  All-zero kernel and bias: logits (0, 0), argmax 0 everywhere,
    accuracy 0.5 on balanced labels — below 0.975 · 1.0."""
    import dataclasses

    import keras

    from hls_opt.data import load_data
    from hls_opt.frontend.keras import from_keras
    from hls_opt.train.engine import FineTuneOptions
    from hls_opt.train.precision_search import PrecisionOutcome, user_configs, verify_final

    x = keras.Input((2,), name="x")
    model = keras.Model(x, keras.layers.Dense(2, name="d")(x))
    eye, zero = np.eye(2, dtype="float32"), np.zeros(2, "float32")
    model.get_layer("d").set_weights([eye, zero])
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (64, 2)).astype("float32")  # |x| < 1: exact in ap_fixed<16,6>
    y = np.argmax(X, axis=1)
    graph = from_keras(model)
    good = {"d": {"kernel": eye.copy(), "bias": zero.copy()}}
    node = graph.node("d")
    graph.replace("d", dataclasses.replace(node, weights={**node.weights, "kernel": np.zeros((2, 2), "float32")}))
    outcome = PrecisionOutcome(configs=user_configs(graph), weights=good, baseline=1.0, user_metric=1.0, metric=1.0,
                               predicted_drop=0.0, drop_budget=0.025, probes=0)
    training = FineTuneOptions(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metric="accuracy",
                               optimizer="adam", rtol=0.975, epochs=2, batch_size=16)
    out = verify_final(graph, load_data((X, y, X, y)), training, outcome)
    assert out["final_fine_tuned"] and out["final_pruning_undone"]
    assert out["final_quantized_metric_pruned"] < 0.975 and out["final_quantized_metric"] == 1.0
    np.testing.assert_array_equal(graph.node("d").weights["kernel"], eye)
