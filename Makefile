# The commands the README shows. `make run` and `make test` do all the set-up on a
# fresh machine: a .venv with everything (torch pinned to the CPU wheel, llama-cpp-python
# built with GGML_NATIVE=OFF), Debian's chromium for the browser tests, the index.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export ANONYMIZED_TELEMETRY := False
export HF_HUB_OFFLINE := 1
DISTRACTORS ?= ../shared/corpus/distractors_100k.jsonl

.PHONY: install system-deps run test eval bench bench-scale index lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# A plain `torch` requirement would pull a multi-GB CUDA build: take the CPU wheel first.
	$(BIN)/pip install --quiet torch==2.13.0
	# llama-cpp-python compiles (~6 min); a native build dies with "Illegal instruction" here.
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install --quiet -e '.[dev,llm]'
	touch $@

install: $(STAMP)

# Debian's chromium for the browser tests (Playwright drives /usr/bin/chromium; no browser download).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

index: install
	$(BIN)/rag ingest

# `rag serve` builds the index of the bundled corpus itself when it is missing.
run: install
	$(BIN)/rag serve

# Lint and types, the tests, then the regression eval with the default engine: it fails
# when a test-split metric falls below evals/baseline.json by more than the tolerance.
test: install system-deps
	$(BIN)/ruff check rag ui evals tests
	$(BIN)/mypy rag ui evals
	$(BIN)/python -m pytest -q
	$(BIN)/rag eval --out .rag/eval-report
	$(BIN)/rag eval --claims --split test --out .rag/eval-report
	# The same questions inside 2,000 real distractor documents (../shared/corpus; set DISTRACTORS=FILE elsewhere).
	@if [ -f "$(DISTRACTORS)" ]; then $(BIN)/rag eval --distractors $(DISTRACTORS) --n 2000 --no-peer --out .rag/eval-report; \
	else echo "Skipping the distractor eval: $(DISTRACTORS) not found (set DISTRACTORS=FILE)."; fi

eval: install
	$(BIN)/rag eval --engine extractive
	$(BIN)/rag eval --engine llama-cpp

bench: install
	$(BIN)/python -m evals.bench
	$(BIN)/python -m evals.bench_ui

# Collections of 78 papers alone and inside 10K and 100K distractor documents (built once,
# cached in .rag/bench-scale; the first run takes about an hour on 2 cores), then server mode.
bench-scale: install
	$(BIN)/python -m evals.bench_scale --server

lint: install
	$(BIN)/ruff check rag ui evals tests
	$(BIN)/mypy rag ui evals

clean:
	rm -rf .rag .pytest_cache
