# Two commands do all set-up: `make test` and `make demo`. Both create .venv/ when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: test demo bench venv clean

venv: $(STAMP)

# Reinstall only when the project's dependency list or the C accelerator (setup.py, _ids.c) changes; the
# package itself is installed editable, its compiled _ids module built in place under src/.
$(STAMP): pyproject.toml setup.py src/destination_customer_io/_ids.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

# The bench extra (matplotlib, the official customerio client, py-spy) is installed for `make bench` only.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	touch $(BENCH_STAMP)

# QUICK=1: 100k records only (a few minutes); BENCH_SIZES=... and BENCH_WORKLOADS=... pick runs.
bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info src/destination_customer_io/*.so
