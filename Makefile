# Everything a user or CI runs goes through these targets; see README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
MLWATCH := $(VENV)/bin/mlwatch
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)

# docker-compose's settings (POSTGRES_*), if the user made a .env from .env.example.
ifneq (,$(wildcard .env))
include .env
export $(shell sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' .env)
endif
export DBT_PROFILES_DIR := $(CURDIR)/profiles
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: help install demo load metrics show dashboard grafana-dashboard report grant-readonly docs readme dbt-build lint lint-python lint-sql lint-types test test-spark test-fast clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

# Compiled at install: every mlwatch command imports dbt and pandas, and where the environment forbids writing
# bytecode (PYTHONDONTWRITEBYTECODE) each process would otherwise compile thousands of modules (~5 s).
$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode
	@touch $@

install: $(VENV)/.installed ## Create .venv with the locked dependencies (uv)

demo: install ## Load, compute and print the daily metrics on the default warehouse (DuckDB)
	$(MAKE) --no-print-directory load metrics show

load: install ## Land the TLC months and zones, train the model, land its predictions
	$(MLWATCH) load

metrics: install ## Compute Evidently metrics for new daily batches and build the marts
	$(MLWATCH) metrics

show: install ## Print the daily metrics from the marts
	$(MLWATCH) show

dashboard: install ## Render the Grafana dashboard's panels into reports/dashboard.html (no Grafana needed)
	$(MLWATCH) dashboard --output reports/dashboard.html

grafana-dashboard: install ## Regenerate grafana/dashboards/model-monitoring.json (python/mlwatch/grafana_dashboard.py, grafana/panels/*.sql)
	$(VENV)/bin/python -m mlwatch.grafana_dashboard

report: install ## Evidently's HTML report and test results of one day into reports/: make report DATE=2021-02-15
	@test -n "$(DATE)" || { echo "usage: make report DATE=YYYY-MM-DD"; exit 1; }
	$(MLWATCH) report --date $(DATE) --output-dir reports

grant-readonly: install ## Postgres: let MLWATCH_READONLY_USER (Grafana, BI tools) SELECT the marts, nothing else
	$(MLWATCH) grant-readonly

docs: install ## Generate the dbt docs site (static, offline) under target/
	$(MLWATCH) dbt docs generate --static
	@echo "open $(CURDIR)/target/static_index.html"

readme: install ## Rewrite README.md's generated blocks (lineage diagram, layout) from the tree
	$(VENV)/bin/python docs/readme_sections.py

dbt-build: install ## dbt build (all models, seeds and tests) on the DBT_TARGET warehouse
	$(MLWATCH) dbt build

# The checkers run side by side (sqlfluff's dbt templater and mypy take about 20 s each); --output-sync keeps each
# one's output in one piece.
lint: install ## ruff, sqlfluff (models, grafana) and mypy (strict, on python/mlwatch)
	$(MAKE) --no-print-directory --jobs=3 --output-sync=target lint-python lint-sql lint-types

lint-python:
	$(VENV)/bin/ruff check python tests bench docs
	$(VENV)/bin/ruff format --check python tests bench docs

# sqlfluff takes grafana/.sqlfluff's templater (Grafana macros as placeholders) only when run from that folder.
lint-sql:
	DUCKDB_PATH=:memory: DBT_TARGET_PATH=$(CURDIR)/target/sqlfluff $(VENV)/bin/sqlfluff lint models
	cd grafana && $(CURDIR)/$(VENV)/bin/sqlfluff lint .

lint-types:
	$(VENV)/bin/mypy

test: lint ## Lint, then pytest (unit + the whole pipeline on DuckDB, Postgres and Spark, dbt build included)
	$(VENV)/bin/pytest

test-spark: install ## Only the Spark tests: parity with Evidently and every mart equal to DuckDB's (Java 17+)
	$(VENV)/bin/pytest -m spark

# Markers are declared in pyproject.toml; tests/conftest.py fails a test that lacks the ones it needs.
FAST_TESTS := (not integration and not postgres and not browser) or smoke

test-fast: install ## Unit tests and one DuckDB end-to-end build: no Postgres, no browser, no lint (about a minute)
	$(VENV)/bin/pytest -m "$(FAST_TESTS)"

.PHONY: bench-load
bench-load: install ## Loader peak memory and rows/s on 1M and 10M-trip months (Postgres; bench/results/load_memory.json)
	$(VENV)/bin/python bench/load_memory.py

.PHONY: bench
bench: install ## Benchmarks (not tests): month by engine, a year at scale (QUICK=1: a month), COPY vs to_sql
	$(VENV)/bin/python bench/month.py
	$(VENV)/bin/python bench/scale.py --targets duckdb postgres $(if $(QUICK),--quick)
	$(UV) run --no-sync --with 'sqlalchemy>=2' python bench/load_copy.py

clean: ## Remove the warehouse, trained models and dbt artifacts (not the data)
	rm -rf warehouse models/trained target logs reports
