# The two commands of the README: `make demo` and `make test` (lint, then the whole suite). Each
# creates the virtualenv in .venv/ by itself on first use. `make test-fast` for quick rounds.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo lint test test-fast bench interop clean

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

# The interop lab (not in CI): builds Asterisk 22 from the source tree you point at, into a prefix outside
# this repository (reused when already built), then runs tests/interop/ against it and a real `wfm serve`.
#   make interop ASTERISK_SRC=/path/to/asterisk-22.10.1 [ASTERISK_PREFIX=/path/to/prefix] [INTEROP_RECORD=1]
# INTEROP_RECORD=1 keeps each scenario's AMI capture and events in tests/data/captures/asterisk22/.
ASTERISK_PREFIX ?= $(if $(ASTERISK_SRC),$(abspath $(ASTERISK_SRC))-install)
interop: $(STAMP)
	@test -n "$(ASTERISK_SRC)" || { echo "make interop: give ASTERISK_SRC=/path/to/an/asterisk-22 source tree" >&2; exit 2; }
	tests/interop/build_asterisk.sh "$(ASTERISK_SRC)" "$(ASTERISK_PREFIX)"
	ASTERISK_PREFIX="$(ASTERISK_PREFIX)" INTEROP_RECORD="$(INTEROP_RECORD)" \
		$(BIN)/python -m pytest -v -p no:cacheprovider tests/interop

clean:
	rm -rf $(VENV) data tests/artifacts
