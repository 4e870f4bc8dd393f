"""Importing hls-opt is cheap and leaves TensorFlow alone.

hls4ml's optimizer imports TensorFlow at package import and switched TensorFlow to eager
execution for the whole process (hls4ml issue #1092), which broke unrelated tests of its users.
Each check runs in a fresh interpreter so that other tests' imports cannot hide a regression.
"""

import subprocess
import sys

import pytest

# Modules that must be usable without TensorFlow: the knapsack, schedulers, config, structures,
# resource models and estimators (what `hls-opt estimate` and a custom estimator need).
LIGHT_MODULES = [
    "hls_opt",
    "hls_opt._lazy",
    "hls_opt.errors",
    "hls_opt.core.precision",
    "hls_opt.config",
    "hls_opt.core.fileio",
    "hls_opt.core.structures",
    "hls_opt.solve.knapsack",
    "hls_opt.solve.rf_dp",
    "hls_opt.solve.rf_problem",
    "hls_opt.train.schedulers",
    "hls_opt.cost",
    "hls_opt.cost.tables",
    "hls_opt.ir.reduce",
    "hls_opt.objectives",
    "hls_opt.objectives.vivado_objectives",
    "hls_opt.objectives.gpu_objectives",
    "hls_opt.ir",
    "hls_opt.passes",
    "hls_opt.backends.vivado",
    "hls_opt.backends.gpu",
    "hls_opt.train.utils",
]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_module_imports_without_tensorflow_or_keras(module):
    proc = _run(
        f"import sys, importlib; importlib.import_module({module!r}); "
        "heavy = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules); "
        "print(','.join(heavy))"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"importing {module} pulled in {proc.stdout.strip()}"


def test_importing_the_trainer_does_not_change_tensorflow_global_state():
    # Compare TensorFlow's and Keras' global switches before and after importing every
    # TensorFlow-facing module of hls-opt.
    code = (
        "import tensorflow as tf, keras\n"
        "def state():\n"
        "    return (tf.config.functions_run_eagerly(), keras.config.floatx(),\n"
        "            keras.config.image_data_format(), keras.config.dtype_policy().name,\n"
        "            tf.executing_eagerly())\n"
        "before = state()\n"
        "import hls_opt.keras, hls_opt.train.engine, hls_opt.train.masking, hls_opt.frontend.keras\n"
        "import hls_opt.emit.keras_model, hls_opt.flow.run, hls_opt.cli, hls_opt.attributes\n"
        "after = state()\n"
        "assert before == after, (before, after)\n"
        "print('ok')\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("ok")
