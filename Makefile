# Every target sets up the project's own virtual environment first (idempotent).
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed
DEMO_OUT ?= runs/demo

.PHONY: setup browser demo test bench bench-baseline bench-dsa-baseline import-baseline neurogym-demo clean configs/default.toml

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/rnncondense study configs/study.toml --out $(DEMO_OUT) --preset quick

# The suite on every core, at most 4 (most tests keep one core busy); a test file runs whole on one
# worker, so the expensive fixtures a file shares are built once. TEST_WORKERS=0 runs it in-process.
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(min(4, len(os.sched_getaffinity(0))))")
test: setup browser
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# The report test opens the page in Debian's headless Chromium; install it when absent.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update -q && apt-get install -y -q chromium chromium-driver)

bench: setup
	$(PY) benchmarks/run.py --out benchmarks/results/bench.json

# A throwaway environment with the `hessianfree` package (numpy < 2), only for the comparison in
# benchmarks/bench_hessian_free.py; it is not a dependency of the project.
bench-baseline:
	$(PYTHON) -m venv .bench-baseline
	.bench-baseline/bin/python -m pip install --quiet "numpy<2" "scipy<1.14" "matplotlib<3.9" hessianfree==0.4.0

# Every field with its default, generated from the config models (a test checks the file is current).
configs/default.toml: setup
	$(PY) -c "from rnncondense.config import default_config_toml; print(default_config_toml(), end='')" > $@

# A throwaway environment with the authors' DSA package (dsa-metric 2.0.2, which needs PyTorch), only for
# the comparison in benchmarks/bench_dsa.py; it is not a dependency of the project. torch is pinned and
# installed first (the CPU build where one is on disk), so that the package's plain `torch` does not
# pull a several-GB CUDA build.
bench-dsa-baseline:
	$(PYTHON) -m venv .bench-dsa-baseline
	.bench-dsa-baseline/bin/python -m pip install --quiet torch==2.13.0
	.bench-dsa-baseline/bin/python -m pip install --quiet dsa-metric==2.0.2
# Throwaway environments with PyTorch (CPU) and with TensorFlow + PsychRNN 1.0, only for
# benchmarks/import_baseline.py (imported networks against the packages that built them); neither
# is a dependency of the project. torch==2.13.0 is the CPU build where a local wheel exists; PsychRNN
# asks for the full tensorflow package, so it goes in without its dependencies, beside tensorflow-cpu.
IMPORT_BASELINE ?= .import-baseline
import-baseline: setup
	$(PYTHON) -m venv $(IMPORT_BASELINE)/torch
	$(IMPORT_BASELINE)/torch/bin/python -m pip install --quiet torch==2.13.0 safetensors numpy
	$(PYTHON) -m venv $(IMPORT_BASELINE)/tf
	$(IMPORT_BASELINE)/tf/bin/python -m pip install --quiet tensorflow-cpu==2.21.0 safetensors
	$(IMPORT_BASELINE)/tf/bin/python -m pip install --quiet --no-deps psychrnn==1.0.0
	RNNCONDENSE_TORCH_PYTHON=$(IMPORT_BASELINE)/torch/bin/python RNNCONDENSE_TF_PYTHON=$(IMPORT_BASELINE)/tf/bin/python \
		$(PY) benchmarks/import_baseline.py --out benchmarks/results/import_baseline.json

# benchmarks/neurogym_end_to_end.py: a NeuroGym task from the command line, sampled, trained (64
# units), condensed to half size and reported. NeuroGym is an optional extra; it goes into its own
# environment (with torch, which neurogym 2.3 imports), and only its sampling runs there.
NEUROGYM_DEMO ?= .neurogym-demo
neurogym-demo: setup
	$(PYTHON) -m venv $(NEUROGYM_DEMO)
	$(NEUROGYM_DEMO)/bin/python -m pip install --quiet torch==2.13.0 -e '.[neurogym]'
	RNNCONDENSE_NEUROGYM_PYTHON=$(NEUROGYM_DEMO)/bin/python \
		$(PY) benchmarks/neurogym_end_to_end.py --dir runs/neurogym-demo --out benchmarks/results/neurogym_end_to_end.json

clean:
	rm -rf $(VENV) runs .pytest_cache
