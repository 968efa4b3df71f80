# Wenzhen — the front door. `make run` starts everything; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run stop test test-unit test-integration demo bench lint topology deadletters docs clean admin audit-verify \
	ledger-check

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)  ## start the whole system on embedded defaults (Ctrl-C stops)
	@PYTHONPATH=. $(PY) -m deploy.stack run

stop:  ## stop a stack started by `make run`
	@PYTHONPATH=. $(PY) -m deploy.stack stop

test: $(STAMP)  ## unit and integration tests (real RabbitMQ and SecantusDB)
	@PYTHONPATH=. $(PY) -m pytest

test-unit: $(STAMP)
	@PYTHONPATH=. $(PY) -m pytest tests/unit

demo: $(STAMP)  ## a scripted patient journey against the running system
	@PYTHONPATH=. $(PY) -m deploy.demo

bench: $(STAMP)  ## benchmarks with same-run baselines; writes bench/results/latest.json
	@PYTHONPATH=. $(PY) -m bench

lint: $(STAMP)  ## ruff, and the import boundaries (import-linter contracts in pyproject.toml)
	@$(VENV)/bin/ruff check .
	@PYTHONPATH=. $(VENV)/bin/lint-imports --no-cache

topology: $(STAMP)  ## declare exchanges and durable queues on AMQP_URI
	@PYTHONPATH=. $(PY) -m deploy.topology

deadletters: $(STAMP)  ## list parked events (replay: make deadletters ARGS="replay --all")
	@PYTHONPATH=. $(PY) -m wenzhen.deadletters $(or $(ARGS),list)

admin: $(STAMP)  ## create the first admin account of a running system (prints its activation code)
	@PYTHONPATH=. $(PY) -m deploy.admin $(ARGS)

audit-verify: $(STAMP)  ## walk every service's audit hash chain; report the first broken link
	@set -a; [ -f var/secrets.env ] && . var/secrets.env; set +a; PYTHONPATH=. $(PY) -m wenzhen.audit verify $(ARGS)

ledger-check: $(STAMP)  ## prove payments' ledger balances and agrees with the invoices; exit 1 naming the first discrepancy
	@PYTHONPATH=. $(PY) -m services.payments.ledger check $(ARGS)

docs: $(STAMP)  ## regenerate the events catalogue and schema snapshots
	@PYTHONPATH=. $(PY) -m deploy.catalogue

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
