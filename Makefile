# Two commands matter (see README): `make test` and `make run`.
PY := .venv/bin/python
# Odoo series (18.0, 19.0). Empty: `make test`/`make test-odoo` run every series found, `make run` starts the
# newest found, `make wheels` builds both. E.g. `make run SERIES=18.0`, `make test-odoo SERIES=19.0`.
SERIES ?=
SERIES_OPT := $(if $(SERIES),--series $(SERIES))

.PHONY: test run setup test-core test-odoo lint readme bench wheels clean

test: setup lint
	$(PY) -m pytest
	$(PY) scripts/odoo_tests.py $(SERIES_OPT)

run: setup
	$(PY) -m devstack run $(SERIES_OPT)

comma := ,
setup:
	bash scripts/setup.sh
	bash scripts/setup_odoo.sh $(subst $(comma), ,$(SERIES))

test-core:
	$(PY) -m pytest

test-odoo:
	$(PY) scripts/odoo_tests.py $(SERIES_OPT)

# ruff, pylint-odoo (addons: OCA checks; core: SQL/commit checks) and the README.rst check, as listed in
# .pre-commit-config.yaml; `.venv/bin/pre-commit install` runs the same hooks at each commit
lint:
	$(PY) -m pre_commit run --all-files --show-diff-on-failure

# README.rst of every addon, from its readme/*.md (a test fails while one is stale)
readme:
	$(PY) scripts/gen_addon_readme.py

bench:
	$(PY) -m bench

# dist/odoo_cloud-*.whl (framework-free, every series) and dist/<series>/odoo_addon_*.whl pinning odoo <series>
wheels:
	$(PY) scripts/build_wheels.py $(SERIES_OPT)

clean:
	rm -rf .devstack dist build .pytest_cache .ruff_cache
