# Two entry points: `make demo` (the main job on bundled data) and `make test`.
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

.PHONY: demo test venv lint clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,hls4ml,plots,tuner,qkeras]'
	$(BIN)/python -m pip install -q --no-deps '$(QKERAS)'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/hls-opt demo -o demo-output

test: $(STAMP)
	$(BIN)/python -m ruff check hls_opt passes backends tests benchmarks
	$(BIN)/python -m pytest -q tests

lint: $(STAMP)
	$(BIN)/python -m ruff check hls_opt passes backends tests benchmarks

clean:
	rm -rf $(VENV) demo-output
