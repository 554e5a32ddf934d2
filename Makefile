# clearview-ipmp. Two commands for a new user: `make demo` and `make test`.
# Everything Pacemaker will later execute runs from a venv built on the system's
# /usr/bin/python3 in a world-readable place (not a per-user pyenv under /root).

VENV ?= /opt/clearview-ipmp/venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST_ARGS ?=
# The checkout: the demo and the benchmarks run from it (they use tests/support/, which
# is not installed).
REPO := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))

.PHONY: all deps venv install dev test lint unit netns cluster fuzz demo bench docs

all: venv

deps:
	@bash scripts/install-deps.sh
	@bash scripts/install-cluster-deps.sh

$(PY):
	/usr/bin/python3 -m venv $(VENV)

# The package is installed (not linked) so that the code every user runs is the venv's.
venv: deps $(PY)
	@$(PIP) install -q --disable-pip-version-check '.[test]'
	@$(PIP) install -q --disable-pip-version-check --no-deps --force-reinstall .
	@chmod -R a+rX $(VENV)

# Editable install for development: code changes take effect without reinstalling.
dev: deps $(PY)
	@$(PIP) install -q --disable-pip-version-check -e '.[test]'

install: venv
	@for cmd in ipmpd ipmpadm ipmpstat ipmp-ocf; do ln -sf $(VENV)/bin/$$cmd /usr/local/sbin/$$cmd; done
	@echo "installed ipmpd, ipmpadm, ipmpstat and ipmp-ocf in /usr/local/sbin"
	@# The commented sample, never over an administrator's own file.
	@test -e /etc/default/clearview-ipmp || \
		install -m 0644 etc/default/clearview-ipmp /etc/default/clearview-ipmp
	@# Rotation of the log files ipmpd writes when started with --log-file.
	@install -D -m 0644 etc/logrotate.d/clearview-ipmp /etc/logrotate.d/clearview-ipmp
	@$(VENV)/bin/ipmp-ocf install

lint: venv
	$(VENV)/bin/ruff check .

test: venv lint
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

unit: venv
	$(VENV)/bin/pytest -q tests/unit

netns: venv
	$(VENV)/bin/pytest -q tests/netns

cluster: venv
	$(VENV)/bin/pytest -q tests/cluster

# The property-based engine test and the parsers' fuzz targets with the long hypothesis
# profile (20,000 cases each; make test runs 200). About 25 minutes.
fuzz: venv
	HYPOTHESIS_PROFILE=fuzz $(VENV)/bin/pytest -q tests/unit/engine/test_engine_properties.py \
		tests/unit/daemon/test_fuzz_control.py tests/unit/net/test_fuzz_parsers.py

demo: venv
	cd $(REPO) && $(PY) -m tests.support.demo

# Every benchmark; each prints ratios against a baseline measured in the same run and
# rewrites its section of docs/performance.md. The probing benchmarks take ~30 minutes;
# the cluster failover benchmark (both scenarios, one two-node cluster per stack) ~8.
bench: venv
	cd $(REPO) && $(PY) -m bench.failover
	cd $(REPO) && $(PY) -m bench.monitor
	cd $(REPO) && $(PY) -m bench.probing
	cd $(REPO) && $(PY) -m bench.scale
	cd $(REPO) && $(PY) -m bench.cluster_failover --trials 6

docs: venv
	$(VENV)/bin/ipmp-ocf docs -o docs/agents.md
