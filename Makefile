# Two entry points: `make demo` (the main job on bundled data) and `make test` (TensorFlow);
# `make test-jax` / `make test-torch` run the trainer's core tests on the other Keras backends.
# Both create or refresh the local virtualenv .venv idempotently: the install step
# re-runs only when pyproject.toml or this Makefile changed since the last successful install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# QKeras for Keras 3 is installed without its declared dependencies: it lists the full tensorflow
# (a second copy of the tensorflow package beside tensorflow-cpu), tf_keras and
# tensorflow-model-optimization, none of which it imports; the [qkeras] extra holds what it does import.
QKERAS := qkeras-v3>=1.2.1,<2

JAX_STAMP := $(VENV)/.installed-jax
TORCH_STAMP := $(VENV)/.installed-torch
# The trainer's core tests (marker `backend`) on another Keras backend, after `make test`.
BACKEND_TESTS := -m "backend or needs_jax" tests

.PHONY: demo test test-jax test-torch test-hgq2 venv lint clean

# hls_opt/__init__.py holds the version the installed metadata reports (pyproject reads it)
$(STAMP): pyproject.toml Makefile hls_opt/__init__.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,hls4ml,plots,tuner,qkeras,quant,ray,dask]'
	$(BIN)/python -m pip install -q --no-deps '$(QKERAS)'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/hls-opt demo -o demo-output

test: $(STAMP)
	$(BIN)/python -m ruff check hls_opt passes backends tests benchmarks tools
	$(BIN)/python -m pytest -q -m "not needs_jax and not needs_hgq2" tests

# The jax extra (CPU wheels) on top of the venv; the backend tests with KERAS_BACKEND=jax.
$(JAX_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[jax]'
	touch $(JAX_STAMP)

test-jax: $(JAX_STAMP)
	KERAS_BACKEND=jax $(BIN)/python -m pytest -q $(BACKEND_TESTS)

# PyTorch's CPU-only wheel (PyPI's pulls several GB of CUDA libraries; PyPI if that index is
# unreachable); not run by .ci/run.
$(TORCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu \
		|| $(BIN)/python -m pip install -q torch
	$(BIN)/python -m pip install -q -e '.[torch]'
	touch $(TORCH_STAMP)

test-torch: $(TORCH_STAMP)
	KERAS_BACKEND=torch $(BIN)/python -m pytest -q -m "backend and not needs_jax" tests

# HGQ2 models in (tests/test_hgq2.py, marked needs_hgq2; only that file: the others import QKeras or hls4ml,
# which this venv lacks): hgq2 0.2.0 ships a top-level `qkeras` package that would
# replace QKeras-v3's, so it gets a venv of its own (no [qkeras] extra there); CI runs it after test-jax.
HGQ2_VENV := .venv-hgq2
HGQ2_STAMP := $(HGQ2_VENV)/.installed

$(HGQ2_STAMP): pyproject.toml Makefile
	test -x $(HGQ2_VENV)/bin/python || $(PYTHON) -m venv $(HGQ2_VENV)
	$(HGQ2_VENV)/bin/python -m pip install -q --upgrade pip
	$(HGQ2_VENV)/bin/python -m pip install -q -e '.[test,hgq2]'
	touch $(HGQ2_STAMP)

test-hgq2: $(HGQ2_STAMP)
	$(HGQ2_VENV)/bin/python -m pytest -q -m needs_hgq2 tests/test_hgq2.py

lint: $(STAMP)
	$(BIN)/python -m ruff check hls_opt passes backends tests benchmarks tools

clean:
	rm -rf $(VENV) $(HGQ2_VENV) demo-output
