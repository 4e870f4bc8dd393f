"""Inputs a careless or hostile user gives, and the report's truth about them: hls4ml project-style
configs, keys inside LayerName/LayerType entries, backends without a timing model, read-only installs,
data that cannot feed the model, nested models, what the report says after a rewrite, and the one-line
messages.  One test (or a few) per case, each written to fail on 0.3 before its fix.

Models are tiny (16 → 32 → 4 Dense), data a few hundred random rows: the checks under test run
before any training, or on a one-shot run.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib
import yaml

import hls_opt
from hls_opt.cli import main
from hls_opt.config import check_config_keys, config_key_problems, device_from_config, parse_budgets
from hls_opt.errors import ConfigError
from hls_opt.flow.inputs import load_hls_config

REPO = Path(__file__).resolve().parents[1]


def _err(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


# ------------------------------------------------------------------------------------------------
# --version: one version, from one place


def test_version_has_one_source():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    # the version is not written in pyproject.toml: setuptools reads hls_opt.__version__
    assert "version" not in project and "version" in project.get("dynamic", [])
    dynamic = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["dynamic"]
    assert dynamic["version"] == {"attr": "hls_opt.__version__"}
    # the installed metadata (what pip shows) is the package's own
    assert importlib.metadata.version("hls-opt") == hls_opt.__version__
    # this is the 0.3 line (the release the issue was filed against printed 0.1.0)
    assert tuple(int(p) for p in hls_opt.__version__.split(".")[:2]) >= (0, 3)


def test_cli_version_prints_the_package_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"hls-opt {hls_opt.__version__}"


# ------------------------------------------------------------------------------------------------
# ClockPeriod / Part: hls4ml's project-file layout and the bare config


def _write_yaml(path: Path, data) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_project_style_config_keeps_clock_period_and_part(tmp_path, caplog):
    # hls4ml's project file (converters/__init__.py parse_yaml_config's example): ClockPeriod and Part
    # sit beside HLSConfig, as create_initial_config writes them (backends/vivado/vivado_backend.py).
    path = _write_yaml(
        tmp_path / "proj.yml",
        {
            "OutputDir": "prj",
            "ClockPeriod": 10,
            "Part": "xc7z020clg400-1",
            "HLSConfig": {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}},
        },
    )
    cfg, source = load_hls_config(path)
    with caplog.at_level(logging.WARNING, logger="hls_opt"):
        assert check_config_keys(cfg, source=source, strict=True) == []
    # 150 ns at the file's 10 ns clock is 15 cycles (at hls4ml's default 5 ns it would be 30)
    assert parse_budgets(latency="150ns", hls_config=cfg).latency_cycles == 15
    assert device_from_config(cfg).name == "xc7z020"


def test_project_style_config_through_the_cli_budget(tmp_path, capsys):
    keras = pytest.importorskip("keras")
    model = _mlp(keras)
    model.save(tmp_path / "m.keras")
    path = _write_yaml(
        tmp_path / "proj.yml",
        {"ClockPeriod": 10, "HLSConfig": {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 64}}},
    )
    # 10 ns at the file's 10 ns clock is 1 cycle, below what the model reaches at RF 1
    assert main(["estimate", str(tmp_path / "m.keras"), "--config", path, "--latency-budget", "10ns"]) == 2
    assert "1 cycles (10 ns at 10 ns)" in _err(capsys)[-1]


def test_bare_clock_period_and_part_are_read_not_warned(caplog):
    cfg = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1}, "ClockPeriod": 10, "Part": "xc7z020"}
    with caplog.at_level(logging.WARNING, logger="hls_opt"):
        assert config_key_problems(cfg) == []
        assert check_config_keys(cfg, strict=True) == []  # --strict accepts what docs/timing.md says we read
    assert not caplog.records
    assert parse_budgets(latency="150ns", hls_config=cfg).latency_cycles == 15


def test_a_misspelt_clock_period_is_still_warned():
    problems = config_key_problems({"Model": {}, "ClockPeriood": 10})
    assert len(problems) == 1 and "'ClockPeriod'" in problems[0]


# ------------------------------------------------------------------------------------------------
# Keys inside LayerName / LayerType entries


def test_a_typo_inside_a_layer_name_entry_is_warned_with_the_nearest_key():
    cfg = {"Model": {"ReuseFactor": 1}, "LayerName": {"fc1": {"ReuseFacter": 2}}}
    problems = config_key_problems(cfg)
    assert len(problems) == 1
    assert problems[0].startswith("LayerName.fc1.ReuseFacter:") and "'ReuseFactor'" in problems[0]
    with pytest.raises(ConfigError, match=r"cfg\.yml: LayerName\.fc1\.ReuseFacter"):
        check_config_keys(cfg, source="cfg.yml", strict=True)


def test_a_layer_type_naming_no_class_is_warned():
    cfg = {"Model": {"ReuseFactor": 1}, "LayerType": {"Dence": {"ReuseFactor": 2}}}
    problems = config_key_problems(cfg)
    assert len(problems) == 1 and problems[0].startswith("LayerType.Dence:") and "'Dense'" in problems[0]
    with pytest.raises(ConfigError, match="LayerType.Dence"):
        check_config_keys(cfg, strict=True)


def test_known_inner_keys_pass():
    cfg = {
        "Model": {"ReuseFactor": 1},
        "LayerType": {"Dense": {"ReuseFactor": 2, "Strategy": "Resource"}, "Activation": {"TableSize": 1024}},
        "LayerName": {
            "fc1": {
                "Precision": {"weight": "ap_fixed<8,2>", "result": "ap_fixed<16,6>"},
                "ReuseFactor": 2,
                "Strategy": "Latency",
                "Trace": True,
                "ParallelizationFactor": 1,
                "ConvImplementation": "LineBuffer",
                "TargetCycles": 10,
                "Compression": False,
            }
        },
    }
    assert config_key_problems(cfg) == []


def test_inner_keys_cover_what_hls4ml_reads():
    """The static tables of hls_opt/config/keys.py against the installed hls4ml: every configurable
    layer attribute (hls4ml/model/layers.py expected_attributes, the backends' attribute_map) and
    every class of its layer_map is known."""
    hls4ml_layers = pytest.importorskip("hls4ml.model.layers")
    import inspect

    from hls_opt.config.keys import HLS4ML_LAYER_CLASSES, LAYER_KEYS

    configurable = set()
    for _, cls in inspect.getmembers(hls4ml_layers, inspect.isclass):
        if issubclass(cls, hls4ml_layers.Layer):
            configurable |= {a.config_name for a in getattr(cls, "expected_attributes", []) if a.configurable}
    from hls4ml.backends import get_backend

    for name in ("Vivado", "Vitis", "oneAPI", "Quartus", "Catapult"):
        for attrs in get_backend(name).attribute_map.values():
            configurable |= {a.config_name for a in attrs if a.configurable}
    assert configurable - set(LAYER_KEYS) == set()
    assert set(hls4ml_layers.layer_map) - set(HLS4ML_LAYER_CLASSES) == set()


# ------------------------------------------------------------------------------------------------
# helpers shared by the model tests below


def _mlp(keras, names=("fc1", "fc2")):
    keras.utils.set_random_seed(0)
    inp = keras.Input((16,), name="x")
    h = keras.layers.Dense(32, activation="relu", name=names[0])(inp)
    out = keras.layers.Dense(4, name=names[1])(h)
    model = keras.Model(inp, out)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def _data(n=96, classes=4, frac=0.0):
    rng = np.random.default_rng(0)
    X = rng.random((n, 16), dtype=np.float32)
    y = rng.integers(0, classes, n).astype(np.float32) + frac
    return X[: n * 3 // 4], y[: n * 3 // 4], X[n * 3 // 4 :], y[n * 3 // 4 :]


# ------------------------------------------------------------------------------------------------
# --backend gpu: no timing model, so the latency is unknown, not 0


@pytest.fixture
def mlp_file(tmp_path):
    keras = pytest.importorskip("keras")
    path = tmp_path / "m.keras"
    _mlp(keras).save(path)
    return str(path)


def test_estimate_on_a_backend_without_timing_says_unknown(mlp_file, capsys):
    assert main(["estimate", mlp_file, "--backend", "gpu", "--json"]) == 0
    timing = json.loads(capsys.readouterr().out)["timing"]
    assert timing["ii"] is None and timing["latency_cycles"] is None  # docs/timing.md: null
    assert main(["estimate", mlp_file, "--backend", "gpu"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("model:"))
    assert "unknown" in line and "0 cycles" not in line


def test_gpu_model_timing_is_unknown(dense_graph):
    from hls_opt.cost.tables import model_timing

    t = model_timing(dense_graph(), "gpu")
    assert not t.known and t.as_dict()["ii"] is None and t.as_dict()["latency_cycles"] is None
    assert model_timing(dense_graph(), "vivado").known


@pytest.mark.parametrize("flag", ["--latency-budget", "--ii-budget"])
def test_a_timing_budget_on_a_backend_without_timing_is_refused(mlp_file, tmp_path, capsys, flag):
    assert main(["estimate", mlp_file, "--backend", "gpu", flag, "1"]) == 2
    err = _err(capsys)
    assert len(err) == 1 and flag in err[0] and "gpu" in err[0] and "no timing model" in err[0]
    out = tmp_path / "out"
    assert main(["optimize", mlp_file, "--backend", "gpu", flag, "1", "-o", str(out), "-q"]) == 2
    assert "no timing model" in _err(capsys)[-1]
    assert not out.exists()


# ------------------------------------------------------------------------------------------------
# numba cache=True on a read-only install with an unwritable HOME


def _read_only_install(tmp_path: Path) -> dict[str, str]:
    """hls_opt laid out as pip installs it (passes/ and backends/ inside), where numba can cache
    nowhere: every ``__pycache__`` is a file, not a folder, and so is ``$HOME/.cache`` (the tests
    run as root, for whom a chmod would not stop a write).  Returns the environment to run it in."""
    import shutil

    site = tmp_path / "site"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "hls_opt", site / "hls_opt", ignore=ignore)
    shutil.copytree(REPO / "passes", site / "hls_opt" / "passes", ignore=ignore)
    shutil.copytree(REPO / "backends", site / "hls_opt" / "backends", ignore=ignore)
    for folder in [site / "hls_opt", *(p for p in (site / "hls_opt").rglob("*") if p.is_dir())]:
        (folder / "__pycache__").write_text("not a folder")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".cache").write_text("not a folder")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("NUMBA_", "XDG_"))}
    env.update(HOME=str(home), PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1")
    return env


def test_runs_from_a_read_only_install_with_an_unwritable_home(tmp_path, mlp_file):
    env = _read_only_install(tmp_path)
    code = (
        "import numpy as np, hls_opt.solve.knapsack as k, hls_opt.solve.rf_dp as r;"
        "assert k.__file__.startswith({!r}), k.__file__;"
        "print(k.solve_knapsack(np.array([3., 2., 1.]), np.array([[2, 2, 1]]), np.array([3]), implementation='dynamic'))"
    ).format(str(tmp_path / "site"))
    run = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "[0, 2]" in run.stdout or "[0 2]" in run.stdout  # values 3 + 1 within capacity 3
    # bad input: exit 2 naming it, not exit 1 from the import
    run = subprocess.run(
        [sys.executable, "-m", "hls_opt.cli", "optimize", mlp_file, "--optimize", "bogus", "-o", str(tmp_path / "o")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr[-2000:]
    assert "--optimize" in run.stderr


# ------------------------------------------------------------------------------------------------
# Crashes where a clear error is due


@pytest.fixture
def npz(tmp_path):
    def write(name="d.npz", frac=0.0, classes=4):
        X_train, y_train, X_val, y_val = _data(classes=classes, frac=frac)
        path = tmp_path / name
        np.savez(path, X_train=X_train, y_train=y_train, X_val=X_val, y_val=y_val)
        return str(path)

    return write


@pytest.mark.parametrize("frac", [0.2, 10.2])
def test_fractional_labels_with_a_sparse_loss_are_refused(mlp_file, npz, tmp_path, capsys, frac):
    # SparseCategoricalCrossentropy takes class ids; 0.2 / 10.2 is none (TF truncates one, fails on the other)
    out = tmp_path / "out"
    code = main(["optimize", mlp_file, "--data", npz(frac=frac), "--epochs", "2", "-o", str(out), "-q"])
    err = _err(capsys)
    assert code == 2, err
    assert len(err) == 1 and "y_train" in err[0] and "class id" in err[0]
    assert not out.exists()


def test_multi_input_model_with_single_array_data_is_refused(tmp_path, npz, capsys):
    keras = pytest.importorskip("keras")
    a, b = keras.Input((16,), name="a"), keras.Input((16,), name="b")
    joined = keras.layers.Concatenate()([keras.layers.Dense(8, name="da")(a), keras.layers.Dense(8, name="db")(b)])
    model = keras.Model([a, b], keras.layers.Dense(4, name="o")(joined), name="two_in")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.save(tmp_path / "multi.keras")
    code = main(["optimize", str(tmp_path / "multi.keras"), "--data", npz(), "--epochs", "2", "-o", str(tmp_path / "o"), "-q"])
    err = _err(capsys)
    assert code == 2, err
    assert len(err) == 1 and "'two_in'" in err[0] and "2 inputs" in err[0]
    # without data (one-shot) the model is still optimized, as estimate reads it
    assert main(["optimize", str(tmp_path / "multi.keras"), "-o", str(tmp_path / "o"), "-q"]) == 0


@pytest.mark.parametrize("name", ["fc 1", "fç1"])
def test_a_layer_name_tensorflow_cannot_train_is_refused_before_training(tmp_path, npz, capsys, name):
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's name scopes only")  # the check is TensorFlow's rule
    _mlp(keras, names=(name, "fc2")).save(tmp_path / "m.keras")
    code = main(["optimize", str(tmp_path / "m.keras"), "--data", npz(), "--epochs", "2", "-o", str(tmp_path / "o"), "-q"])
    err = _err(capsys)
    assert code == 2, err
    assert len(err) == 1 and repr(name) in err[0] and "rename" in err[0]
    # estimate and one-shot read the same model
    assert main(["estimate", str(tmp_path / "m.keras")]) == 0
    assert main(["optimize", str(tmp_path / "m.keras"), "-o", str(tmp_path / "o"), "-q"]) == 0


def test_a_stream_with_validation_arrays_is_a_data_error(mlp_file):
    tf = pytest.importorskip("tensorflow")
    X_train, y_train, X_val, y_val = _data()
    train = tf.data.Dataset.from_tensor_slices((X_train, y_train)).batch(16)
    from hls_opt.errors import DataError

    with pytest.raises(DataError, match="validation"):
        hls_opt.convert_and_optimize(mlp_file, data=(train, (X_val, y_val)), epochs=2)
    with pytest.raises(DataError, match="training"):
        hls_opt.convert_and_optimize(mlp_file, data=((X_train, y_train), train), epochs=2)


def test_more_devices_than_exist_is_exit_2(mlp_file, npz, tmp_path, capsys):
    import os

    tf = pytest.importorskip("tensorflow")
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a machine with GPUs counts GPUs")
    cores = len(os.sched_getaffinity(0))
    out = tmp_path / "o"
    code = main(["optimize", mlp_file, "--data", npz(), "--epochs", "2", "--devices", str(cores + 1), "-o", str(out), "-q"])
    err = _err(capsys)
    assert code == 2, err
    assert len(err) == 1 and "--devices" in err[0] and f"{cores} CPU" in err[0]
    assert not out.exists()


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"ranking": "bogus"}, r"optimize_kwargs\['ranking'\]: expected one of 'l1', .*, got 'bogus'"),
        ({"rankng": "l2"}, r"optimize_kwargs\['rankng'\].*did you mean 'ranking'"),
        ({"epochs": 3}, r"optimize_kwargs\['epochs'\].*epochs="),
        ({"rewinding_epochs": "x"}, r"optimize_kwargs\['rewinding_epochs'\]"),
    ],
)
def test_optimize_kwargs_are_checked(mlp_file, kwargs, pattern):
    X_train, y_train, X_val, y_val = _data()
    with pytest.raises(ConfigError, match=pattern):
        hls_opt.convert_and_optimize(mlp_file, data=(X_train, y_train, X_val, y_val), epochs=2, optimize_kwargs=kwargs)


def test_a_path_with_a_newline_is_quoted_whole(tmp_path, capsys):
    bad = str(tmp_path / "bad\nname.keras")
    assert main(["optimize", bad, "-o", str(tmp_path / "o")]) == 2
    err = _err(capsys)
    assert len(err) == 1 and "name.keras" in err[0] and "\\n" in err[0]
    cfg = str(tmp_path / "x\ny.yml")
    assert main(["estimate", bad, "--config", cfg]) == 2
    err = _err(capsys)
    assert len(err) == 1 and "name.keras" in err[0]


def test_messages_do_not_repeat_their_prefix(mlp_file, tmp_path, capsys):
    assert main(["optimize", mlp_file, "--scheduler", "polynomial:2.5", "-o", str(tmp_path / "o")]) == 2
    (line,) = _err(capsys)
    assert line.count("polynomial:2.5") == 1 and line.count("scheduler") == 1, line
    assert line.startswith("hls-opt: error: --scheduler: ")


@pytest.mark.parametrize("shape", ["component", "path"])
def test_an_overlong_output_path_is_exit_2(mlp_file, tmp_path, capsys, shape):
    import os

    if shape == "component":
        out = tmp_path / ("a" * 300)
    else:
        out = tmp_path.joinpath(*["b" * 200] * (os.pathconf(tmp_path, "PC_PATH_MAX") // 200 + 1))
    assert main(["optimize", mlp_file, "-o", str(out), "-q"]) == 2
    err = _err(capsys)
    assert len(err) == 1 and "--output" in err[0] and "too long" in err[0]
    with pytest.raises(ConfigError, match="output_dir.*too long"):
        hls_opt.convert_and_optimize(mlp_file, output_dir=out)


# ------------------------------------------------------------------------------------------------
# A nested model: refused (hls4ml 1.3 cannot convert one from Keras 3), never undercounted


@pytest.fixture
def nested_file(tmp_path):
    keras = pytest.importorskip("keras")
    sub = keras.Sequential([keras.Input((16,)), keras.layers.Dense(32, name="in1"), keras.layers.Dense(8, name="in2")], name="sub")
    inp = keras.Input((16,), name="x")
    model = keras.Model(inp, keras.layers.Dense(4, name="out")(sub(inp)), name="outer")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    path = tmp_path / "nested.keras"
    model.save(path)
    return str(path)


def test_estimate_refuses_a_nested_model(nested_file, capsys):
    # 0.3 printed 32 DSPs (the outer Dense alone); in1/in2's 512 + 256 multipliers were left out
    assert main(["estimate", nested_file]) == 2
    (line,) = _err(capsys)
    assert "'sub'" in line and "nested model" in line


def test_optimize_refuses_a_nested_model(nested_file, tmp_path, capsys):
    from hls_opt.errors import ModelError

    assert main(["optimize", nested_file, "-o", str(tmp_path / "o"), "-q"]) == 2
    assert "'sub'" in _err(capsys)[0]
    with pytest.raises(ModelError, match="'sub'.*nested model"):
        hls_opt.convert_and_optimize(nested_file)


# ------------------------------------------------------------------------------------------------
# The report after a rewrite: "RF given", oneAPI's strategy, nothing to prune, missed budgets


def test_rf_given_is_the_final_configs_after_a_budget_rewrite(mlp_file, tmp_path, capsys):
    # fc1 at RF 5: hls4ml builds 4 (5 is not a valid RF of a 16×32 Dense), so "RF given 5" is right
    # before; the latency budget then puts fc1 at RF 1, where nothing of the 5 is left.
    cfg = _write_yaml(
        tmp_path / "rf5.yml",
        {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Resource"}, "LayerName": {"fc1": {"ReuseFactor": 5}}},
    )
    out = tmp_path / "o"
    assert main(["optimize", mlp_file, "--config", cfg, "--latency-budget", "12", "-o", str(out), "-q"]) == 0
    fc1 = next(layer for layer in json.loads((out / "report.json").read_text())["layers"] if layer["name"] == "fc1")
    assert fc1["reuse_factor"] == 1 and fc1["reuse_factor_before"] == 4
    assert "reuse_factor_given" not in fc1  # the emitted config gives RF 1, which hls4ml keeps
    assert fc1["reuse_factor_given_before"] == 5
    row = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("fc1 "))
    assert "4→1" in row and "5→" in row  # the given RF shown as before → after


def test_oneapi_emits_the_strategy_hls4ml_builds(mlp_file, tmp_path):
    # hls4ml's oneAPI backend builds every Dense as Resource (oneapi_backend.py init_dense); a pruned
    # layer must not be told ResourceUnrolled, a Vivado/Vitis strategy it never builds.
    cfg = _write_yaml(tmp_path / "rf4.yml", {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 4, "Strategy": "Resource"}})
    result = hls_opt.convert_and_optimize(mlp_file, cfg, backend="oneapi", objective="params")
    assert result.report["pruned"]
    strategies = {str(e.get("Strategy")) for e in (result.hls_config.get("LayerName") or {}).values()}
    strategies.add(str(result.hls_config["Model"].get("Strategy")))
    assert "ResourceUnrolled" not in strategies and "Resource" in strategies
    assert {layer["strategy"] for layer in result.report["layers"] if layer["type"] == "Dense"} == {"Resource"}


def test_nothing_to_prune_is_said_as_such_not_as_fine_tuned(mlp_file, npz, tmp_path, capsys, caplog):
    # oneAPI at RF 4 keeps every multiplier of a Resource layer whatever its zeros: no group saves a DSP
    cfg = _write_yaml(tmp_path / "rf4.yml", {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 4, "Strategy": "Resource"}})
    out = tmp_path / "o"
    code = main(["optimize", mlp_file, "--config", cfg, "--backend", "oneapi", "--data", npz(), "--epochs", "2", "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads((out / "report.json").read_text())
    assert report["mode"] == "unchanged" and report["pruned"] is False and report["steps"] == []
    assert not any("within the tolerance" in n for n in report["notes"])
    assert any(n.startswith("nothing to prune") for n in report["notes"])
    assert "fine-tuned" not in captured.out and "mode: unchanged" in captured.out


def test_one_shot_without_a_cut_does_not_speak_of_tolerance_or_fine_tuning(mlp_file):
    result = hls_opt.convert_and_optimize(mlp_file, backend="gpu", objective="dsp")  # gpu: no DSPs at all
    notes = " ".join(result.report["notes"])
    assert "tolerance" not in notes and "fine-tuned" not in notes


def test_a_missed_dsp_budget_is_said_on_the_terminal(mlp_file, tmp_path, capsys, caplog):
    # 16→32→4 at RF 1 (hls4ml's default) uses 640 DSPs; 100 is reachable at larger RFs (so accepted).
    # Under `--optimize dsp` the budget would be a target (the pruning cuts to it, tests/test_budget_targets.py);
    # under `params` it is only checked: the one-shot cut of half the weights leaves more than 100 DSPs,
    # and the run must say so.
    out = tmp_path / "o"
    # exit 3: a resource budget not met (docs/cli.md); the design is still written
    assert main(["optimize", mlp_file, "--optimize", "params", "--dsp-budget", "100", "-o", str(out)]) == 3
    captured = capsys.readouterr()
    report = json.loads((out / "report.json").read_text())
    assert report["budgets"]["met"]["dsp"] is False
    reached = report["budgets"]["reached"]["dsp"]
    assert f"budget missed: DSP {reached} > 100 (--dsp-budget)" in captured.out
    # a warning too (stderr in the CLI), for a run whose stdout is not read
    assert any("budget missed: DSP" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


@pytest.mark.parametrize(
    "flags",
    [
        ["--scheduler", "polynomial:2.5"], ["--scheduler", "constant:x"], ["--scheduler", "polynomial:5:2"],
        ["--rtol", "2"], ["--optimize", "bogus"], ["--backend", "bogus"], ["--device", "bogus"],
        ["--latency-budget", "abc"], ["--dsp-budget", "-1"],
    ],
)  # fmt: skip
def test_no_message_repeats_a_part(mlp_file, tmp_path, capsys, flags):
    assert main(["optimize", mlp_file, *flags, "-o", str(tmp_path / "o")]) == 2
    (line,) = _err(capsys)
    parts = line.removeprefix("hls-opt: error: ").split(": ")
    assert len(parts) == len(set(parts)) and parts[0] == flags[0], line


def test_a_latency_budget_over_a_layer_without_timing_is_unchecked_not_met(dense_graph):
    # vivado times Dense but not an Opaque layer (a custom layer): the model's latency is a lower
    # bound, so a latency budget it "meets" is not known to be met.
    from hls_opt.config import Budgets
    from hls_opt.cost.tables import estimate_report
    from hls_opt.flow.report import budget_report, missed_budgets
    from hls_opt.ir import nodes as ir

    g = dense_graph(16, 8)
    last = g.outputs[0]
    g.add(ir.Opaque("custom", inputs=[last], input_shapes=[g.node(last).output_shape], output_shape=g.node(last).output_shape, config=g.node(last).config))
    g.outputs = ["custom"]
    timing = estimate_report(g, "vivado")["timing"]
    assert timing["not_modelled"] == ["custom"] and timing["latency_cycles"] is not None
    report = {"timing": {"after": timing}, "total": {"after": {"dsp": 0}}}
    budgets = budget_report(Budgets(latency_cycles=10_000, dsp=10_000), report)
    assert budgets["met"]["latency_cycles"] is None  # unchecked: a lower bound below the budget proves nothing
    assert budgets["met"]["dsp"] is True
    assert budgets["unchecked"] == {"latency_cycles": "no timing model for custom"}
    assert missed_budgets({"budgets": budgets}) == [
        "budget unchecked: latency (no timing model for custom; the reached value is a lower bound)"
    ]
