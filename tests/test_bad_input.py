"""Every bad input of issue 7: exit 2 with one clear line from the CLI, a typed exception from the
API, and no output file written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hls_opt.cli import main
from hls_opt.errors import ConfigError, DataError, ModelError, PrecisionError, RegistryError

GOOD_CONFIG = "Model:\n  Precision: ap_fixed<16,6>\n  ReuseFactor: 4\n  Strategy: Resource\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small compiled model, an uncompiled one, a good config and good data (64 features)."""
    import keras

    root = tmp_path_factory.mktemp("bad_input")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(8, activation="relu", name="fc"),
            keras.layers.Dense(10, name="out"),
        ]
    )
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.save(root / "model.keras")
    bare = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, name="out")])
    bare.save(root / "uncompiled.keras")
    (root / "config.yml").write_text(GOOD_CONFIG)
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 64), dtype=np.float32), rng.integers(0, 10, 40)
    np.savez(root / "data.npz", X_train=X[:30], y_train=y[:30], X_val=X[30:], y_val=y[30:])
    return root


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.err


def assert_one_line_error(code, err, *needles):
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("hls-opt: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


def optimize_args(files, out, **over):
    args = {"model": files / "model.keras", "--config": files / "config.yml", "--data": files / "data.npz"}
    args.update(over)
    argv = ["optimize", args.pop("model")]
    for key, value in args.items():
        if value is not None:
            argv += [key, value]
    return argv + ["-o", out, "-q"]


# Each case: (what, overrides of the optimize arguments, file to create, text the error must name)
CASES = {
    "missing model": ({"model": "{root}/nope.keras"}, None, "nope.keras"),
    "random-bytes model": (
        {"model": "{tmp}/random.keras"},
        ("random.keras", os.urandom(256)),
        "random.keras",
    ),
    "random-bytes h5 model": ({"model": "{tmp}/random.h5"}, ("random.h5", os.urandom(256)), "random.h5"),
    "unparsable YAML": (
        {"--config": "{tmp}/broken.yml"},
        ("broken.yml", b"Model: [unclosed\n  - :"),
        "broken.yml",
    ),
    "unknown precision": (
        {"--config": "{tmp}/prec.yml"},
        ("prec.yml", b"Model:\n  Precision: ap_fixd<16,6>\n  ReuseFactor: 1\n"),
        "ap_fixd",
    ),
    "data without y_val": ({"--data": "{tmp}/noyval.npz"}, "noyval", "y_val"),
    "wrong feature count": ({"--data": "{tmp}/narrow.npz"}, "narrow", "63"),
    # 10 outputs, labels 10..11: Keras used to fail inside fit (internal error, exit 1)
    "labels beyond the outputs": ({"--data": "{tmp}/labels.npz"}, "labels", "class ids 10..11"),
    "complex-valued data": ({"--data": "{tmp}/complex.npz"}, "complex", "X_train: complex values"),
    "unknown objective": ({"--optimize": "dsps"}, None, "--optimize"),
    "rtol zero": ({"--rtol": "0"}, None, "--rtol"),
    "rtol above one": ({"--rtol": "1.5"}, None, "--rtol"),
    "no loss anywhere": ({"model": "{root}/uncompiled.keras"}, None, "loss"),
    "one epoch with data": ({"--epochs": "1"}, None, "--epochs"),
    "unknown Keras loss": ({"--loss": "nosuchloss"}, None, "--loss"),
}


def _materialise(files, tmp_path, overrides, create):
    if isinstance(create, tuple):
        (tmp_path / create[0]).write_bytes(create[1])
    elif create == "noyval":
        X = np.zeros((4, 64), np.float32)
        np.savez(tmp_path / "noyval.npz", X_train=X, y_train=np.zeros(4), X_val=X)
    elif create == "labels":
        X, y = np.zeros((4, 64), np.float32), np.array([10, 11, 10, 11])
        np.savez(tmp_path / "labels.npz", X_train=X, y_train=y, X_val=X, y_val=y)
    elif create == "complex":
        X = np.zeros((4, 64), np.complex64) + 1j
        np.savez(tmp_path / "complex.npz", X_train=X, y_train=np.zeros(4), X_val=X.real, y_val=np.zeros(4))
    elif create == "narrow":
        X = np.zeros((4, 63), np.float32)
        np.savez(tmp_path / "narrow.npz", X_train=X, y_train=np.zeros(4), X_val=X, y_val=np.zeros(4))
    return {
        k: (v.format(root=files, tmp=tmp_path) if isinstance(v, str) else v) for k, v in overrides.items()
    }


@pytest.mark.parametrize("case", list(CASES))
def test_cli_bad_input_exits_2_with_one_line_and_writes_nothing(case, files, tmp_path, capsys):
    overrides, create, needle = CASES[case]
    over = _materialise(files, tmp_path, overrides, create)
    out = tmp_path / "out"
    code, err = run_cli(capsys, *optimize_args(files, out, **over))
    assert_one_line_error(code, err, needle)
    assert not out.exists()


# The same mistakes through the Python API: typed exceptions.
API_CASES = {
    "missing model": (ModelError, "nope.keras"),
    "random-bytes model": (ModelError, "random.keras"),
    "unparsable YAML": (ConfigError, "broken.yml"),
    "unknown precision": (PrecisionError, "ap_fixd"),
    "data without y_val": (DataError, "y_val"),
    "wrong feature count": (DataError, "63"),
    "complex-valued data": (DataError, "X_train: complex values"),
    "unknown objective": (RegistryError, "dsps"),
    "rtol above one": (ConfigError, "rtol"),
    "no loss anywhere": (ConfigError, "loss"),
}


@pytest.mark.parametrize("case", list(API_CASES))
def test_api_bad_input_raises_a_typed_error(case, files, tmp_path):
    import hls_opt

    overrides, create, _ = CASES[case]
    over = _materialise(files, tmp_path, overrides, create)
    kwargs = {
        "model": str(over.get("model", files / "model.keras")),
        "hls_config": str(over.get("--config", files / "config.yml")),
        "data": str(over.get("--data", files / "data.npz")),
        "objective": over.get("--optimize", "dsp"),
        "rtol": float(over.get("--rtol", 0.975)),
        "output_dir": tmp_path / "out",
    }
    error, needle = API_CASES[case]
    with pytest.raises(error, match=needle.replace("+", r"\+")):
        hls_opt.convert_and_optimize(kwargs.pop("model"), kwargs.pop("hls_config"), **kwargs)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("thing", [object(), 42, np.zeros(3), {"layers": []}])
def test_a_non_keras_model_object_is_a_type_error(thing):
    import hls_opt

    with pytest.raises(TypeError, match="model"):
        hls_opt.convert_and_optimize(thing)


def test_argument_errors_are_one_line_too(capsys):
    assert_one_line_error(*run_cli(capsys, "optimize"), "required")
    assert_one_line_error(*run_cli(capsys, "frobnicate"), "frobnicate")
    assert_one_line_error(*run_cli(capsys, "optimize", "m.keras", "-o", "x", "--epochs", "0"), "--epochs")
    assert_one_line_error(
        *run_cli(capsys, "optimize", "m.keras", "-o", "x", "--scheduler", "cubic:3"), "scheduler"
    )


def test_subprocess_bad_model_exits_2_before_importing_tensorflow(tmp_path):
    """A real process: exit status 2, exactly one line on stderr, TensorFlow never imported."""
    bad = tmp_path / "random.keras"
    bad.write_bytes(os.urandom(64))
    code = (
        "import sys; from hls_opt.cli import main; rc = main(sys.argv[1:]); "
        "print('tensorflow' in sys.modules); sys.exit(rc)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "optimize", str(bad), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"hls-opt: error: {bad}: not a Keras model file (a .keras file is a zip archive)"
    ]
    assert proc.stdout.strip() == "False"
    assert not (tmp_path / "out").exists()


def test_console_script_reports_bad_data_after_loading_tensorflow_quietly(files, tmp_path):
    """The installed ``hls-opt`` script: a data error found after the model is loaded (TensorFlow
    imported) still leaves exactly one line on stderr."""
    X = np.zeros((4, 63), np.float32)
    np.savez(tmp_path / "narrow.npz", X_train=X, y_train=np.zeros(4), X_val=X, y_val=np.zeros(4))
    script = Path(sys.executable).with_name("hls-opt")
    if not script.exists():
        pytest.skip("console script not installed in this environment")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    proc = subprocess.run(
        [
            str(script),
            "optimize",
            str(files / "model.keras"),
            "--data",
            str(tmp_path / "narrow.npz"),
            "-o",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"hls-opt: error: {tmp_path / 'narrow.npz'}: X_train: 63 features per sample, the model expects 64"
    ]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["folder", "model file", "ancestor"])
def test_output_over_the_input_model_is_refused_before_any_work(files, tmp_path, capsys, where):
    # -o at the model's own folder (or the model file itself, or a folder above it) would replace the input
    inputs = tmp_path / "in" / "sub"
    inputs.mkdir(parents=True)
    model = inputs / "model.keras"
    model.write_bytes((files / "model.keras").read_bytes())
    out = {"folder": inputs, "model file": model, "ancestor": tmp_path / "in"}[where]
    before = sorted(p.name for p in inputs.iterdir())
    code, err = run_cli(capsys, "optimize", model, "-o", out, "-q")
    assert_one_line_error(code, err, str(out), "input model")
    assert model.read_bytes() == (files / "model.keras").read_bytes()
    assert sorted(p.name for p in inputs.iterdir()) == before


def test_api_output_dir_over_the_input_data_is_refused(files, tmp_path):
    import hls_opt

    data = tmp_path / "data.npz"
    data.write_bytes((files / "data.npz").read_bytes())
    with pytest.raises(ConfigError, match="input data"):
        hls_opt.convert_and_optimize(files / "model.keras", data=data, output_dir=tmp_path)
    assert data.read_bytes() == (files / "data.npz").read_bytes()
