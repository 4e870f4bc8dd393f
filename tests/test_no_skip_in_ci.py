"""The CI rule of tests/conftest.py: under ``CI`` or ``HLS_OPT_NO_SKIP`` a skip is a failure naming its
reason (``.ci/run`` relies on it so that the hls4ml tests cannot silently not run)."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")

SUITE = """
import pytest

def test_runs():
    pass

def test_skips_at_run_time():
    pytest.skip("no widget here")

@pytest.mark.skipif(True, reason="marked away")
def test_skipif():
    pass

@pytest.mark.xfail(reason="known bug", strict=True)
def test_expected_failure():
    assert False
"""

SKIPPED_MODULE = """
import pytest
pytest.importorskip("a_module_that_is_not_installed_anywhere", reason="the extra is absent")

def test_never_collected():
    pass
"""


@pytest.fixture
def suite(pytester, monkeypatch):
    for name in ("CI", "HLS_OPT_NO_SKIP"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(test_suite=SUITE)
    return pytester


def test_skips_are_skips_outside_ci(suite):
    result = suite.runpytest_subprocess("-ra")
    result.assert_outcomes(passed=1, skipped=2, xfailed=1)
    assert result.ret == 0


@pytest.mark.parametrize("name,value", [("CI", "true"), ("HLS_OPT_NO_SKIP", "1")])
def test_skips_fail_under_ci_and_name_their_reason(suite, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    result = suite.runpytest_subprocess("-ra")
    # a skip at setup (skipif) is reported as an error, one at run time as a failure
    result.assert_outcomes(passed=1, failed=1, errors=1, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*marked away*skips are failures under CI*",
            "*no widget here*skips are failures under CI*",
            "ERROR*test_skipif*marked away*",
            "FAILED*test_skips_at_run_time*no widget here*",
        ]
    )


def test_a_ci_variable_that_says_no_is_off(suite, monkeypatch):
    monkeypatch.setenv("CI", "false")
    result = suite.runpytest_subprocess()
    result.assert_outcomes(passed=1, skipped=2, xfailed=1)


def test_a_module_skipped_at_collection_fails_under_ci(suite, monkeypatch):
    suite.makepyfile(test_extra=SKIPPED_MODULE)
    monkeypatch.setenv("HLS_OPT_NO_SKIP", "1")
    result = suite.runpytest_subprocess("-ra", "test_extra.py")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*the extra is absent*skips are failures under CI*"])
    monkeypatch.delenv("HLS_OPT_NO_SKIP")
    result = suite.runpytest_subprocess("-ra", "test_extra.py")
    result.assert_outcomes(skipped=1)
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
