# Two commands on a fresh machine: `make demo` and `make test` (each creates .venv when missing).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test lint typecheck check bench clean

$(BIN)/voicemail: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	@touch $@

demo: $(BIN)/voicemail
	$(BIN)/voicemail demo --once

# Microsoft's EWS schema is not in the repository (its licence): the copy beside the checkout, if any.
EWS_SCHEMA ?= $(wildcard $(abspath ../shared/ews-schema))

test: $(BIN)/voicemail
	VOICEMAIL_EWS_SCHEMA="$${VOICEMAIL_EWS_SCHEMA:-$(EWS_SCHEMA)}" $(BIN)/pytest

lint: $(BIN)/voicemail
	$(BIN)/ruff check .

typecheck: $(BIN)/voicemail
	$(BIN)/mypy

check: lint typecheck test

bench: $(BIN)/voicemail
	VOICEMAIL_EWS_SCHEMA="$${VOICEMAIL_EWS_SCHEMA:-$(EWS_SCHEMA)}" $(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) voicemail-demo .pytest_cache .mypy_cache .ruff_cache
