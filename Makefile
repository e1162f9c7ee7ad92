# Two commands do all set-up: `make test` and `make demo`. Both create .venv/ when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: test test-pyairbyte demo bench venv clean

venv: $(STAMP)

# Reinstall only when the project's dependency list changes; the package itself is installed editable.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

# PyAirbyte pins older versions of packages the connector and its tests use (python-ulid < 4, cryptography
# < 47, via airbyte-cdk): installed into .venv it would move them, so it gets a venv of its own, where the
# connector runs with PyAirbyte's versions (`make test` covers the newest ones).
PA_VENV := .venv-pyairbyte
PA_STAMP := $(PA_VENV)/.installed

$(PA_STAMP): pyproject.toml
	test -x $(PA_VENV)/bin/python || $(PYTHON) -m venv $(PA_VENV)
	$(PA_VENV)/bin/python -m pip install -q --upgrade pip
	$(PA_VENV)/bin/python -m pip install -q -e '.[test,pyairbyte]'
	touch $(PA_STAMP)

# PYAIRBYTE_REQUIRED turns a missing PyAirbyte into a failure instead of a skip.
test-pyairbyte: $(PA_STAMP)
	PYAIRBYTE_REQUIRED=1 $(PA_VENV)/bin/python -m pytest -q -m pyairbyte tests/pyairbyte

# The bench extra (matplotlib, the official customerio client, py-spy) is installed for `make bench` only.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	touch $(BENCH_STAMP)

# QUICK=1: 100k records only (a few minutes); BENCH_SIZES=... and BENCH_WORKLOADS=... pick runs; the
# "release" workload builds the previous release (bench/releases.json; BENCH_AGAINST=0.1.2 picks one) in a
# venv of its own and runs it alternated with this checkout (bench/vs_release.py).
bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) $(PA_VENV) build *.egg-info src/*.egg-info
