"""The ``hls-opt`` command: estimate (table and JSON), optimize (one-shot and with data), demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hls_opt.cli import main


def _write_files(root, epochs):
    from hls_opt.config import config_from_keras_model, save_config
    from hls_opt.data import digits_split, train_baseline

    split = digits_split(seed=0)
    model = train_baseline(split, epochs=epochs)  # epochs=0: compiled, untrained
    model.save(root / "model.keras")
    cfg = config_from_keras_model(
        model, granularity="name", default_precision="ac_fixed<16,6>", default_reuse_factor=4
    )
    cfg["Model"]["Strategy"] = "Resource"
    save_config(cfg, root / "config.yml")
    np.savez(
        root / "data.npz", X_train=split.X_train, y_train=split.y_train, X_val=split.X_val, y_val=split.y_val
    )
    return root


@pytest.fixture(scope="module")
def digits_files(tmp_path_factory):
    """The demo's untrained digits MLP (compiled), its config and the digits as an .npz."""
    pytest.importorskip("keras")
    return _write_files(tmp_path_factory.mktemp("cli"), epochs=0)


@pytest.fixture(scope="module")
def trained_files(tmp_path_factory):
    """The same, briefly trained (for the slow tests that fine-tune against rtol)."""
    pytest.importorskip("keras")
    return _write_files(tmp_path_factory.mktemp("cli_trained"), epochs=10)


def test_estimate_table_has_dsp_first_and_a_total_row(digits_files, capsys):
    assert (
        main(["estimate", str(digits_files / "model.keras"), "--config", str(digits_files / "config.yml")])
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    header = out[0].split()
    assert header[4] == "DSP"  # layer, type, strategy, RF, then DSP as the first resource column
    last_rule = max(i for i, line in enumerate(out) if line and set(line) == {"-"})
    assert out[last_rule + 1].split()[0] == "total"
    assert out[last_rule + 2].startswith("model: II ")  # the timing line under the table
    rows = [line.split() for line in out[2:last_rule]]
    assert [r[0] for r in rows if r[1] == "Dense"] == ["fc1", "fc2", "logits"]


def test_estimate_json_follows_the_report_schema(digits_files, capsys):
    code = main(
        [
            "estimate",
            str(digits_files / "model.keras"),
            "--config",
            str(digits_files / "config.yml"),
            "--json",
        ]
    )
    assert code == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["backend"] == "vivado"
    dense = {layer["name"]: layer for layer in rep["layers"] if layer["type"] == "Dense"}
    # fc1 is Dense 64→64 at RF 4 under Resource: 4096/4 = 1024 multipliers, 16×16-bit → 1 DSP each.
    assert dense["fc1"]["reuse_factor"] == 4 and dense["fc1"]["strategy"] == "Resource"
    assert dense["fc1"]["before"]["dsp"] == 1024
    assert rep["total"]["before"]["dsp"] == sum(layer["before"]["dsp"] for layer in rep["layers"])
    assert "steps" not in rep


def test_estimate_without_config_uses_hls4ml_defaults(digits_files, capsys):
    assert main(["estimate", str(digits_files / "model.keras"), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    fc1 = next(layer for layer in rep["layers"] if layer["name"] == "fc1")
    # hls4ml defaults: Latency, RF 1, 16-bit: one multiplier per weight, 64·64 = 4096.
    assert fc1["strategy"] == "Latency" and fc1["reuse_factor"] == 1 and fc1["before"]["dsp"] == 4096


@pytest.mark.slow
def test_optimize_one_shot_writes_model_config_report(trained_files, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "optimize",
            str(trained_files / "model.keras"),
            "--config",
            str(trained_files / "config.yml"),
            "--optimize",
            "dsp",
            "--scheduler",
            "polynomial:3:0.5",
            "-o",
            str(out),
            "-q",
        ]
    )
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr()
    assert {"model.keras", "hls_config.yml", "report.json"} <= {p.name for p in out.iterdir()}
    rep = json.loads((out / "report.json").read_text())
    assert rep["mode"] == "one-shot"
    assert rep["total"]["after"]["dsp"] < rep["total"]["before"]["dsp"]
    assert "DSP" in printed.out.splitlines()[0]
    assert printed.err == ""  # -q: no progress output


@pytest.mark.slow
def test_optimize_with_data_fine_tunes(trained_files, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "optimize",
            str(trained_files / "model.keras"),
            "--config",
            str(trained_files / "config.yml"),
            "--data",
            str(trained_files / "data.npz"),
            "--optimize",
            "dsp",
            "--scheduler",
            "polynomial:2:0.5",
            "--epochs",
            "2",
            "--rtol",
            "0.95",
            "-o",
            str(out),
            "-q",
        ]
    )
    assert code == 0, capsys.readouterr().err
    rep = json.loads((out / "report.json").read_text())
    assert rep["mode"] == "fine-tuned" and rep["steps"]
    assert rep["final_metric"] >= 0.95 * rep["baseline_metric"]
    from hls_opt.config import load_config

    cfg = load_config(out / "hls_config.yml")
    for layer in rep["layers"]:
        if layer["rewritten"]:
            assert cfg["LayerName"][layer["name"]]["Strategy"] == "ResourceUnrolled"


@pytest.mark.slow
def test_demo_prints_before_after_and_writes_outputs(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "-q", "--epochs", "2", "--baseline-epochs", "10"]) == 0
    text = capsys.readouterr().out
    assert "→" in text and "test accuracy" in text and text.splitlines()[0].split()[4] == "DSP"
    names = {p.name for p in out.iterdir()}
    assert {"model.keras", "hls_config.yml", "report.json"} <= names
    pytest.importorskip("matplotlib", reason="the plots extra is not installed (pip install hls-opt[plots])")
    assert {"layers.png"} <= names


def test_help_and_version_exit_zero():
    proc = subprocess.run(
        [sys.executable, "-m", "hls_opt.cli", "--version"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.startswith("hls-opt ")


def test_estimate_reads_h5_and_conv_models(tmp_path, capsys):
    import keras

    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.MaxPooling2D(name="pool"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(10, name="out"),
        ]
    )
    model.save(tmp_path / "cnn.h5")
    assert main(["estimate", str(tmp_path / "cnn.h5"), "--json"]) == 0
    captured = capsys.readouterr()
    rep = json.loads(captured.out)
    dsp = {layer["name"]: layer["before"]["dsp"] for layer in rep["layers"]}
    # hls4ml defaults (Latency, RF 1, 16-bit): one multiplier per weight.
    # conv: 3·3·1·4 = 36 (one kernel instance); out: (3·3·4)·10 = 360 after 2×2 pooling of 6×6.
    assert dsp["conv"] == 36 and dsp["out"] == 360 and rep["total"]["before"]["dsp"] == 396
    assert captured.err == ""


def test_estimate_checks_its_arguments_before_importing_tensorflow(tmp_path):
    code = (
        "import sys; from hls_opt.cli import main; rc = main(sys.argv[1:]); "
        "print('tensorflow' in sys.modules); sys.exit(rc)"
    )
    for argv in (
        ["estimate", str(tmp_path / "missing.keras")],
        ["estimate", "m.keras", "--backend", "nosuch"],
    ):
        proc = subprocess.run(
            [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("hls-opt: error: ")
        assert proc.stdout.strip() == "False"


def test_target_max_without_data_is_bad_input(digits_files, capsys, tmp_path):
    # the deepest cut *within the tolerance* needs data to check the tolerance: exit 2, one line
    code = main(
        ["optimize", str(digits_files / "model.keras"), "--target", "max", "-o", str(tmp_path / "out")]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--target" in err[0] and "--data" in err[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_target_max_searches_and_reports_its_front(trained_files, tmp_path, capsys):
    out = tmp_path / "max"
    code = main(
        [
            "optimize",
            str(trained_files / "model.keras"),
            "--config",
            str(trained_files / "config.yml"),
            "--data",
            str(trained_files / "data.npz"),
            "--target",
            "max",
            "--epochs",
            "2",
            "--batch-size",
            "64",
            "--rtol",
            "0.9",
            "-q",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    steps = report["steps"]
    accepted = [s for s in steps if s["accepted"] and s["target"] > 0]
    assert len(steps) >= 3 and accepted  # a search, not one trial
    # the returned model is the deepest accepted trial: its DSPs are the report's total after
    assert report["total"]["after"]["dsp"] == min(s["achieved"]["dsp"] for s in accepted)
    # the front: trials no other beats on both axes, cheapest first, each one of the steps
    front = report["front"]
    assert front and all(f in steps for f in front)
    dsps = [f["achieved"]["dsp"] for f in front]
    metrics = [f["metric"] for f in front]
    assert dsps == sorted(dsps) and metrics == sorted(metrics)


def _unwritable_folder(tmp_path):
    """An existing folder this process cannot write (root ignores modes: /sys takes no new folder)."""
    if os.geteuid() == 0:
        return Path("/sys/kernel")
    locked = tmp_path / "locked"
    (locked / "out").mkdir(parents=True)
    (locked / "out").chmod(0o555)
    locked.chmod(0o555)
    return locked / "out"


def test_an_unwritable_output_folder_is_bad_input_before_any_training(
    digits_files, tmp_path, capsys, monkeypatch
):
    from hls_opt.flow import run as flow

    def trained(*args, **kwargs):
        raise AssertionError("the flow ran before the output folder was checked")

    monkeypatch.setattr(flow, "convert_and_optimize", trained)
    out = _unwritable_folder(tmp_path)
    try:
        code = main(["optimize", str(digits_files / "model.keras"), "-o", str(out), "-q"])
    finally:
        if out.parent == tmp_path / "locked":
            out.parent.chmod(0o755)
            out.chmod(0o755)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert len(err) == 1 and err[0].startswith(f"hls-opt: error: {out}: cannot ") and "--output" in err[0]


def test_a_link_to_the_output_folder_is_followed(digits_files, tmp_path, capsys):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    code = main(["optimize", str(digits_files / "model.keras"), "-o", str(tmp_path / "link"), "-q"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "link").is_symlink() and (real / "report.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]


_SIGTERM_DURING_SAVE = """
import os, signal, sys, time
from hls_opt import cli
from hls_opt.flow.result import OptimizationResult

class Model:
    def save(self, path):
        with open(path, "wb") as f:
            f.write(b"half")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)

def run(args):
    OptimizationResult(model=Model(), hls_config={"Model": {}}, graph=None, report={}).save(sys.argv[1])
    return 0

cli.COMMANDS["estimate"] = run
sys.exit(cli.main(["estimate", "m.keras"]))
"""


def test_sigterm_during_the_save_cleans_up_and_exits_143(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", _SIGTERM_DURING_SAVE, str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 128 + 15, proc.stderr
    assert proc.stderr.strip().splitlines() == ["hls-opt: terminated (no output was written or replaced)"]
    assert list(tmp_path.iterdir()) == []  # no .out.*.tmp folder with half-written files


def test_leftovers_of_a_killed_save_are_removed_by_the_next_one(tmp_path):
    from hls_opt.flow.result import OptimizationResult

    class Model:
        def save(self, path):
            Path(path).write_bytes(b"model")

    # A process that staged an output (our manifest inside) and died while writing model.keras
    # (a leftover is removed only when provably ours; test_output_ownership.py has the rest).
    script = (
        "import os, sys; from pathlib import Path; from hls_opt.core.fileio import staging_dir\n"
        "d = staging_dir(Path(sys.argv[1]), pending=['model.keras']); (d / 'model.keras').write_bytes(b'half')\n"
        "print(os.getpid())"
    )
    dead = subprocess.run([sys.executable, "-c", script, str(tmp_path / "out")], capture_output=True, text=True)
    pid = int(dead.stdout)
    assert [p.name for p in tmp_path.iterdir()][0].startswith(f".out.{pid}.")
    (tmp_path / f".other.{pid}.0123abcd.tmp").mkdir()  # beside another output: not ours to remove
    OptimizationResult(model=Model(), hls_config={"Model": {}}, graph=None, report={}).save(
        tmp_path / "out", plots=False
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".other.{pid}.0123abcd.tmp", "out"]


def test_main_gives_the_callers_logger_levels_and_warning_filters_back(digits_files, capsys):
    # -q sets the 'hls_opt' logger to errors only and ignores UserWarnings for the run; a caller of
    # main() (a notebook, a test) must get its own settings back.
    import logging
    import warnings

    logger = logging.getLogger("hls_opt")
    before_level, before_filters = logger.level, list(warnings.filters)
    assert main(["-q", "estimate", str(digits_files / "model.keras")]) == 0
    assert logger.level == before_level
    assert warnings.filters == before_filters


def test_estimate_shows_timing_and_the_device_fraction(digits_files, capsys):
    model = str(digits_files / "model.keras")
    assert main(["estimate", model, "--device", "xcvu9p-flga2104-2L-e"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[-2:] == ["II", "latency"]
    assert out[-2].startswith("model: II 1 cycles, latency ")  # hls4ml defaults: Latency RF 1
    assert out[-1].startswith("device xcvu9p: DSP ") and "/6840 (" in out[-1]
    # at hls4ml's defaults (RF 1) the model uses more than a Z-7020's 220 DSPs, but it can reach
    # fewer (every layer at its largest RF): the fraction is shown and the device is no error
    assert main(["estimate", model, "--json", "--device", "xc7z020"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["device"]["before"]["dsp"]["available"] == 220 and rep["device"]["before"]["dsp"]["fraction"] > 1
    assert rep["timing"]["schedule"] == "pipeline"
    fc1 = next(layer for layer in rep["layers"] if layer["name"] == "fc1")
    assert fc1["ii"] == 1 and fc1["latency_cycles"] > 0
    # three Dense layers: at least one multiplier (one DSP48E2 at 16 bits) each, 3 DSPs
    assert main(["estimate", model, "--device", "xc7z020", "--dsp-budget", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--dsp-budget: 2 DSPs is below the smallest DSP count" in err[0] and err[0].endswith(
        ", 3, every layer at its largest reuse factor; the smallest latency the model can reach is "
        f"{rep['timing']['latency_cycles']} cycles ({rep['timing']['latency_cycles'] * 5:g} ns at 5 ns), every layer at RF 1"
    )


def test_estimate_budgets_are_checked_and_bad_ones_name_the_flag(digits_files, capsys):
    model = str(digits_files / "model.keras")
    assert main(["estimate", model, "--latency-budget", "1.5us", "--dsp-budget", "500"]) == 0
    capsys.readouterr()
    assert main(["estimate", model, "--latency-budget", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--latency-budget: 2 cycles (10 ns at 5 ns) is below the smallest latency" in err[0]
    assert main(["estimate", model, "--ii-budget", "fast"]) == 2
    assert capsys.readouterr().err.startswith("hls-opt: error: --ii-budget: cannot read 'fast'")
