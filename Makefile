# Two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
RASA_VENV := .venv-rasa
BIN := $(VENV)/bin
RASA := PYTHONPATH=$(CURDIR) TF_CPP_MIN_LOG_LEVEL=2 RASA_TELEMETRY_ENABLED=false $(RASA_VENV)/bin/rasa
MODEL := models/health-desk.tar.gz
BOT_SOURCES := config.yml $(shell find bot/domain bot/data bot/components -type f \( -name '*.yml' -o -name '*.py' \) 2>/dev/null)
DEMO_CUSTOMERS ?= 2000
# The browser tests drive Debian's Chromium; nothing downloads a browser of its own.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export RASA_TELEMETRY_ENABLED := false

.PHONY: help setup train run test test-core bot-checks test-stack test-training lint nlu-report bench clean

help:
	@echo "make run    set up, train, seed demo data and start everything (http://127.0.0.1:8000)"
	@echo "make test   set up, train and run the tests (make -j3 test: train while testing)"
	@echo "make setup | train | lint | test-training | nlu-report | bench | clean"

## Environments -------------------------------------------------------------------

setup: $(VENV)/.installed $(RASA_VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || \
	  { echo "error: the app needs Python 3.11 or newer as '$(PYTHON)' (make PYTHON=/path/to/python3.11)" >&2; exit 1; }
	@echo "==> app environment ($(VENV))"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@# JioNLP unpacks its dictionaries on first import; do it now, not in the action server.
	$(BIN)/python -c 'import jionlp' >/dev/null
	@touch $@

$(RASA_VENV)/.installed: requirements-rasa.txt
	@echo "==> Rasa environment ($(RASA_VENV), Python 3.10; takes a minute or two)"
	@PY310="$$(scripts/python310)" && "$$PY310" -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-rasa.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	@echo "==> front-end packages (npm)"
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## The bot --------------------------------------------------------------------------

# Retrains only when the config, domain, data or custom components changed.
train: $(MODEL)

$(MODEL): $(RASA_VENV)/.installed $(BOT_SOURCES)
	@echo "==> training the Rasa model (zh + en)"
	$(RASA) train --config config.yml --domain bot/domain --data bot/data --out models \
	  --fixed-model-name health-desk
	@touch $@

## Running ------------------------------------------------------------------------

run: setup $(MODEL)
	@echo "==> demo data"
	$(BIN)/python -m web.demo --if-empty --customers $(DEMO_CUSTOMERS)
	@echo "==> starting Rasa (127.0.0.1:5005), actions (127.0.0.1:5055) and the console (:8000); Ctrl-C stops all"
	@# Rasa's HTTP API (what the bot understood, shown to agents) needs a token; one per run.
	DEMO_MODE=true RASA_TOKEN=$${RASA_TOKEN:-$$($(BIN)/python -c 'import secrets; print(secrets.token_hex(16))')} \
	  $(BIN)/honcho start -f Procfile

## Quality --------------------------------------------------------------------------

$(CHROMIUM):
	@echo "==> headless Chromium and CJK fonts from Debian (for the browser tests)"
	$(SUDO) apt-get update -q
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	  chromium fonts-noto-cjk

# The model first, so that under `make -j3` (as CI runs it) it trains while the lint
# and the in-process tests run; the bot's checks and the tests of the whole stack
# start as soon as it is trained, beside whatever in-process tests are left.
test: $(MODEL) lint test-core bot-checks test-stack

# Everything that needs no trained model: store, actions, parsers, the core, the
# channels and the console in-process, PostgreSQL and Redis. One worker per core,
# a test file per worker at a time (each file's fixtures stay in one process), at a
# lower priority: under `make -j3 test` they take what the training, the bot's
# checks and the stack tests leave, and those are the longer road.
test-core: setup
	@echo "==> tests that need no trained model"
	nice -n 10 $(BIN)/pytest -ra -m "not stack" -n auto --dist loadfile

bot-checks: $(MODEL)
	$(RASA) data validate --config config.yml --domain bot/domain --data bot/data --fail-on-warnings
	@echo "==> Rasa test stories, both languages (intents and next actions must all be right)"
	$(RASA) test core --model $(MODEL) --stories bot/tests --fail-on-prediction-errors \
	  --out reports/stories

# The real Rasa, action server and console as processes, and a real browser.
test-stack: $(MODEL) $(CHROMIUM)
	@echo "==> tests of the whole stack"
	$(BIN)/pytest -ra -m "stack and not training"

# Real fine-tunes of the bot's model, scored with Rasa's parser, and the trainer's
# whole loop in the browser (inbox, fine-tune, evaluation, deploy, rollback): minutes
# of CPU, so apart from `make test` (whose job tests run a stand-in for `rasa train`).
test-training: $(MODEL) $(CHROMIUM)
	@echo "==> real trainings from the workbench"
	$(BIN)/pytest -ra -m training

# The house rules: layering (import-linter contracts in pyproject.toml), style, types.
lint: setup
	@echo "==> lint: import contracts, ruff, mypy"
	$(BIN)/lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

nlu-report: setup $(MODEL)
	@echo "==> 5-fold cross-validation on the training data"
	$(RASA) test nlu --config config.yml --nlu bot/data/nlu --cross-validation --folds 5 \
	  --out reports/nlu
	@echo "==> the trained model on the held-out utterances (bot/tests/nlu_holdout.yml)"
	$(RASA) test nlu --model $(MODEL) --nlu bot/tests/nlu_holdout.yml --out reports/holdout
	$(BIN)/python scripts/nlu_summary.py reports/nlu reports/holdout

bench: setup $(MODEL)
	$(BIN)/python bench/turn_latency.py

clean:
	rm -rf models/*.tar.gz reports .pytest_cache
