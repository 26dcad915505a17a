# The README's two commands: `make demo` (offline demo run) and `make test` (the test suite).
# Both create .venv and install everything into it on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch first, pinned. PyPI's torch wheel for Linux is the CUDA build (several GB of CUDA libraries); on a machine
# without a GPU, `make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu` takes PyTorch's CPU-only wheel instead.
TORCH ?= torch==2.13.0
TORCH_INDEX ?=

.PHONY: setup demo test clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: setup
	$(BIN)/python train_beginner.py --task nsmc --demo

# Tests run on every core (pytest-xdist); worksteal hands a finished worker the tests another one still queues.
test: setup
	$(BIN)/python -m pytest -n auto --dist worksteal

clean:
	rm -rf $(VENV) data/cache runs
