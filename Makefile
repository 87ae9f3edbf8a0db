# One command from a fresh clone: `make test` builds .venv, installs the
# package with its test extras, and runs the suite; `make demo` runs the demo
# against the embedded emulator; `make bench` runs the benchmarks; `make soak`
# runs the reliability soak and rewrites RELIABILITY.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test unit demo bench soak coverage mutate clean

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

# The whole suite under coverage, subprocesses included (.coveragerc), then
# the floors per package (tools/coverage_floors.py): fails under a floor.
COVERAGE_DATA := $(CURDIR)/out/coverage/.coverage
coverage: $(STAMP)
	rm -rf out/coverage && mkdir -p out/coverage
	COVERAGE_FILE=$(COVERAGE_DATA) COVERAGE_RCFILE=$(CURDIR)/.coveragerc \
		$(BIN)/python -m coverage run -m pytest -q
	COVERAGE_FILE=$(COVERAGE_DATA) $(BIN)/python -m coverage combine -q
	COVERAGE_FILE=$(COVERAGE_DATA) $(BIN)/python -m coverage report > out/coverage/report.txt; \
		tail -n 3 out/coverage/report.txt
	COVERAGE_FILE=$(COVERAGE_DATA) $(BIN)/python -m coverage json -q -o out/coverage/coverage.json
	$(BIN)/python tools/coverage_floors.py out/coverage/coverage.json

# Mutation testing of core/, services/ and the emulator's validation, bounded
# by MUTATE_BUDGET seconds (default one hour); MUTATE_MODULES picks modules.
# Scores: out/mutation/scores.md; survivors with diffs: out/mutation/survivors.txt.
MUTATE_BUDGET ?= 3600
MUTATE_MODULES ?=
mutate: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,mutation]'
	$(BIN)/python tools/mutate.py --budget $(MUTATE_BUDGET) $(MUTATE_MODULES)

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

clean:
	rm -rf $(VENV) build *.egg-info
