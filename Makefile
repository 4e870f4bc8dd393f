# Two entry points: `make demo` (the main job on bundled data) and `make test`.
# Both create or refresh the local virtualenv .venv idempotently: the install step
# re-runs only when pyproject.toml changed since the last successful install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,hls4ml,plots,tuner]'
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
