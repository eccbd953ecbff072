# Strata: `make demo` (embedded weights), `make test`, `make demo-train` (full recipe from scratch).
SHELL := /bin/bash
PYTHON ?= python3.11
STRATA_CACHE ?= $(HOME)/.cache/strata
LOCK := requirements.lock
LOCK_HASH := $(shell sha256sum $(LOCK) | cut -c1-16)
VENV := $(STRATA_CACHE)/venv-$(LOCK_HASH)
PY := $(VENV)/bin/python

export TORCH_EXTENSIONS_DIR ?= $(STRATA_CACHE)/torch_extensions
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MPLBACKEND := Agg
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup test demo demo-train bench clean-venv

## setup: create (or reuse) the cached virtual environment for this lock file, install Strata editable
setup: $(VENV)/.complete
	@$(PY) -m pip install -q --no-deps --no-build-isolation --config-settings editable_mode=compat -e . >/dev/null
	@ln -sfn $(VENV) .venv
	@echo "environment ready: $(VENV) (linked as .venv)"

# The folder name carries the lock's hash, so an existing complete venv is always current: no mtime check
# (a fresh clone's lock file is newer than the cached venv, which must not trigger a rebuild).
$(VENV)/.complete:
	@rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip==26.3 setuptools==84.2.1 wheel==0.48.0
	$(PY) -m pip install -q --no-deps -r $(LOCK)
	@touch $@

## test: the test suite (fails when no test is collected)
test: setup
	$(PY) -m pytest tests

## demo: generate from the embedded default weights and write runs/demo/REPORT.md
demo: setup
	$(VENV)/bin/strata demo --run demo

## demo-train: the whole recipe from scratch on CPU (resumable; re-run to continue)
demo-train: setup
	$(VENV)/bin/strata demo-train --run demo-train

## bench: every registered benchmark, written to bench.json
bench: setup
	$(VENV)/bin/strata bench --out bench.json

clean-venv:
	rm -rf $(VENV) .venv
