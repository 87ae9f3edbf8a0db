# One command from a fresh clone: `make test` builds .venv, installs the
# package with its test extras, and runs the suite; `make demo` runs the demo
# against the embedded emulator; `make bench` runs the benchmarks; `make soak`
# runs the reliability soak and rewrites RELIABILITY.md; `make engines` fetches
# Prism, Flink and Spark into .engines/ and `make test-runners` runs the writers
# on them (docs/RUNNERS.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test unit demo bench soak clean engines test-runners

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/python -m pipelines.demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

soak: $(STAMP)
	$(BIN)/python -m tests.reliability.soak

engines: $(STAMP)
	$(BIN)/python -m tests.runners.engines

# The engine tier (pytest.ini leaves it out of `make test`); an engine that
# `make engines` could not fetch fails it, unless BEAM_BATCHPUT_SKIP_ENGINES names it.
test-runners: engines
	$(BIN)/python -m pytest -q -rs tests/runners

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

clean:
	rm -rf $(VENV) build *.egg-info .engines
