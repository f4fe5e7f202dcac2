# Two commands on a fresh machine: `make demo` and `make test` (each creates .venv when missing).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test lint typecheck check bench clean browser-random mutation

$(BIN)/voicemail: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	@touch $@

demo: $(BIN)/voicemail
	$(BIN)/voicemail demo --once

test: $(BIN)/voicemail
	$(BIN)/pytest

lint: $(BIN)/voicemail
	$(BIN)/ruff check .

typecheck: $(BIN)/voicemail
	$(BIN)/mypy

check: lint typecheck test

# Mutation testing of the guarantee modules ([tool.mutmut] in pyproject.toml); slow, so not in `make test`
# or CI. MUTANTS='voicemail.audit.chain*' limits it to one module.
mutation: $(BIN)/voicemail
	$(BIN)/pip install -q "mutmut==3.8.1"
	VOICEMAIL_CAPTURES=$${VOICEMAIL_CAPTURES:-$(CURDIR)/../shared/asterisk-captures} \
		$(BIN)/mutmut run --max-children 2 $(MUTANTS)
	$(BIN)/mutmut results

# The browser tests in a shuffled order (each test sets up its own state); SEED=n repeats an order.
browser-random: $(BIN)/voicemail
	VOICEMAIL_BROWSER_ORDER=random$(if $(SEED),:$(SEED),) $(BIN)/pytest tests/browser -p no:cacheprovider -s

bench: $(BIN)/voicemail
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) voicemail-demo .pytest_cache .mypy_cache .ruff_cache
