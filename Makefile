# Entry points: `make demo`, `make test` (the whole suite, as CI runs it) and `make check` (the
# fast tier: lint, types, unit and property tests). All share one .venv, created on first use:
# the demo installs the package alone, the test targets install it with the `test` extra.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet
HASH := $(shell cksum < pyproject.toml | cut -d' ' -f1)
RUN_STAMP := $(VENV)/.installed-run-$(HASH)
TEST_STAMP := $(VENV)/.installed-test-$(HASH)
# pytest-xdist workers; each test file runs whole on one of them (a file's tests may share a
# module fixture or a resource), files run in parallel. Three per core, at most 12: most
# tests wait on sockets, servers and subprocesses (on 2 cores the parallel tier used 130 % of
# them with 4 workers and took 4 min; 178 % with 6, 3 min 15 s).
JOBS ?= $(shell n=$$(( $$(nproc 2>/dev/null || echo 1) * 3 )); echo $$(( n > 12 ? 12 : n )))
# the test files that mark a test `serial` (the markers are the only way to make one serial)
SERIAL_FILES = $(shell grep -rlE --include='test_*.py' 'mark\.serial' tests)
PYTEST := $(BIN)/python -m pytest -q -n $(JOBS) --dist loadfile --no-loadscope-reorder

.PHONY: test-cluster demo test check services lint typecheck clean

# The test runs keep bytecode even where PYTHONDONTWRITEBYTECODE is set: without it every pytest
# process (each xdist worker) rewrites the asserts of all test modules again, 15-20 s apiece.
# The xdist controller writes those caches once before it starts the workers (tests/conftest.py).
test test-cluster check: export PYTHONDONTWRITEBYTECODE :=

# editable installs of a pyproject-only package need pip 21.3+; only upgrade an old one
define NEW_VENV
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -c 'import pip, sys; sys.exit(int(pip.__version__.split(".")[0]) < 23)' \
		|| $(PIP) install --upgrade 'pip>=23'
endef

$(RUN_STAMP): pyproject.toml
	$(NEW_VENV)
	$(PIP) install -e .
	touch $@

# what the demo needs too, in two pip runs side by side: the editable package alone (its
# isolated build env and the Cython and C build of the compiled core, about 30 s of one core)
# beside the dependencies and the `test` extra as pyproject.toml lists them (about 60 s of
# unpacking); they write disjoint files in the venv. Either failing fails the step, after both
# end. The bytecode is compiled once here (without it, every xdist worker compiles what it
# imports: a fresh clone's make test took 30 s more CPU).
$(TEST_STAMP): pyproject.toml
	$(NEW_VENV)
	$(BIN)/python scripts/requirements.py test > $(VENV)/requirements-test.txt
	$(PIP) install -e . --no-deps & build=$$!; \
	$(PIP) install -r $(VENV)/requirements-test.txt; deps=$$?; \
	wait $$build && [ $$deps -eq 0 ]
	touch $@ $(RUN_STAMP)

demo: $(RUN_STAMP)
	$(BIN)/ertcloud demo $(ARGS)

test: $(TEST_STAMP) services
	$(BIN)/ruff check src tests scripts
	@# the compiled core must have been built (a Cython error only prints a notice at install)
	@[ -n "$$ERTCLOUD_NO_EXTENSIONS" ] || $(BIN)/python -c 'import sys; from ertcloud.protocol \
		import core; sys.exit(core.compiled_dispatch is None and "the compiled core is not built: \
		see the notice of pip install -e . (or set ERTCLOUD_NO_EXTENSIONS=1)")'
	@# the wheel tests (build a wheel; install into a fresh venv with no compiler) and the
	@# 3-node NATS failover tier (marker cluster, one file per xdist worker) run in parallel
	@# with the rest; so do tests/compiled_core and the tests of tests/client and
	@# tests/protocol that exercise the receive core, on both cores, the pure one and the
	@# compiled one (tests/receive_cores.py swaps the core per module). mypy --strict (one
	@# core for 20-40 s with a cold cache) runs beside them,
	@# since they leave CPU idle. Then the timing-sensitive tests (marked serial) run alone,
	@# with the test modules' bytecode written by then; exit 5 (none selected) is fine for
	@# them only, where PYTEST_ARGS may leave none. With no PYTEST_ARGS the serial tier collects
	@# only the files that mark a test serial (collecting all 2,000+ tests costs 5 s).
	@# Every part runs; any failure fails the run.
	$(BIN)/mypy > $(VENV)/mypy.out 2>&1 & mypy=$$!; \
	ERTCLOUD_WHEEL_TEST=1 $(PYTEST) -m 'not serial' $(PYTEST_ARGS); tests=$$?; \
	wait $$mypy; typed=$$?; cat $(VENV)/mypy.out; \
	$(BIN)/python -m pytest -q -m 'serial and not cluster' $(or $(PYTEST_ARGS),$(SERIAL_FILES)); serial=$$?; \
	[ $$typed -eq 0 ] || echo 'make test: mypy --strict found errors (above)' >&2; \
	[ $$typed -eq 0 ] && [ $$tests -eq 0 ] && { [ $$serial -eq 0 ] || [ $$serial -eq 5 ]; }

# The 3-node NATS failover tier (tests/cluster/test_cluster_failover.py and
# test_cluster_gapless_epochs.py) alone; make test runs it too, beside the rest.
test-cluster: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -m cluster $(PYTEST_ARGS)

# Under a minute and a half: no subprocesses, servers or real-time waits (markers in pyproject).
check: $(TEST_STAMP)
	$(BIN)/ruff check src tests scripts
	$(BIN)/mypy
	$(PYTEST) -m 'unit and not slow' $(PYTEST_ARGS)

# The sink tests start their own PostgreSQL and NATS JetStream servers from the test extra's
# wheels. Only where no wheel exists for the platform (and no server is on PATH) does this
# install Debian's packages, which needs root.
services: $(TEST_STAMP)
	$(BIN)/python scripts/services/local_servers.py postgres where >/dev/null 2>&1 \
		|| bash scripts/services/postgres.sh install
	$(BIN)/python scripts/services/local_servers.py nats where >/dev/null 2>&1 \
		|| bash scripts/services/nats.sh install

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests scripts

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
