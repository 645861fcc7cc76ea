# sciregistry: two commands on a fresh machine.
#   make run    set up .venv and start the registry on 127.0.0.1:5000 (data in ./var)
#   make test   set up .venv and run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 5000
DATA   ?= ./var
PYTEST_ARGS ?=
# pytest-xdist worker processes for `make test` (0: one process). Four on two cores: most tests wait on
# live servers, subprocesses and sockets, not on the CPU. `--dist loadfile` keeps a module's tests
# (and its module-scoped live server) on one worker; `--no-loadscope-reorder` hands modules out in
# collection order, where tests/conftest.py puts the slow ones first (xdist would order them by test
# count, and a two-test module of two minutes came last). Each worker uses its own PostgreSQL
# database (tests/conftest.py).
JOBS ?= 4
XDIST = -n $(JOBS) --dist loadfile --no-loadscope-reorder
# Bytecode of the package and the tests, written once before the run: the suite starts hundreds of
# Python processes (servers, the CLI), and where PYTHONDONTWRITEBYTECODE is set each of them would
# compile every module again.
COMPILE = $(BIN)/python -m compileall -q sciregistry tests benchmarks
# For the same reason pytest would rewrite the asserts of every test module again in every worker
# and every run (about 5 s of CPU per process): it keeps its rewritten modules only where bytecode
# may be written.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test test-fast lint bench demo venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

run: venv
	@echo "sciregistry: open http://$(HOST):$(PORT)/ (the registry, its API and its pages; stop with Ctrl-C)"
	$(BIN)/sciregistry serve --host $(HOST) --port $(PORT) --data-dir $(DATA)

test: venv
	$(COMPILE)
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

lint: venv
	$(BIN)/pip install -q -e '.[lint]'
	$(BIN)/ruff format --check sciregistry tests benchmarks
	$(BIN)/ruff check sciregistry tests benchmarks
	$(BIN)/mypy sciregistry
	$(BIN)/lint-imports

test-fast: venv
	$(COMPILE)
	$(BIN)/python -m pytest $(XDIST) -m "not slow" $(PYTEST_ARGS)

bench: venv
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

demo: venv
	$(BIN)/sciregistry demo --registry http://$(HOST):$(PORT) --data-dir $(DATA)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
