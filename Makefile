# Two commands matter (see README): `make test` and `make run`.
PY := .venv/bin/python

.PHONY: test run setup test-core test-odoo lint bench wheels clean

test: setup lint
	$(PY) -m pytest
	$(PY) scripts/odoo_tests.py

run: setup
	$(PY) -m devstack run

setup:
	bash scripts/setup.sh
	bash scripts/setup_odoo.sh

test-core:
	$(PY) -m pytest

test-odoo:
	$(PY) scripts/odoo_tests.py

lint:
	$(PY) -m ruff check odoo_cloud devstack scripts tests bench */models */tests

bench:
	$(PY) -m bench

wheels:
	rm -rf dist && mkdir -p dist
	$(PY) -m pip wheel --no-deps -w dist .
	for addon in setup/*/; do $(PY) -m pip wheel --no-deps -w dist "$$addon" || exit 1; done

clean:
	rm -rf .devstack dist build .pytest_cache .ruff_cache
