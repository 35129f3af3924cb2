# Two commands matter: `make run` (demo on SQLite) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test systemtest install install-dev lint typecheck imports pytest js js-check js-lint js-test bench clean translations translations-compile

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --config-settings editable_mode=compat -e .
	touch $@

$(DEV_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --config-settings editable_mode=compat -e '.[dev]'
	touch $(STAMP) $@

install: $(STAMP)
install-dev: $(DEV_STAMP)

run: $(STAMP)
	GASTREGISTER_ENV=demo $(BIN)/gastregister db upgrade
	GASTREGISTER_ENV=demo $(BIN)/gastregister demo seed
	GASTREGISTER_ENV=demo $(BIN)/gastregister serve-demo

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV_STAMP)
	$(BIN)/mypy --strict -p gastregister -p registration -p crypto -p health_export

# The direction of dependencies between the packages (pyproject.toml, [tool.importlinter];
# docs/ARCHITECTURE.md, "Packages").
imports: $(DEV_STAMP)
	$(BIN)/lint-imports --no-cache --no-logo

# axe-core (accessibility checks in the browser tests) comes from the npm lock file.
tests/browser/axe/node_modules/axe-core/axe.min.js: tests/browser/axe/package-lock.json
	if command -v npm >/dev/null; then npm ci --silent --prefix tests/browser/axe; fi

pytest: $(DEV_STAMP) tests/browser/axe/node_modules/axe-core/axe.min.js
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# ESLint (recommended rules, browser globals, ES modules) from js/lint/package-lock.json,
# on the browser modules and their tests; no finding and no warning passes.
JS_LINT_STAMP := js/lint/node_modules/.installed
$(JS_LINT_STAMP): js/lint/package-lock.json
	npm ci --silent --no-audit --no-fund --prefix js/lint
	touch $@

js-lint: $(JS_LINT_STAMP)
	js/lint/node_modules/.bin/eslint --config js/lint/eslint.config.js --max-warnings 0 \
		registration/static/js tests/js js/lint/eslint.config.js

# Unit tests of the browser modules on Node's built-in runner, against fixtures that
# tests/js/make_fixtures.py writes from the Python rules (README.md, "Development").
js-test:
	node --test --test-reporter=spec tests/js/*.test.mjs

test: lint typecheck imports js-lint js-test pytest

# The service as deployed (needs root, nginx, PostgreSQL's server, Redis, Chromium;
# .ci/run installs them): docs/OPERATIONS.md, "What CI runs".
systemtest: $(DEV_STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider systemtest $(PYTEST_ARGS)

# The browser bundle of @hpke/core, built reproducibly from js/package-lock.json.
js:
	bash js/build.sh

# Rebuilds the bundle and fails if it differs from the committed file.
js-check:
	bash js/build.sh --check

bench: $(DEV_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance/*.db .pytest_cache .mypy_cache .ruff_cache

# Each package folder with a translations/ folder owns its own catalog. After adding
# texts: `make translations`, translate the new entries in its de/LC_MESSAGES/messages.po,
# then `make translations-compile`.
translations: $(DEV_STAMP)
	$(BIN)/python tools/translations.py update

translations-compile: $(DEV_STAMP)
	$(BIN)/python tools/translations.py compile
