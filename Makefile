# FinNexus operator — the two commands of the quick start are `make demo` and `make test`.
# Each installs what it needs: a virtualenv with the Python dependencies, Debian's prometheus
# (through apt-get when missing and running as root) and the helm binary (scripts/get-helm.py).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TOOLS  := .tools
export PATH := $(CURDIR)/$(TOOLS)/bin:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: all venv tools demo playground test test-fast lint typecheck crd bench image demo-app-image clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

tools: $(STAMP)
	scripts/ensure-prometheus.sh
	$(PY) scripts/get-helm.py $(TOOLS)/bin

demo: $(STAMP)
	scripts/ensure-prometheus.sh
	$(PY) -m finnexus_demo

# The demo, then everything kept running: prints `export KUBECONFIG=...` and things to try.
playground: $(STAMP)
	scripts/ensure-prometheus.sh
	$(PY) -m finnexus_demo --fast --keep

test: tools
	$(PY) -m finnexus_operator.crd --check
	$(VENV)/bin/ruff check finnexus_operator finnexus_kit finnexus_demo tests bench scripts
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	FINNEXUS_REQUIRE_TOOLS=1 $(PY) -m pytest -q -p no:cacheprovider

test-fast: $(STAMP)
	$(PY) -m pytest -q -x -m 'not prometheus and not e2e'

lint: $(STAMP)
	$(VENV)/bin/ruff check finnexus_operator finnexus_kit finnexus_demo tests bench scripts
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

crd: $(STAMP)
	$(PY) -m finnexus_operator.crd --write

bench: tools
	$(PY) -m bench.rollback_latency
	$(PY) -m bench.scale --n 10,100,200

image:
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
	  docker build -t finnexus-operator:dev . ; \
	elif command -v podman >/dev/null 2>&1; then \
	  podman build --isolation chroot -t finnexus-operator:dev . ; \
	else echo "make image: no docker engine or podman on this machine" >&2; exit 1; fi

# The demo app alone (test kit, not product), for examples/minimal.yaml and tests/e2e.
demo-app-image:
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
	  docker build -t finnexus-demo-app:dev finnexus_kit ; \
	elif command -v podman >/dev/null 2>&1; then \
	  podman build --isolation chroot -t finnexus-demo-app:dev finnexus_kit ; \
	else echo "make demo-app-image: no docker engine or podman on this machine" >&2; exit 1; fi

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache build *.egg-info
