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
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/pip install -q -e '.[lint]'
	$(BIN)/ruff format --check sciregistry tests benchmarks
	$(BIN)/ruff check sciregistry tests benchmarks
	$(BIN)/mypy sciregistry
	$(BIN)/lint-imports

test-fast: venv
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

bench: venv
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

demo: venv
	$(BIN)/sciregistry demo --registry http://$(HOST):$(PORT) --data-dir $(DATA)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
