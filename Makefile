# The two commands of the README: `make demo` and `make test` (lint, then the whole suite). Each
# creates the virtualenv in .venv/ by itself on first use. `make test-fast` for quick rounds.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo lint test test-fast bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/wfm demo

# ruff, mypy (strict on the wfm core, see pyproject.toml) and the import-direction test; zero findings
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_import_direction.py

# the whole suite, after lint (CI runs this: .ci/run)
test: lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

# the tests not marked slow or live (tests/conftest.py marks them): under two minutes
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow and not live"

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) data tests/artifacts
