# Two commands on a fresh machine: `make demo` and `make test` (each creates .venv when missing).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test lint typecheck check bench clean wheel constraints browser-random mutation

$(BIN)/voicemail: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	@touch $@

demo: $(BIN)/voicemail
	$(BIN)/voicemail demo --once

# Microsoft's EWS schema is not in the repository (its licence): the copy beside the checkout, if any.
EWS_SCHEMA ?= $(wildcard $(abspath ../shared/ews-schema))

# The telephone-menu tests spend most of their time waiting out real call timing (the lab's prompt
# lengths), the fault suite, the several-sites and the pipeline tests waiting for real processes to fail,
# recover or take their work, so they run in two more pytest processes beside the rest (the phone tests in
# one, the faults, sites and pipeline in the other), each on its own Redis database (the next two); their reports follow the
# main one, and any failing fails `make test`.
BESIDE = tests/faults tests/integration/sites tests/integration/pipeline
PHONE  = tests/integration/phone

test: $(BIN)/voicemail
	@export VOICEMAIL_EWS_SCHEMA="$${VOICEMAIL_EWS_SCHEMA:-$(EWS_SCHEMA)}"; \
	db=$${VOICEMAIL_TEST_REDIS_DB:-9}; beside_log=$$(mktemp); phone_log=$$(mktemp); \
	VOICEMAIL_TEST_REDIS_DB=$$(( db + 1 )) $(BIN)/pytest $(BESIDE) -p no:cacheprovider >"$$beside_log" 2>&1 & beside=$$!; \
	VOICEMAIL_TEST_REDIS_DB=$$(( db + 2 )) $(BIN)/pytest $(PHONE) -p no:cacheprovider >"$$phone_log" 2>&1 & phone=$$!; \
	trap 'kill $$beside $$phone 2>/dev/null; rm -f "$$beside_log" "$$phone_log"' INT TERM; \
	$(BIN)/pytest $(addprefix --ignore=,$(BESIDE) $(PHONE)); main=$$?; \
	wait $$beside; second=$$?; wait $$phone; third=$$?; \
	echo "=== $(BESIDE), run beside the rest ==="; cat "$$beside_log"; \
	echo "=== $(PHONE), run beside the rest ==="; cat "$$phone_log"; rm -f "$$beside_log" "$$phone_log"; \
	[ $$main -eq 0 ] && [ $$second -eq 0 ] && [ $$third -eq 0 ]

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
	VOICEMAIL_EWS_SCHEMA="$${VOICEMAIL_EWS_SCHEMA:-$(EWS_SCHEMA)}" $(BIN)/python bench/run_all.py

# The install artefact (deploy/README.md): the wheel in dist/, installed with deploy/constraints.txt.
wheel:
	$(PYTHON) -m pip wheel --no-deps . -w dist

# Re-pin deploy/constraints.txt from a clean virtualenv with only the runtime dependencies.
constraints:
	rm -rf build/constraints-venv
	$(PYTHON) -m venv build/constraints-venv
	build/constraints-venv/bin/pip install -q .
	{ sed -n '/^#/p' deploy/constraints.txt; build/constraints-venv/bin/pip freeze --exclude voicemail; } \
		> deploy/constraints.txt.new
	mv deploy/constraints.txt.new deploy/constraints.txt
	rm -rf build/constraints-venv

clean:
	rm -rf $(VENV) voicemail-demo .pytest_cache .mypy_cache .ruff_cache build dist
