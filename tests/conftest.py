"""Shared fixtures, and the CI rule that nothing may be skipped.

No skips in CI: ``make test`` installs every extra (hls4ml, keras-tuner, matplotlib, scikit-learn), so a
test that skips there (``pytest.skip``, ``importorskip``, ``skipif``, at collection or at run time) hides
a broken environment or a broken test, e.g. the hls4ml cross-check silently not running.  When the
environment variable ``CI`` is set (``CI=true``; anything but empty, ``0``, ``false``, ``no``) or
``HLS_OPT_NO_SKIP=1`` (``.ci/run`` sets it), every skip is reported as a failure naming its reason.
An expected failure (``xfail``) is not a skip and stays what it is.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from hls_opt.config import LayerConfig, Strategy
from hls_opt.core.precision import parse_precision
from hls_opt.ir import nodes as ir
from hls_opt.ir.graph import Graph

pytest_plugins = ["pytester"]  # tests/test_conftest.py runs the no-skip rule on a throwaway suite

_OFF = {"", "0", "false", "no", "off"}


def skips_are_failures() -> bool:
    return (
        os.environ.get("CI", "").strip().lower() not in _OFF
        or os.environ.get("HLS_OPT_NO_SKIP", "").strip().lower() not in _OFF
    )


def _why(longrepr) -> str:
    # a skip's longrepr is (path, line, "Skipped: reason")
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        path, line, reason = longrepr
        return f"{reason} ({path}:{line + 1 if isinstance(line, int) else line})"
    return str(longrepr)


def _as_failure(report) -> None:
    report.outcome = "failed"
    report.longrepr = (
        f"{_why(report.longrepr)}: skipped, and skips are failures under CI / HLS_OPT_NO_SKIP "
        f"(every extra is installed there)"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and skips_are_failures():
        _as_failure(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    # a module-level importorskip skips the whole file at collection
    outcome = yield
    report = outcome.get_result()
    if report.skipped and skips_are_failures():
        _as_failure(report)


def pytest_sessionfinish(session, exitstatus):
    # Belt and braces: a skip that reached the summary by another path still fails the run.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped and skips_are_failures() and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --------------------------------------------------------------------------------------------------
# hand-built IR graphs (tests/test_passes.py, tests/test_flow.py)

P16 = parse_precision("ap_fixed<16,6>")


def _layer_config(rf: int = 1, strategy: Strategy = Strategy.LATENCY) -> LayerConfig:
    return LayerConfig(weight=P16, bias=P16, result=P16, accum=P16, reuse_factor=rf, strategy=strategy)


def _dense_graph(
    n_in: int = 16, n_out: int = 8, rf: int = 4, strategy: Strategy = Strategy.RESOURCE, seed: int = 0
) -> Graph:
    """Input(n_in) → Dense 'fc' (n_in→n_out) → Dense 'out' (n_out→4), all weights non-zero; 'out' takes
    ``rf`` when it fits its n_out inputs, else 1."""
    rng = np.random.default_rng(seed)
    g = Graph("hand")
    g.add(ir.Input("in", output_shape=(n_in,)))
    k1 = rng.uniform(0.1, 1.0, size=(n_in, n_out)).astype(np.float32)
    k2 = rng.uniform(0.1, 1.0, size=(n_out, 4)).astype(np.float32)
    g.add(
        ir.Dense(
            "fc",
            inputs=["in"],
            input_shapes=[(n_in,)],
            output_shape=(n_out,),
            weights={"kernel": k1, "bias": np.zeros(n_out, np.float32)},
            config=_layer_config(rf, strategy),
            units=n_out,
        )
    )
    g.add(
        ir.Dense(
            "out",
            inputs=["fc"],
            input_shapes=[(n_out,)],
            output_shape=(4,),
            weights={"kernel": k2, "bias": np.zeros(4, np.float32)},
            config=_layer_config(rf if rf <= n_out else 1, strategy),
            units=4,
        )
    )
    g.inputs, g.outputs = ["in"], ["out"]
    return g


@pytest.fixture
def layer_config():
    """``layer_config(rf=1, strategy=Latency)``: a LayerConfig with ap_fixed<16,6> everywhere."""
    return _layer_config


@pytest.fixture
def dense_graph():
    """``dense_graph(n_in=16, n_out=8, rf=4, strategy=Resource, seed=0)``: a fresh two-Dense graph."""
    return _dense_graph
