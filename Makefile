# One command from a fresh clone: `make test` builds .venv, installs the
# package with its test extras, and runs the suite under coverage with the
# floors (`make quick`: the suite alone); `make demo` runs the demo
# against the embedded emulator; `make bench` runs the benchmarks; `make soak`
# runs the reliability soak and rewrites RELIABILITY.md. `make test-min` builds
# .venv-min with the oldest apache-beam, boto3/botocore and fastavro setup.py
# admits and runs the unit and contract tests there; `make engines` fetches
# Prism, Flink and Spark into .engines/ and `make test-runners` runs the writers
# on them (docs/RUNNERS.md); `make bench-engines` measures the SiteWise writer on
# each engine (BENCHMARKS.md), apart from `make bench`, which needs no engines.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MIN_VENV ?= .venv-min
MIN_BIN := $(MIN_VENV)/bin
MIN_STAMP := $(MIN_VENV)/.installed

.PHONY: test quick test-min unit demo bench soak coverage mutate clean engines test-runners schemas \
	bench-engines

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The schemas the template tests validate against (Maven Central, PyPI; cached).
schemas:
	bash templates/fetch-schemas.sh

# The suite under coverage, subprocesses included, with the floors per package
# (what CI runs; see `coverage` below). `make quick` runs it without coverage.
test: coverage

quick: $(STAMP) schemas
	$(BIN)/python -m pytest -q

$(MIN_STAMP): setup.py .ci/min_requirements.py
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_BIN)/python -m pip install --quiet --upgrade pip
	$(PYTHON) .ci/min_requirements.py > $(MIN_VENV)/requirements.txt
	$(MIN_BIN)/python -m pip install --quiet -r $(MIN_VENV)/requirements.txt
	$(MIN_BIN)/python -m pip install --quiet --no-deps -e .
	touch $(MIN_STAMP)

test-min: $(MIN_STAMP)
	$(MIN_BIN)/python -m pip check
	$(MIN_BIN)/python -c "import apache_beam, boto3, botocore, fastavro; \
	print('test-min: apache-beam', apache_beam.__version__, 'boto3', boto3.__version__, \
	'botocore', botocore.__version__, 'fastavro', fastavro.__version__)"
	$(MIN_BIN)/python -m pytest -q -p no:cacheprovider tests/unit tests/contract

demo: $(STAMP)
	$(BIN)/python -m pipelines.demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

soak: $(STAMP)
	$(BIN)/python -m tests.reliability.soak

# The whole suite under coverage, subprocesses included (.coveragerc), then
# the floors per package (tools/coverage_floors.py): fails under a floor.
COVERAGE_DATA := $(CURDIR)/out/coverage/.coverage
coverage: $(STAMP) schemas
	rm -rf out/coverage && mkdir -p out/coverage
	COVERAGE_FILE=$(COVERAGE_DATA) COVERAGE_RCFILE=$(CURDIR)/.coveragerc \
		$(BIN)/python -m coverage run -m pytest -q
	COVERAGE_FILE=$(COVERAGE_DATA) $(BIN)/python -m coverage combine -q
	COVERAGE_FILE=$(COVERAGE_DATA) $(BIN)/python -m coverage report > out/coverage/report.txt; \
		tail -n 3 out/coverage/report.txt
	COVERAGE_FILE=$(COVERAGE_DATA) $(BIN)/python -m coverage json -q -o out/coverage/coverage.json
	$(BIN)/python tools/coverage_floors.py out/coverage/coverage.json

# Mutation testing of core/, services/ and the emulator's validation, bounded
# by MUTATE_BUDGET seconds (default one hour); MUTATE_MODULES picks modules;
# MUTATE_TESTS (e.g. tests/unit) narrows each mutant's tests to those prefixes.
# Scores: out/mutation/scores.md; survivors with diffs: out/mutation/survivors.txt.
MUTATE_BUDGET ?= 3600
MUTATE_MODULES ?=
MUTATE_TESTS ?=
mutate: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,mutation]'
	$(BIN)/python tools/mutate.py --budget $(MUTATE_BUDGET) \
		$(if $(MUTATE_TESTS),--tests $(MUTATE_TESTS)) $(MUTATE_MODULES)

engines: $(STAMP)
	$(BIN)/python -m tests.runners.engines

# The engine tier (pytest.ini leaves it out of `make test`); an engine that
# `make engines` could not fetch fails it, unless BEAM_BATCHPUT_SKIP_ENGINES names it.
test-runners: engines
	$(BIN)/python -m pytest -q -rs tests/runners

# The engine benchmark: the DirectRunner, Prism and Flink in one run (about 10 minutes).
bench-engines: engines
	$(BIN)/python -m benchmarks.engines

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

clean:
	rm -rf $(VENV) $(MIN_VENV) build *.egg-info .engines
