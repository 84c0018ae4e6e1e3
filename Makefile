# Two entry points: `make demo` (the main job) and `make test` (the whole suite).
# Each creates the local virtual environment it needs on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test check bench browser clean

$(STAMP): pyproject.toml $(wildcard examples/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' $(foreach d,$(wildcard examples/*/pyproject.toml),-e $(dir $(d)))
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m dpo_frames.demo

# The whole suite: the house rules first (one style, typed, layered), then the tests.
test: check browser
	$(PY) -m pytest -q

check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# The HTML report is tested in headless Chromium (Debian's package; needs root to install).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium for the report test (apt-get)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

bench: $(STAMP)
	$(PY) benchmarks/run.py --sizes 10k,100k,1M

clean:
	rm -rf $(VENV)
