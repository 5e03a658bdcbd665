# Every target installs what it needs: a machine with Python 3.11+ and make is enough.
PYTHON ?= python3
# uv from the PATH, else a copy of our own in .tools (see the uv target).
TOOLS := .tools
UV := $(or $(shell command -v uv 2>/dev/null),$(TOOLS)/bin/uv)
# uv works in .venv whatever virtualenv the shell has activated; it need not say so each time.
unexport VIRTUAL_ENV

.DEFAULT_GOAL := help
.PHONY: help run test lint fmt typecheck migrate bench sync uv

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

uv: $(UV) ## Install uv into .tools, unless it is on the PATH
	@:

# pip --target writes into a plain folder, which every Python lets it do: an activated
# virtualenv (which refuses --user), Debian's own Python (externally managed, PEP 668), pyenv.
# Without pip, uv's standalone installer, told to touch nothing outside .tools.
$(TOOLS)/bin/uv:
	@echo "Installing uv into $(TOOLS) (once: uv is not on the PATH)"
	@mkdir -p $(TOOLS) && echo '*' > $(TOOLS)/.gitignore
	@if $(PYTHON) -m pip --version >/dev/null 2>&1; then \
		PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_WARN_SCRIPT_LOCATION=1 \
			$(PYTHON) -m pip install --quiet --upgrade --target $(TOOLS) uv; \
	else \
		curl -LsSf https://astral.sh/uv/install.sh \
			| UV_UNMANAGED_INSTALL=$(TOOLS)/bin sh -s -- --quiet; \
	fi
	@$@ --version

# Bytecode compiled once at install: every server and command the tests start then imports
# fast, also where PYTHONDONTWRITEBYTECODE keeps Python from writing it.
sync: uv
	@$(UV) sync --locked --quiet --compile-bytecode

run: sync ## Serve on http://127.0.0.1:8000 with SQLite and ./data (no other server needed)
	@echo "Keys, backups, checks: .venv/bin/filewallball --help (from another terminal, in this folder)"
	@.venv/bin/filewallball serve

# The API suite runs a second time on S3 (a moto server the tests start), on SQLite only: the
# database makes no difference to where the bytes go. Left out: the tests of what never holds
# a file's bytes (settings, migrations, logs, the cache and Redis, SQLite's writers, the docs
# pages, the alert rules, the deployment files, the serving process, the first start on the
# embedded defaults), the storage contract and the replicas, which run on S3 in the first
# pass already, and the real tus clients, run on S3 below.
S3_SUITE := tests/files tests/backup tests/resumable/test_protocol.py tests/images tests/admin \
	tests/access tests/tags tests/stats tests/categories tests/web tests/test_crash.py \
	tests/test_health.py tests/test_errors.py tests/test_server.py tests/test_metrics.py \
	tests/test_hosts.py tests/test_direct_routes.py tests/test_contract.py

# Tests run in TEST_WORKERS processes (pytest-xdist), each with a database and a Redis db of
# its own: most of them wait on servers, sockets and disks, so three keep two cores busy.
TEST_WORKERS ?= 3

test: lint typecheck ## Lint, type-check and run the whole test suite (then the API on S3)
	$(UV) run pytest -n $(TEST_WORKERS)
	FWB_TEST_STORAGE=s3 FWB_TEST_BACKENDS=sqlite $(UV) run pytest -q -n $(TEST_WORKERS) $(S3_SUITE)
	FWB_TEST_STORAGE=s3 $(UV) run pytest -q -n 2 tests/resumable/test_clients.py  # both databases

lint: sync ## ruff check and format check
	$(UV) run ruff check src tests bench
	$(UV) run ruff format --check src tests bench

fmt: sync ## Format and fix what ruff can
	$(UV) run ruff format src tests bench
	$(UV) run ruff check --fix src tests bench

typecheck: sync ## mypy --strict
	$(UV) run mypy

migrate: sync ## Bring the database (FWB_DATABASE_URL) to the latest schema
	$(UV) run filewallball migrate

bench: sync ## Benchmarks: ratios against references measured in the same run (bench/README.md)
	$(UV) run python bench/suite.py
	$(UV) run python bench/server_choice.py
	$(UV) run python bench/s3_clients.py
	$(UV) run python bench/health_under_load.py
	$(UV) run python bench/pages.py
