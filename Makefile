# Two entry points: `make demo` (set up, then evaluate the embedded default model) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED_MATH := $(abspath ../shared/data/math)
# Benchmark files beside the checkout are used when present; otherwise envs load from the hub.
DATA_ENV := $(if $(wildcard $(SHARED_MATH)),REASONGYM_DATA_DIR=$(SHARED_MATH),)

.PHONY: setup demo test bench clean sandbox-image

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch and torchvision must match exactly (a mismatch breaks transformers at import), so they go first.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -e ".[hf,vision,docker,ray,dev]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(DATA_ENV) $(BIN)/reasongym demo

# Start a Docker engine (installing docker.io if needed, root only) and build the sandbox image offline.
sandbox-image:
	bash containers/start_dockerd.sh && bash containers/sandbox/build_offline.sh

# The sandbox tests need the engine and the image; where no engine can be started they skip with the reason.
test: setup
	-$(MAKE) --no-print-directory sandbox-image
	$(DATA_ENV) $(BIN)/python -m pytest -q

bench: setup
	$(BIN)/pip install -q -e ".[bench]"
	$(DATA_ENV) $(BIN)/python bench/math_env.py

clean:
	rm -rf $(VENV) runs .pytest_cache
