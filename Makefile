# Two entry points: `make demo` (the main job) and `make test` (the whole suite).
# Each creates the local virtual environment it needs on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml $(wildcard examples/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' $(foreach d,$(wildcard examples/*/pyproject.toml),-e $(dir $(d)))
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m dpo_frames.demo

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/bench_core.py

clean:
	rm -rf $(VENV)
