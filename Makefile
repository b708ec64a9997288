# texnet: two commands to start (make demo, make test); see README.md.
PYTHON ?= python3
VENV   ?= .venv
# Installed first and on its own, so pip never resolves texnet's open `torch`
# requirement to a multi-GB CUDA build. Override: make demo TORCH="torch==2.5.1"
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install demo test test-fast bench bench-quick bench-large reproduce gpu-check zoo zoo-measure clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.torch-installed: | $(BIN)/python
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	touch $@

$(VENV)/.texnet-installed: pyproject.toml $(VENV)/.torch-installed
	$(BIN)/python -m pip install --quiet -e ".[dev,all]"
	touch $@

install: $(VENV)/.texnet-installed

demo: install
	$(BIN)/texnet demo --out outputs --overwrite

# The import contract (.importlinter: apps on top, the paper's method near the bottom) before the tests.
test: install
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/run.py

bench-quick: install
	$(BIN)/python benchmarks/run.py --quick

# Large images (4096²-16384², fresh process per memory row), ONNX vs PyTorch, the eager fast path.
bench-large: install
	$(BIN)/python benchmarks/bench_large.py

# On a CUDA machine (<= 8 min): tests on cuda, short trainings, inference timings, 2-GPU torchrun if present.
gpu-check: install
	$(BIN)/python benchmarks/gpu_check.py

# Rebuild every bundled network from its recipe (src/texnet/apps/zoo.py) into the package: <= 45 min per
# network on 2 CPU cores; finished runs in zoo-runs/ with the same config are reused. One network:
#   make zoo ZOO="starry_night"      Data: DATA=../shared/data (styles/, textures/, content-train/).
DATA ?= ../shared/data
ZOO ?=
zoo: install
	$(BIN)/texnet zoo build $(ZOO) --data-dir $(DATA) --work zoo-runs --install

zoo-measure: install
	$(BIN)/texnet zoo measure $(ZOO) --data-dir $(DATA) --work zoo-runs --install

reproduce: install
	$(BIN)/texnet reproduce --profile cpu --out outputs/reproduce --overwrite

clean:
	rm -rf $(VENV) outputs build src/*.egg-info .pytest_cache
