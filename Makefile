# Nexora: the two commands of the README are `make run` and `make test`; `make install` is shared.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: install run test lint format bench-ledger bench-topups bench-scanner bench-privacy bench-aml clean

install: $(STAMP) $(NODE_STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

# anvil (local EVM node) and solcjs come from the npm registry, pinned in package-lock.json.
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "Node.js 20 with npm is needed"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# The demo: migrate, anvil + test USDT, demo users, scanner and web server; Ctrl-C stops it all.
run: install
	$(PY) manage.py demo_run --port $${PORT:-8000} --anvil-port $${ANVIL_PORT:-8545}

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(PY) manage.py makemigrations --check --dry-run

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench-ledger: install
	$(PY) bench/ledger.py

bench-topups: install
	$(PY) bench/topups.py

bench-scanner: install
	$(PY) bench/scanner.py

bench-privacy: install
	$(PY) bench/privacy.py

bench-aml: install
	$(PY) bench/aml.py

.PHONY: bench-metrics
bench-metrics: install
	$(PY) bench/metrics.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
