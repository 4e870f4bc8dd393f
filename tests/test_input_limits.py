"""every input from a user is bounded.

Numbers (budget flags, ``--clock-period``, a config's ``ClockPeriod``) are read with a length,
exponent and range limit before any arithmetic (``Fraction(10) ** 999999999`` never runs); config
files with a size, nesting-depth and YAML-alias limit; a ``.keras`` archive's ``config.json`` as a
stream with a cap on its inflated size.  Each is exit 2 with one line naming the flag or file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest

from hls_opt.cli import main
from hls_opt.config.budgets import parse_budgets, parse_count, parse_cycles, parse_time_ns
from hls_opt.errors import ConfigError, ModelError
from hls_opt.flow.inputs import check_model_file, load_hls_config


@pytest.fixture
def tiny_keras(tmp_path):
    """A file that passes the cheap model-file checks (a zip with a small config.json); every case
    below fails before Keras would read it."""
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", '{"class_name": "Sequential"}')
    return path


def _one_line(capsys, code: int, *needles: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("hls-opt: error: "), err
    for needle in needles:
        assert needle in err[0], err
    return err[0]


# -- numbers ---------------------------------------------------------------------------------------

HUGE_FLAGS = {
    # flag, value: each hung in Fraction(10) ** exp (> 60 s) before any check
    "latency exponent": ("--latency-budget", "1e999999999"),
    "latency time exponent": ("--latency-budget", "1e999999999ns"),
    "clock tiny": ("--clock-period", "1e-999999999ns"),
    "dsp exponent": ("--dsp-budget", "1e99999999"),
    "ii exponent": ("--ii-budget", "1e-99999999us"),
    "bram exponent": ("--bram-budget", "-1e99999999"),
    # 5000 digits: int() refuses them (ValueError, was exit 1 internal error)
    "dsp digits": ("--dsp-budget", "9" * 5000),
    "latency digits": ("--latency-budget", "1." + "0" * 5000 + "1us"),
    # in range of the syntax, out of range of any design
    "dsp beyond range": ("--dsp-budget", "1e40"),
    "clock beyond range": ("--clock-period", "1e20s"),
}


@pytest.mark.parametrize("case", sorted(HUGE_FLAGS))
def test_a_huge_number_on_a_flag_is_exit_2_naming_the_flag(tiny_keras, capsys, case):
    flag, value = HUGE_FLAGS[case]
    code = main(["estimate", str(tiny_keras), f"{flag}={value}"])  # '=': argparse takes '-1e9' as a value
    _one_line(capsys, code, flag)


def test_a_huge_clock_period_in_the_config_is_exit_2_naming_the_file(tiny_keras, tmp_path, capsys):
    # no flag at all: the config's ClockPeriod alone hung
    cfg = tmp_path / "cfg.yml"
    cfg.write_text("ClockPeriod: 1e999999999\nModel:\n  ReuseFactor: 1\n")
    code = main(["estimate", str(tiny_keras), "--config", str(cfg)])
    _one_line(capsys, code, "ClockPeriod")


@pytest.mark.parametrize(
    "call",
    [
        lambda: parse_cycles(10**100000, key="--latency-budget"),  # a Python int from the API
        lambda: parse_count(10**100, key="--dsp-budget"),
        lambda: parse_time_ns(1e300, key="--clock-period"),
        lambda: parse_budgets(latency="1e18", clock_period="1e-30ns"),
    ],
)
def test_the_api_checks_the_same_ranges(call):
    with pytest.raises(ConfigError):
        call()


def test_ordinary_numbers_still_read_exactly():
    assert parse_cycles("200ns", key="x", clock_period_ns=parse_time_ns("5ns")) == 40
    assert parse_cycles("1.5e3", key="x") == 1500
    assert parse_count("500", key="x") == 500
    assert parse_time_ns("0.005us") == parse_time_ns("5")


# -- config files ----------------------------------------------------------------------------------


def _alias_bomb(levels: int = 9) -> str:
    lines = ["Model:", "  ReuseFactor: 1", "LayerName:", "  fc1:", '    a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"    a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


CONFIGS = {
    # the alias bomb under a LayerName attribute: 137 s then MemoryError
    "yaml alias bomb": ("cfg.yml", _alias_bomb()),
    # RecursionError, exit 1
    "json 100000 deep": ("cfg.json", "[" * 100_000 + "]" * 100_000),
    "yaml 50000 deep": ("cfg.yml", "Model: " + "[" * 50_000 + "]" * 50_000 + "\n"),
    "yaml 400 deep block": ("cfg.yml", "".join("  " * i + f"k{i}:\n" for i in range(400)) + "  " * 400 + "v\n"),
    # bigger than any hls4ml config (a 1000-layer one is ~300 KB)
    "yaml too large": ("cfg.yml", "Model:\n  ReuseFactor: 1\n" + "# padding\n" * 300_000),
    # an integer of 5000 digits: int() refuses (ValueError inside the parser, exit 1)
    "json long integer": ("cfg.json", '{"ClockPeriod": ' + "9" * 5000 + "}"),
    "yaml long integer": ("cfg.yml", "ClockPeriod: " + "9" * 5000 + "\n"),
}


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_a_hostile_config_is_exit_2_naming_the_file(tiny_keras, tmp_path, capsys, case):
    name, text = CONFIGS[case]
    cfg = tmp_path / name
    cfg.write_text(text)
    code = main(["estimate", str(tiny_keras), "--config", str(cfg)])
    _one_line(capsys, code, str(cfg))


def test_a_few_anchors_and_aliases_are_still_fine(tmp_path):
    cfg = tmp_path / "cfg.yml"
    cfg.write_text(
        "Model: &m\n  Precision: ap_fixed<16,6>\n  ReuseFactor: 1\n"
        "LayerName:\n  fc1: *m\n  fc2: *m\n"
    )
    loaded, _ = load_hls_config(cfg)
    assert loaded["LayerName"]["fc1"] == loaded["Model"]


def test_json_nested_a_little_is_fine(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"Model": {"ReuseFactor": 1, "Precision": {"default": "ap_fixed<16,6>"}}}))
    assert load_hls_config(cfg)[0]["Model"]["ReuseFactor"] == 1


# -- .keras archives ---------------------------------------------------------------------------------


def _keras_bomb(path, inflated: int) -> None:
    # config.json of `inflated` bytes that deflates to almost nothing
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("config.json", "w", force_zip64=True) as member:
            member.write(b'{"qkeras": "')
            block = b" " * (1 << 20)
            for _ in range(inflated >> 20):
                member.write(block)
            member.write(b'"}')


def test_a_keras_archive_whose_config_inflates_too_far_is_refused(tmp_path):
    bomb = tmp_path / "bomb.keras"
    _keras_bomb(bomb, 80 << 20)
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(ModelError, match="config.json.*MiB"):
        check_model_file(bomb)


def test_the_cli_refuses_the_bomb_before_importing_tensorflow(tmp_path):
    bomb = tmp_path / "bomb.keras"
    _keras_bomb(bomb, 80 << 20)
    script = (
        "import sys; from hls_opt.cli import main; code = main(['estimate', sys.argv[1]]); "
        "sys.exit(10 + code if 'tensorflow' in sys.modules else code)"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(bomb)], capture_output=True, text=True, timeout=300)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1 and str(bomb) in err[0] and "config.json" in err[0], proc.stderr


def test_qkeras_is_still_found_in_a_streamed_config(tmp_path):
    from hls_opt.flow.inputs import _mentions_qkeras

    path = tmp_path / "q.keras"
    with zipfile.ZipFile(path, "w") as archive:
        # the word straddles a read boundary of the stream
        archive.writestr("config.json", b" " * ((1 << 16) - 3) + b'"qkeras>QDense"')
    assert _mentions_qkeras(path)
    h5 = tmp_path / "q.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * ((1 << 16) - 11) + b"qkeras.qlayers")
    assert _mentions_qkeras(h5)
    plain = tmp_path / "p.keras"
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("config.json", "{}")
    assert not _mentions_qkeras(plain)


# -- numbers inside a config (found by tests/test_cli_properties.py and by hand) -------------------

CONFIG_NUMBERS = {
    # int() refuses more than 4300 digits: a ValueError that escaped as exit 1
    "precision width digits": {"Model": {"Precision": "ap_int<" + "9" * 5000 + ">"}},
    "reuse factor digits": {"Model": {"ReuseFactor": "9" * 5000}},
    "layer reuse factor digits": {"Model": {"ReuseFactor": 1}, "LayerName": {"fc1": {"ReuseFactor": "9" * 5000}}},
    # str.isdigit() is true for '²', which int() refuses
    "reuse factor superscript": {"Model": {"ReuseFactor": "²"}},
}


@pytest.mark.parametrize("case", sorted(CONFIG_NUMBERS))
def test_a_hostile_number_in_a_config_is_exit_2_naming_the_file(tiny_keras, tmp_path, capsys, case):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(CONFIG_NUMBERS[case]))
    code = main(["estimate", str(tiny_keras), "--config", str(cfg)])
    _one_line(capsys, code, str(cfg))


def test_the_configs_clock_period_error_names_the_file(tiny_keras, tmp_path, capsys):
    cfg = tmp_path / "cfg.yml"
    cfg.write_text("ClockPeriod: 1e999999999\n")
    code = main(["estimate", str(tiny_keras), "--config", str(cfg)])
    _one_line(capsys, code, f"{cfg}: ClockPeriod")


@pytest.mark.parametrize("libyaml", [True, False])
def test_both_yaml_parsers_count(tmp_path, monkeypatch, libyaml):
    # libyaml's parser when PyYAML has it (fast), PyYAML's own otherwise: the same limits
    import yaml

    if libyaml and not yaml.__with_libyaml__:
        pytest.skip("PyYAML built without libyaml")
    monkeypatch.setattr(yaml, "__with_libyaml__", libyaml)
    cfg = tmp_path / "cfg.yml"
    cfg.write_text(_alias_bomb())
    with pytest.raises(ConfigError, match="aliases are expanded"):
        load_hls_config(cfg)
    cfg.write_text("Model: " + "[" * 100 + "]" * 100 + "\n")
    with pytest.raises(ConfigError, match="nested deeper than 64"):
        load_hls_config(cfg)
    cfg.write_text("Model: &m {ReuseFactor: 2}\nLayerName: {fc1: *m}\n")
    assert load_hls_config(cfg)[0]["LayerName"]["fc1"] == {"ReuseFactor": 2}


# -- .npz data archives ------------------------------------------------------------------------------


def _npz_with_lying_header(path, shape=(10**12,), lying_labels: bool = False) -> None:
    """Four arrays; X_train's .npy header declares ``shape`` (3.6 TiB of float32) over 80 bytes
    (and y_train's ``shape[:1]``, with ``lying_labels``, so that the sample counts agree)."""
    import io

    import numpy as np

    def lie(shape):
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
        return header.getvalue() + b"\0" * 80

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("X_train.npy", lie(shape))
        if lying_labels:
            archive.writestr("y_train.npy", lie(shape[:1]))
        rest = (("X_val", np.zeros((4, 5), np.float32)), ("y_val", np.zeros(4)))
        for key, value in rest if lying_labels else (("y_train", np.zeros(4)), *rest):
            buffer = io.BytesIO()
            np.save(buffer, value)
            archive.writestr(f"{key}.npy", buffer.getvalue())


@pytest.mark.parametrize("form", ["file", "shards"])
def test_an_npz_whose_header_declares_more_than_it_holds_is_a_data_error(tmp_path, form):
    # numpy allocates what the header declares before reading: MemoryError (exit 1) for 3.6 TiB
    from hls_opt.data import load_data
    from hls_opt.errors import DataError

    if form == "file":
        data = tmp_path / "data.npz"
        _npz_with_lying_header(data)
    else:
        data = tmp_path / "shards"
        data.mkdir()
        _npz_with_lying_header(data / "a.npz", shape=(10**12, 5), lying_labels=True)  # counts agree
    with pytest.raises(DataError, match="X_train.*declares"):
        load_data(str(data))
