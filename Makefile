# make run   - the whole system on the embedded default (SQLite + in-process stand-ins),
#              gRPC on mutual TLS; make run RUN_ARGS=--plaintext without
# make test  - every test, against real PostgreSQL and Redis, but the slow ones
# make test-slow - the slow ones (fault injection, fuzzing, Redis topologies, upgrades,
#              load); CI runs both; make test-all runs everything in one go
# make faults - every fault-injection test (tests/faults), the slow ones too, with figures
# make up    - the whole system in Docker (docker-compose.yml); make down stops it
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
# What is installed comes from the lock files (make lock writes them from pyproject.toml):
# requirements/runtime.txt is what running needs (make run, the Dockerfile),
# requirements/dev.txt adds the test and lint toolchain (make test, make lint, CI).
RUNTIME_LOCK := requirements/runtime.txt
DEV_LOCK := requirements/dev.txt
RUN_STAMP := $(VENV)/.runtime-installed
STAMP := $(VENV)/.dev-installed
UV_INSTALL := $(UV) pip install --quiet --python $(PY)
PROTO_SRC := $(wildcard protos/oauth2/v1/*.proto)

.PHONY: run test test-slow test-all faults proto proto-check lint lint-ruff bench bench-startup sizing profile clean migrate venv runtime lock chromium up down compose-env

# A virtualenv without pip (seconds instead of half a minute), uv put in by the system's
# pip; uv installs everything else (.venv/bin/uv pip install ... for a tool of your own).
# (A Python without pip of its own gets a virtualenv with pip, which then installs uv.)
$(UV):
	@if $(PYTHON) -m pip --version >/dev/null 2>&1; then \
	  test -x $(PY) || $(PYTHON) -m venv --without-pip $(VENV); \
	  $(PYTHON) -m pip --python $(PY) install --quiet --disable-pip-version-check uv==$(UV_VERSION); \
	else \
	  test -x $(PY) || $(PYTHON) -m venv $(VENV); \
	  $(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION); \
	fi

# Exactly the locked versions, each checked against its hash; then the project itself
# (editable, without dependencies: they are all in the lock).
$(RUN_STAMP): $(RUNTIME_LOCK) pyproject.toml | $(UV)
	$(UV_INSTALL) --require-hashes -r $(RUNTIME_LOCK)
	$(UV_INSTALL) --no-deps -e .
	touch $@

$(STAMP): $(DEV_LOCK) $(RUN_STAMP)
	$(UV_INSTALL) --require-hashes -r $(DEV_LOCK)
	touch $@

runtime: $(RUN_STAMP)
venv: $(STAMP)

# Re-resolves the lock files after a change to pyproject.toml's dependencies, keeping
# every pin that still fits (UPGRADE=1 moves them all to the newest releases).
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes --quiet $(if $(UPGRADE),--upgrade)
lock: | $(UV)
	$(UV) pip compile pyproject.toml $(LOCK_FLAGS) -o $(RUNTIME_LOCK)
	$(UV) pip compile pyproject.toml --extra dev $(LOCK_FLAGS) -c $(RUNTIME_LOCK) -o $(DEV_LOCK)

# Typed stubs of messages and services (mypy-protobuf), so every RPC call is typed.
PROTOC := $(PY) -m grpc_tools.protoc -I protos \
	--plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy \
	--plugin=protoc-gen-mypy_grpc=$(VENV)/bin/protoc-gen-mypy_grpc

proto: $(STAMP)
	$(PROTOC) --python_out=protos --mypy_out=protos --grpc_python_out=protos \
		--mypy_grpc_out=protos $(PROTO_SRC)
	touch protos/oauth2/__init__.py protos/oauth2/v1/__init__.py

# Fails when the committed generated code differs from what the .proto files give.
proto-check: $(STAMP)
	@tmp=$$(mktemp -d); \
	$(PROTOC) --python_out=$$tmp --mypy_out=$$tmp --grpc_python_out=$$tmp \
		--mypy_grpc_out=$$tmp $(PROTO_SRC) || exit 1; \
	for f in $$(cd $$tmp && find . -name '*.py*'); do \
		cmp -s $$tmp/$$f protos/$$f || { echo "generated code is stale or missing: protos/$$f (run make proto)"; rm -rf $$tmp; exit 1; }; \
	done; rm -rf $$tmp; echo "generated code matches protos/"

# The generated code in protos/ is committed (make proto-check keeps it current), so
# running needs neither the generator nor the development toolchain.
run: $(RUN_STAMP)
	$(PY) -m oauth2ctl.devrun $(RUN_ARGS)

migrate: $(RUN_STAMP)
	for s in clients token authorize admin; do $(PY) -m services.$$s migrate || exit 1; done

# The browser test drives Debian's Chromium (Playwright's own download does not work here).
CHROMIUM ?= /usr/bin/chromium
chromium:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the browser test"; \
		(apt-get update -qq && apt-get install -y -qq chromium) >/dev/null || \
		{ echo "the browser test needs Chromium: apt-get install chromium"; exit 1; }; }

test: $(STAMP) proto-check chromium
	$(PY) -m pytest -q

# The tests make test leaves out (marked slow: fault injection, fuzzing, Redis
# Sentinel and Cluster, upgrades, load); CI runs them after make test. Not the one
# marked lossy (make faults and make test-all run it).
test-slow: $(STAMP) chromium
	$(PY) -m pytest -q -m "slow and not lossy"

# Every test, in one run.
test-all: $(STAMP) proto-check chromium
	$(PY) -m pytest -q -m ""

# Private PostgreSQL and Redis servers stopped, hung and restarted under load; -m
# replaces the default "not slow" selection, -s shows each fault's measured figures.
faults: $(STAMP)
	$(PY) -m pytest -q -s -m faults tests/faults

# Throughput and latency of the token path under wrk (targets inside the script).
# Side by side with node-oidc-provider on PostgreSQL + Redis (bench/README.md);
# BENCH_MODE=embedded for the embedded default. The script exits 1 when a target is
# missed and 2 when it could not run; make turns both into its own 2, so it says which.
bench: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
	@$(PY) bench/token_endpoint.py; status=$$?; case $$status in \
	  0) ;; 1) echo "make bench: exit 1, a target was missed" >&2 ;; \
	  *) echo "make bench: exit $$status, the benchmark could not run" >&2 ;; esac; exit $$status

# Seconds from make run to its banner: the first start and warm ones (target: warm
# under 10 s); exit 1 when missed.
bench-startup: $(RUN_STAMP)
	$(PY) bench/startup.py

# CPU per request of each process for client_credentials, introspection, refresh and a
# browser sign-in, memory per process, 1->2 token replicas and gateway workers
# (docs/sizing.md quotes it). SIZING_ARGS=--out FILE also writes the JSON there.
sizing: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
	$(PY) -m bench.sizing $(SIZING_ARGS)

# Where the CPU of one request goes in the gateway and the token service (py-spy;
# docs/performance.md quotes it). PROFILE_SCENARIO=introspection, PROFILE_SECONDS=20.
profile: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
	@test -x $(VENV)/bin/py-spy || $(UV_INSTALL) py-spy
	$(PY) -m bench.profile

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict common services gateway oauth2ctl

clean:
	rm -rf var .pytest_cache

lint-ruff: $(STAMP)
	$(VENV)/bin/ruff check .

# docker compose with development key-encryption keys generated once into var/ (kept
# out of git): the token service's and the clients service's, each its own; a key
# missing from an older file is added, none is ever replaced, and a KEK exported in the
# shell wins. Losing var/compose.env while the database volume remains loses the
# signing keys and the client_secret_jwt clients' secrets: then `docker compose down -v`.
COMPOSE_ENV := var/compose.env
COMPOSE := docker compose --env-file $(COMPOSE_ENV)
COMPOSE_KEKS := OAUTH2_KEY_ENCRYPTION_KEY OAUTH2_CLIENTS_KEY_ENCRYPTION_KEY

compose-env:
	@mkdir -p var; umask 077; touch $(COMPOSE_ENV); \
	for name in $(COMPOSE_KEKS); do \
	  grep -q "^$$name=" $(COMPOSE_ENV) || printf '%s=%s\n' "$$name" \
	    "$$($(PYTHON) -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')" \
	    >> $(COMPOSE_ENV); \
	done

up: compose-env
	$(COMPOSE) up -d --build

# compose interpolates the whole file even to stop it, so the env file must exist.
down: compose-env
	$(COMPOSE) down
