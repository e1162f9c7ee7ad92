# Two commands do all set-up: `make test` and `make demo`. Both create .venv/ when it is missing.
#
# Every venv is installed from a lock in requirements/ (exact versions with their sha256 hashes, pip
# --require-hashes; see README "Dependencies"), then the project itself with --no-deps. A changed lock
# rebuilds the venv from scratch, so it holds exactly the lock: nothing left over from the last one.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
LOCKS := requirements

.PHONY: test test-pyairbyte test-latest demo bench venv lock clean

venv: $(STAMP)

# $(1): the venv, $(2): its lock. pip installs the lock first (it pins pip, setuptools and wheel too) with
# --no-deps: the lock is the whole set, and pip's resolver takes a transitive requirement with extras
# (google-api-core[grpc] in PyAirbyte's) for an unpinned one under --require-hashes. Then the project with
# the locked setuptools (build isolation would fetch the newest), and `pip check`: the set is complete.
define install_locked
	rm -rf $(1)
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install -q --require-hashes --no-deps -r $(2)
	$(1)/bin/python -m pip install -q --no-deps --no-build-isolation -e .
	$(1)/bin/python -m pip check
endef

$(STAMP): $(LOCKS)/test.txt pyproject.toml
	$(call install_locked,$(VENV),$(LOCKS)/test.txt)
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

# PyAirbyte pins older versions of packages the connector and its tests use (python-ulid < 4, cryptography
# < 47, via airbyte-cdk): installed into .venv it would move them, so it gets a venv and a lock of its own,
# where the connector runs with PyAirbyte's versions (`make test` covers the test lock's).
PA_VENV := .venv-pyairbyte
PA_STAMP := $(PA_VENV)/.installed

$(PA_STAMP): $(LOCKS)/pyairbyte.txt pyproject.toml
	$(call install_locked,$(PA_VENV),$(LOCKS)/pyairbyte.txt)
	touch $(PA_STAMP)

# PYAIRBYTE_REQUIRED turns a missing PyAirbyte into a failure instead of a skip; test_lock.py checks that
# this venv holds exactly its lock.
test-pyairbyte: $(PA_STAMP)
	$(PA_VENV)/bin/python -m pytest -q tests/unit/test_lock.py
	PYAIRBYTE_REQUIRED=1 $(PA_VENV)/bin/python -m pytest -q -m pyairbyte tests/pyairbyte

# The bench extra (matplotlib, the official customerio client, py-spy) is installed for `make bench` only:
# its lock is the test lock plus the bench extra, at the test lock's versions.
$(BENCH_STAMP): $(STAMP) $(LOCKS)/bench.txt
	$(BIN)/python -m pip install -q --require-hashes --no-deps -r $(LOCKS)/bench.txt
	$(BIN)/python -m pip check
	touch $(BENCH_STAMP)

# QUICK=1: 100k records only (a few minutes); BENCH_SIZES=... and BENCH_WORKLOADS=... pick runs; the
# "segments" workload measures issue 26's features on against off (bench/feature_bench.py); the
# "release" workload builds the previous release (bench/releases.json; BENCH_AGAINST=0.1.2 picks one) in a
# venv of its own and runs it alternated with this checkout (bench/vs_release.py).
bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py $(if $(QUICK),--quick,)

# The suite against the newest versions pyproject's ranges allow (no lock), in a venv of its own: how the
# next upstream break is seen before a lock refresh brings it in. Not part of CI. Rebuilt on every run.
LATEST_VENV := .venv-latest

test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install -q --upgrade pip setuptools wheel
	$(LATEST_VENV)/bin/python -m pip install -q --upgrade --upgrade-strategy eager -e '.[test]'
	$(LATEST_VENV)/bin/python -m pip freeze --exclude-editable > $(LATEST_VENV)/freeze.txt
	UNLOCKED_VENV=1 $(LATEST_VENV)/bin/python -m pytest -q -p no:cacheprovider

# `make lock` brings the locks in line with pyproject.toml: a new or changed requirement is resolved, and
# every other package keeps its locked version. `make lock UPGRADE=1` moves every package to the newest
# version the ranges allow. Both run uv (pinned, by hash, in .venv-tools/) for CPython 3.11 on x86-64
# Linux (manylinux_2_28): CI's interpreter and the Docker base image's.
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed
UV := $(TOOLS_VENV)/bin/uv
COMPILE := $(UV) pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade,)

$(TOOLS_STAMP): $(LOCKS)/tools.txt
	rm -rf $(TOOLS_VENV)
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install -q --require-hashes -r $(LOCKS)/tools.txt
	touch $(TOOLS_STAMP)

# $(1): the lock file, $(2): uv's inputs. uv keeps the versions of the file it writes to, so it writes to a
# copy; an unchanged lock keeps its mtime, and the venvs built from it are not rebuilt.
define compile_lock
	cp $(1) $(1).new 2>/dev/null || true
	$(COMPILE) $(2) -o $(1).new
	if cmp -s $(1).new $(1); then rm $(1).new; else mv $(1).new $(1); fi
endef

lock: $(TOOLS_STAMP)
	$(call compile_lock,$(LOCKS)/test.txt,pyproject.toml $(LOCKS)/build.in --extra test)
	$(call compile_lock,$(LOCKS)/runtime.txt,pyproject.toml $(LOCKS)/build.in -c $(LOCKS)/test.txt)
	$(call compile_lock,$(LOCKS)/bench.txt,pyproject.toml $(LOCKS)/build.in --extra test --extra bench \
		-c $(LOCKS)/test.txt)
	$(call compile_lock,$(LOCKS)/pyairbyte.txt,pyproject.toml $(LOCKS)/build.in --extra test --extra pyairbyte)
	$(call compile_lock,$(LOCKS)/tools.txt,$(LOCKS)/tools.in)

clean:
	rm -rf $(VENV) $(PA_VENV) $(LATEST_VENV) $(TOOLS_VENV) build *.egg-info src/*.egg-info
