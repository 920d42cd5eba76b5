# The two commands of the README: `make run` serves, `make test` runs every test.
# Both build what they need in .venv from constraints.txt (the lock file).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test load lock clean bench fuzz

$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/claims serve

test: $(STAMP)
	$(BIN)/pytest

load: $(STAMP)
	$(BIN)/claims load examples/miami-talks.ndjson

# The benchmark suite (docs/performance.md): HTTP ingest, batch ingest, rebuild and reads, each beside
# its reference and target, medians of 3. The log of BENCH_EVENTS events under BENCH_HOME is generated on
# first use and reused after. `make bench BENCH_ARGS=--smoke` runs a tiny size of everything.
BENCH_EVENTS ?= 1000000
BENCH_HOME   ?= .claims/bench
BENCH_ARGS   ?=
bench: $(STAMP)
	$(BIN)/python -m bench --events $(BENCH_EVENTS) --home $(BENCH_HOME) $(BENCH_ARGS)

# A longer fuzzing run than the suite's (15 cases an operation): FUZZ_EXAMPLES cases per operation,
# valid and invalid, against the OpenAPI schema (tests/integration/test_fuzz.py). Reproducible unless
# FUZZ_RANDOM=1, which draws new cases each run (a failure prints how to reproduce it).
FUZZ_EXAMPLES ?= 200
fuzz: $(STAMP)
	CLAIMS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(if $(FUZZ_RANDOM),CLAIMS_FUZZ_RANDOM=1) $(BIN)/pytest tests/integration/test_fuzz.py

# Re-resolve the pinned versions after changing pyproject.toml's ranges.
lock:
	rm -rf /tmp/claims-lock && $(PYTHON) -m venv /tmp/claims-lock
	/tmp/claims-lock/bin/pip install --quiet -e '.[dev]'
	/tmp/claims-lock/bin/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) .claims .pytest_cache
