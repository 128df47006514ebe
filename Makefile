# Every target sets up the project's own virtual environment first (idempotent).
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	rm -rf runs/demo
	$(VENV)/bin/rnncondense train configs/default.toml --out runs/demo
	$(VENV)/bin/rnncondense evaluate runs/demo
	$(VENV)/bin/rnncondense plot runs/demo

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/run.py --out benchmarks/results/bench.json

clean:
	rm -rf $(VENV) runs .pytest_cache
