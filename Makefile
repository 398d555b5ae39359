# Two entry points: `make demo` (the main job) and `make test` (the test suite).
# Both create ./.venv on first use and install requirements.txt plus this project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BACKENDS_STAMP := $(VENV)/.backends-installed

# Keras backends `make test-backends` runs the tests marked `backends` on, one pytest run each
# (`make test-backends BACKENDS=jax` runs one). `make test` covers TensorFlow.
BACKENDS ?= jax torch

# `make demo DEMO_ARGS="--minutes 68"` trains four times longer (see `python -m ssd_app.demo -h`).
DEMO_ARGS ?=

.PHONY: venv venv-backends demo demo-encode-decode test test-slow test-backends lint bench clean

$(STAMP): requirements.txt setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

# JAX and PyTorch go into the same .venv (requirements-backends.txt says why that is safe).
$(BACKENDS_STAMP): $(STAMP) requirements-backends.txt
	$(BIN)/python -m pip install --quiet -r requirements-backends.txt
	touch $(BACKENDS_STAMP)

venv-backends: $(BACKENDS_STAMP)

demo: $(STAMP)
	$(BIN)/python -m ssd_app.demo $(DEMO_ARGS)

demo-encode-decode: $(STAMP)
	$(BIN)/python scripts/demo_encode_decode.py

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

# Some slow tests train on JAX (DataParallel, two JAX processes), so this installs the backends too.
test-slow: $(BACKENDS_STAMP)
	$(BIN)/python -m pytest -m slow

# The Keras-facing tests (slow ones included) on every backend in BACKENDS, in turn.
test-backends: $(BACKENDS_STAMP)
	@set -e; for backend in $(BACKENDS); do \
		echo "== Keras-facing tests on the $$backend backend"; \
		start=$$(date +%s); \
		KERAS_BACKEND=$$backend $(BIN)/python -m pytest -m backends; \
		echo "== $$backend backend: $$(( $$(date +%s) - start )) s"; \
	done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_encoder_decoder.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
