"""generated configs, flag values and data shapes fed to the CLI's parsing
and checking layer give exit 0 or 2, never an escaped exception or an internal error (exit 1).

``estimate`` runs whole (it is fast); ``optimize`` stops where training would start: the flow's
``run_flow`` is replaced by a function raising :class:`_ReachedTraining` (a ``BaseException``, so
the CLI's handler for internal errors does not turn it into exit 1), which counts as exit 0.
``deadline`` is a hang guard (the hangs this guards against took minutes), not a speed assertion.
Deterministic: ``derandomize=True``.
"""

from __future__ import annotations

import json
import string
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hls_opt.cli import main

SETTINGS = settings(
    derandomize=True,
    max_examples=60,
    deadline=timedelta(seconds=30),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


class _ReachedTraining(BaseException):
    """Raised where training would start: every check before it passed."""


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    import keras

    root = tmp_path_factory.mktemp("prop")
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(4, activation="relu", name="fc1"), keras.layers.Dense(3, name="out")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.save(root / "model.keras")
    return root / "model.keras"


# -- what a user (or an attacker) may type --------------------------------------------------------

_NUMBERS = st.from_regex(r"\A[+-]?[0-9]{1,12}(\.[0-9]{0,6})?([eE][+-]?[0-9]{1,11})?(ns|us|ps|ms|s|c|cycles|)\Z")
_HOSTILE = st.sampled_from(
    ["1e999999999", "1e-999999999ns", "9" * 5000, "nan", "inf", "-0", "0", "0ns", "1e30", "1e31", "", " ",
     "1.5us", "200", "5ns", "1_000", "0x10", "１２", "1e+30s", "-1e99999999", "\x00", "5 ns", "μs", "5µs"]
)
FLAG_VALUE = st.one_of(_NUMBERS, _HOSTILE, st.text(string.printable, max_size=12))
#: Values each flag takes in an ordinary run, so that generated runs get past the checks too.
_VALID = {
    "--latency-budget": ["1000", "5us", "200ns", "64"],
    "--ii-budget": ["1000", "2us"],
    "--dsp-budget": ["1000", "100", "0"],
    "--bram-budget": ["100", "10"],
    "--clock-period": ["5ns", "10", "2.5ns", "4000ps"],
    "--device": ["xc7z020clg400-1", "xcvu9p-flga2104-2L-e"],
    "--backend": ["vivado", "vitis", "oneapi"],
    "--rtol": ["0.9", "0.5", "1"],
    "--epochs": ["2", "3"],
    "--batch-size": ["8", "128"],
    "--scheduler": ["polynomial:2:0.5", "constant:0.1:0.5", "binary:0.5"],
    "--optimize": ["dsp", "bram", "params", "dsp,bram"],
    "--loss": ["mse", "sparse_categorical_crossentropy"],
}


def _flags(names: list[str]):
    """Some of ``names``, each with an ordinary value (two times in three) or a generated one."""
    return st.dictionaries(
        st.sampled_from(names), st.just(None), max_size=min(4, len(names))
    ).flatmap(
        lambda chosen: st.fixed_dictionaries(
            {name: st.one_of(st.sampled_from(_VALID[name]), st.sampled_from(_VALID[name]), FLAG_VALUE)
             for name in chosen}
        )
    )


_KEYS = ["Model", "LayerName", "LayerType", "ClockPeriod", "Part", "IOType", "HLSConfig", "Precision",
         "ReuseFactor", "Strategy", "fc1", "out", "Dense", "weight", "bias", "result", "accum",
         "ParallelizationFactor", "Trace", "BramFactor", "default", "KerasModel", "OutputDir"]
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["ap_fixed<16,6>", "ap_fixed<99999999999,6>", "ac_fixed<16,6,true>", "fixed<0,0>",
                     "ap_int<" + "9" * 5000 + ">", "auto", "Latency", "Resource", "resource_unrolled", "Dence",
                     "io_stream", "io_parallel", "xc7z020clg400-1", "xcvu9p-flga2104-2L-e", "5", "1e999999999",
                     "9" * 5000]),
    st.text(max_size=10),
)
CONFIG = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=5)),
    max_leaves=25,
)


def _write_config(directory: Path, data, fmt: str, raw: str | None) -> Path:
    path = directory / ("cfg.json" if fmt == "json" else "cfg.yml")
    if raw is not None:
        path.write_text(raw, encoding="utf-8", errors="surrogatepass")
    elif fmt == "json":
        path.write_text(json.dumps(data))  # NaN / Infinity included, as a careless writer emits them
    else:
        import yaml

        path.write_text(yaml.safe_dump(data))
    return path


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except _ReachedTraining:
        return 0


@SETTINGS
@given(
    config=st.one_of(st.none(), st.none(), CONFIG),
    fmt=st.sampled_from(["json", "yaml"]),
    raw=st.one_of(st.none(), st.none(), st.none(), st.text(max_size=40)),
    flags=_flags(["--latency-budget", "--ii-budget", "--dsp-budget", "--bram-budget", "--clock-period",
                  "--device", "--backend"]),
)
def test_estimate_exits_0_or_2(model_file, tmp_path_factory, capsys, config, fmt, raw, flags):
    argv = ["estimate", str(model_file), *(f"{k}={v}" for k, v in flags.items())]
    if config is not None or raw is not None:
        argv += ["--config", str(_write_config(tmp_path_factory.mktemp("cfg"), config, fmt, raw))]
    code = _exit_code(argv)
    err = capsys.readouterr().err
    event(f"exit {code}")
    assert code in (0, 2), (argv, err)
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err


_SHAPE = st.lists(st.integers(min_value=0, max_value=6), min_size=0, max_size=3).map(tuple)


@st.composite
def _good_data(draw):
    """What the model takes: (n, 5) floats, class ids 0..2."""
    out = {}
    for split in ("train", "val"):
        n = draw(st.integers(min_value=1, max_value=6))
        out[f"X_{split}"] = np.asarray(
            draw(st.lists(st.floats(-4, 4, width=32), min_size=5 * n, max_size=5 * n)), np.float32
        ).reshape(n, 5)
        out[f"y_{split}"] = np.asarray(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), np.int64)
    return out


@st.composite
def _odd_data(draw):
    """Four arrays of generated shapes and dtypes (mostly near the model's (n, 5) → class ids)."""
    out = {}
    for name in ("X_train", "y_train", "X_val", "y_val"):
        n = draw(st.integers(min_value=0, max_value=5))
        if name.startswith("X"):
            shape = draw(st.one_of(st.just((n, 5)), _SHAPE))
        else:
            shape = draw(st.one_of(st.just((n,)), st.just((n, 3)), _SHAPE))
        dtype = draw(st.sampled_from(["float32", "float64", "int64", "bool", "complex64", "U3"]))
        fill = draw(st.sampled_from([0.0, 1.0, 2.5, 7.0, -1.0, float("nan"), float("inf")]))
        if dtype == "U3":
            array = np.full(shape, "a", dtype=dtype)
        else:
            with np.errstate(invalid="ignore"):
                array = np.full(shape, fill).astype(dtype)
        out[name] = array
    keys = draw(st.sets(st.sampled_from(list(out)), min_size=3, max_size=4))
    return {k: out[k] for k in sorted(keys)}


@SETTINGS
@given(
    data=st.one_of(_good_data(), _odd_data()),
    flags=_flags(["--latency-budget", "--dsp-budget", "--clock-period", "--rtol", "--epochs", "--batch-size",
                  "--scheduler", "--optimize", "--loss", "--device"]),
)
def test_optimize_exits_0_or_2_before_training(model_file, tmp_path_factory, capsys, monkeypatch, data, flags):
    import hls_opt.flow.run as flow_run

    reached_training = []

    def reached(*args, **kwargs):
        reached_training.append(True)
        raise _ReachedTraining

    monkeypatch.setattr(flow_run, "run_flow", reached)
    root = tmp_path_factory.mktemp("opt")
    np.savez(root / "data.npz", **data)
    argv = ["optimize", str(model_file), "--data", str(root / "data.npz"), "-o", str(root / "out"), "-q",
            *(f"{k}={v}" for k, v in flags.items())]
    code = _exit_code(argv)
    err = capsys.readouterr().err
    event(f"exit {code}" if code or not reached_training else "reached training")
    assert code in (0, 2), (argv, {k: (v.shape, v.dtype) for k, v in data.items()}, err)
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err
    assert not (root / "out").exists()  # nothing written before (or instead of) training
