# Shopfloor entry points. Every target that needs Python first builds the one repo virtualenv
# (.venv) from the hash-locked requirements; it is rebuilt when a lock file changes.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
LOCAL_PACKAGES := libs/shopfloor-common $(wildcard apps/*) tools/shopfloor
STAMP := $(VENV)/.installed

.PHONY: help venv run observe chaos test lint format typecheck pytest mutate bench bench-writes bench-routes bench-startup load-smoke load load-stress load-spike load-soak render images screenshots lock clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python requirements/bootstrap.txt requirements/dev.txt $(addsuffix /pyproject.toml,$(LOCAL_PACKAGES))
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/bootstrap.txt
	$(BIN)/uv pip sync --python $(BIN)/python --require-hashes requirements/dev.txt
	$(BIN)/uv pip install --python $(BIN)/python --no-deps --no-build-isolation $(addprefix -e ,$(LOCAL_PACKAGES))
	@# Precompile: with PYTHONDONTWRITEBYTECODE set (as on some machines) every service start
	@# would otherwise recompile FastAPI, SQLAlchemy and friends, several seconds each.
	$(BIN)/python -m compileall -q -j0 $(VENV)/lib >/dev/null || true
	touch $@

venv: $(STAMP) ## create or update the repo virtualenv

# checkov gets its own virtualenv: its pins clash with the repo's (packaging < 24, boto3 1.35, and
# bc-python-hcl2, whose hcl2 module would shadow python-hcl2's; requirements/checkov.in).
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
$(CHECKOV_STAMP): $(STAMP) requirements/checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(BIN)/uv pip sync --python $(CHECKOV_VENV)/bin/python --require-hashes requirements/checkov.txt
	touch $@

run: $(STAMP) ## run the whole shop locally on embedded defaults: http://localhost:8000
	$(BIN)/shopfloor run

# Debian's Prometheus and Alertmanager run for real on this machine (no containers): installed with
# apt-get when missing and make runs as root, otherwise the command to run is printed.
OBSERVE_PACKAGES := prometheus prometheus-alertmanager
observe: $(STAMP) ## the shop plus Prometheus (:9090) and Alertmanager (:9093) running the repo's alert rules
	@missing=""; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null \
	  || missing="$$missing prometheus-alertmanager"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "==> make observe: installing Debian's$$missing (apt-get install --no-install-recommends)"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "make observe needs Debian's$$missing. Install them, then run make observe again:"; \
	    echo "    sudo apt-get install --no-install-recommends$$missing"; \
	    exit 1; \
	  fi; \
	fi
	$(BIN)/shopfloor run --observe

# FAULT=<id> of chaos/faults.yaml (shopfloor chaos catalogue); DURATION=10s holds it shorter; the
# database faults need POSTGRES=postgresql://postgres@127.0.0.1:5432/postgres, redis-down REDIS=redis://...
FAULT ?=
chaos: $(STAMP) ## run one fault on the local stack and write its record: make chaos FAULT=catalog-kill
	@if [ -z "$(FAULT)" ]; then echo "name a fault: make chaos FAULT=<id> (ids: .venv/bin/shopfloor chaos catalogue)"; exit 2; fi
	$(BIN)/shopfloor chaos run $(FAULT) $(if $(DURATION),--duration $(DURATION)) $(if $(POSTGRES),--postgres $(POSTGRES)) $(if $(REDIS),--redis $(REDIS))

lint: $(STAMP) ## ruff lint and format check, shellcheck
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	git ls-files -co --exclude-standard '*.sh' .ci/run | xargs $(BIN)/shellcheck

format: $(STAMP) ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# mypy resolves first-party imports from every package's src/ folder (a new package needs no entry).
export MYPYPATH := $(subst $(eval) ,:,$(wildcard libs/*/src apps/*/src tools/*/src))

typecheck: $(STAMP) ## mypy over every package
	@# One run per package: each test folder has its own conftest.py, which mypy would
	@# otherwise see as duplicate modules named "conftest".
	$(BIN)/mypy conftest.py
	@set -e; for package in $(LOCAL_PACKAGES) $(wildcard tests); do echo "mypy $$package"; $(BIN)/mypy $$package; done
	$(BIN)/mypy $(wildcard bench/*.py)

# Workers for pytest-xdist: most suites wait on real servers, subprocesses and alert windows, so
# three workers keep two cores busy (conftest.py keeps a module, and each shared terraform/image
# workspace, on one worker). PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 3

pytest: $(STAMP) $(CHECKOV_STAMP) ## the test suites only
	$(BIN)/pytest -n $(PYTEST_WORKERS)

test: lint typecheck pytest ## lint, types and all tests

# The curated invariant mutations (tests/mutations/mutations.yaml), each planted in a scratch copy
# and run against only the tests that must catch it; not part of `make test` (10-45 minutes on
# two cores, docs/testing.md). ONLY=<id>[,<id>] runs those alone and updates their rows of the table in
# docs/testing.md; a full run rewrites it. Exits non-zero unless every mutation is killed.
ONLY ?=
mutate: $(STAMP) ## plant each listed invariant mutation and check its tests catch it (ONLY=<id>)
	nice -n 19 $(BIN)/python -m tests.mutations.mutate --write-docs $(if $(ONLY),--only $(ONLY))

bench: $(STAMP) ## k6 benchmarks on loopback; figures go to docs/performance.md
	$(BIN)/shopfloor bench

# The k6 suite (bench/scenarios/) against a local stack started for the run, or URL=<base url>.
# Each has a bounded duration (shopfloor load caps it: smoke 30 s, spike 10 min, soak 2 h).
LOAD_URL = $(if $(URL),--url $(URL))
load-smoke: $(STAMP) ## k6 smoke: one shopper, every journey against its SLO (about 25 s)
	$(BIN)/shopfloor load smoke $(LOAD_URL)
load: $(STAMP) ## k6 load: 20 shoppers/s for 60 s (RATE=, DURATION=, URL=)
	$(BIN)/shopfloor load load $(LOAD_URL) --env RATE=$(or $(RATE),20) --env DURATION=$(or $(DURATION),60s)
load-stress: $(STAMP) ## k6 stress: arrival rate climbing 10 -> 120 shoppers/s in 6 steps of 15 s; reports the knee
	$(BIN)/shopfloor load stress $(LOAD_URL)
load-spike: $(STAMP) ## k6 spike: 10 shoppers/s, 100 for 15 s, back to 10 (about 55 s)
	$(BIN)/shopfloor load spike $(LOAD_URL)
load-soak: $(STAMP) ## k6 soak: 10 shoppers/s for DURATION (default 10m)
	$(BIN)/shopfloor load soak $(LOAD_URL) --env DURATION=$(or $(DURATION),10m)

bench-writes: $(STAMP) ## CPU and statements of a checkout's database writes, one statement each vs one by one (PostgreSQL)
	$(BIN)/python bench/checkout_writes.py

bench-routes: $(STAMP) ## CPU per checkout-shaped request: documented FastAPI route vs its fast route (in process)
	$(BIN)/python bench/route_overhead.py

bench-startup: $(STAMP) ## how long `make run` takes to be up (fresh state; bench/startup.py compares checkouts)
	$(BIN)/python bench/startup.py . --rounds 3

# ENV=<env> renders one environment of environments/ (all of them by default).
ENV ?= all
render: $(STAMP) ## write the manifests Argo CD applies to rendered/<env>.yaml (ENV=prod; default all)
	$(BIN)/shopfloor render --env $(ENV) --out rendered

images: $(STAMP) ## build every image (each service's, the tools image) with podman on a locally made base (docs/ci-cd.md)
	$(BIN)/shopfloor images build --engine podman --local-base --report var/images.json --sbom-dir var/sbom
	@# The release workflow's gate (fixable HIGH/CRITICAL fail; .trivyignore.yaml's dated exceptions), where Trivy is installed.
	$(BIN)/shopfloor security scan-images --report var/images.json

screenshots: $(STAMP) ## screenshots of the main pages, taken in Chromium, into docs/screenshots/
	$(BIN)/shopfloor screenshots --out docs/screenshots

# The repo's own packages are named shopfloor-common, shopfloor-<service> (the folder under apps/)
# and shopfloor; the locks leave them out (the Makefile installs them editable, the images build them).
SERVICES := $(notdir $(wildcard apps/*))
NO_EMIT_LOCAL := $(addprefix --no-emit-package ,shopfloor-common $(addprefix shopfloor-,$(SERVICES)) shopfloor)
UV_LOCK := $(BIN)/uv pip compile --python-version 3.11 --generate-hashes --custom-compile-command "make lock"

lock: ## re-pin the hash-locked requirements after a dependency change
	$(BIN)/uv pip compile requirements/bootstrap.in --generate-hashes --custom-compile-command "make lock" -o requirements/bootstrap.txt
	@# The repo virtualenv: every local package (the CLI with its `full` extra) and the tools of dev.in.
	printf -- '-e ./%s\n' libs/shopfloor-common $(addprefix apps/,$(SERVICES)) 'tools/shopfloor[full]' \
	  | $(UV_LOCK) - requirements/dev.in $(NO_EMIT_LOCAL) -o requirements/dev.txt
	@# One lock per service image: the service and the shared library with the extras the service asks
	@# for, constrained to the versions the repo is tested with. (The tools image installs no lock.)
	@set -e; for service in $(SERVICES); do \
	  printf -- '-e ./libs/shopfloor-common\n-e ./apps/%s\n' "$$service" \
	    | $(UV_LOCK) - --constraint requirements/dev.txt --python-platform x86_64-manylinux_2_28 $(NO_EMIT_LOCAL) \
	      -o requirements/images/$$service.txt; \
	done
	$(UV_LOCK) requirements/images/build.in --constraint requirements/dev.txt -o requirements/images/build.txt
	$(BIN)/uv pip compile requirements/checkov.in --python-version 3.11 --generate-hashes \
	  --custom-compile-command "make lock" -o requirements/checkov.txt

clean: ## remove the virtualenv and local state
	rm -rf $(VENV) $(CHECKOV_VENV) var .pytest_cache .mypy_cache .ruff_cache

# Delivery: the smoke test, and a local kind cluster run by Argo CD like the real ones (docs/gitops.md).
# The kind targets need a Docker engine, kind, kubectl and helm; the CI machines have no Docker engine,
# kind or helm.
.PHONY: smoke kind-up kind-deploy kind-smoke kind-down
SMOKE_URL ?= http://localhost:8000
smoke: $(STAMP) ## smoke-test a running shop (default: make run's, SMOKE_URL=...)
	$(BIN)/shopfloor smoke --base-url $(SMOKE_URL) --expect-frontend

kind-up: ## kind cluster + Argo CD + the local environment's root Application
	scripts/kind/up.sh

kind-deploy: $(STAMP) ## build and load the images into kind, sync and wait for health
	scripts/kind/deploy.sh

kind-smoke: $(STAMP) ## the smoke test through kind's Traefik on http://localhost
	scripts/kind/smoke.sh

kind-down: ## delete the kind cluster
	scripts/kind/down.sh
