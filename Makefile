# Two entry points: `make demo` (the main job) and `make test` (the test suite).
# Both create ./.venv on first use and install requirements.txt plus this project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# `make demo DEMO_ARGS="--minutes 68"` trains four times longer (see `python -m ssd_app.demo -h`).
DEMO_ARGS ?=

.PHONY: venv demo demo-encode-decode test test-slow lint bench clean

$(STAMP): requirements.txt setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m ssd_app.demo $(DEMO_ARGS)

demo-encode-decode: $(STAMP)
	$(BIN)/python scripts/demo_encode_decode.py

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_encoder_decoder.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
