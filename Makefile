# The README's two commands: `make book` and `make test`. Both create or refresh .venv from
# the exact pins in requirements.txt first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.advproof-stamp
# Deterministic, quiet notebook runs: no progress bars, fixed thread counts and CPU instruction
# set (the same values as src/advproof/environment.py, which the root conftest applies).
export TQDM_DISABLE := 1
export OMP_NUM_THREADS := 2
export MKL_NUM_THREADS := 2
export ATEN_CPU_CAPABILITY := avx2
export MKL_CBWR := COMPATIBLE
export OPENBLAS_CORETYPE := Haswell
export DNNL_MAX_CPU_ISA := AVX2
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: venv book pages test lint verify warm nbval notebooks sysdeps clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "advproof needs Python 3.11, found " + sys.version.split()[0]'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The quick-mode experiment runs that the checks, pages and notebooks read, computed into the
# cache (~/.cache/advproof, or $ADVPROOF_CACHE) by two processes at once; a no-op when present.
warm: venv
	$(VENV)/bin/advproof warm --jobs 2

# Generated pages (ledger, errata) and the offline MathJax bundle, then the HTML book from the
# notebooks' stored outputs (no second execution), warnings as errors.
pages: venv warm
	$(PY) -m advproof.cli pages --out book/_generated

book: pages
	bash scripts/install-system-deps.sh book
	$(PY) scripts/build_book.py
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

sysdeps:
	bash scripts/install-system-deps.sh test

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks scripts

verify: venv
	$(VENV)/bin/advproof verify

# The whole suite: lint, claims (with negative controls), unit tests, nbval over every notebook
# (strict), and the book built and opened in headless Chromium with the network off.
test: venv sysdeps lint verify warm
	$(VENV)/bin/pytest tests notebooks --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

nbval: venv
	$(VENV)/bin/pytest --nbval notebooks --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

# Re-execute every notebook in place (quick mode) and store the fresh outputs.
notebooks: venv
	$(PY) scripts/execute_notebooks.py notebooks/*.ipynb

clean:
	rm -rf _build book/_generated .mathjax
