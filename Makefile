# d2lmha — two commands: `make lab` opens the course, `make test` passes the tests.
# Each installs what it needs into .venv first (once; again when pyproject.toml changes).
#
# TORCH picks the PyTorch build installed before everything else. The default,
# torch==2.13.0, is the CPU wheel on machines that provide one locally and PyPI's
# default build elsewhere. For a CPU-only build on Linux pass PyTorch's CPU index:
#   make lab TORCH_INDEX="--index-url <PyTorch CPU wheel index>"
# or install any torch>=2.5 into .venv yourself first: it is kept.

PYTHON      ?= python3
VENV        ?= .venv
TORCH       ?= torch==2.13.0
TORCH_INDEX ?=
PYTEST_ARGS ?= -n 2 --dist loadscope
SUBMISSIONS ?= submissions
# JupyterLab refuses to run as root (e.g. in a container) unless told it may.
LAB_ARGS    ?= $(if $(filter 0,$(shell id -u)),--allow-root,)
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install sandbox lab test unit notebooks exercises grade bench bench-grading clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH_INDEX) "$(TORCH)"
	$(PY) -m pip install -q -e ".[lab,grade,test]"
	# d2l 1.0.3 is the reference the tests compare against. Its pins (numpy==1.23.5,
	# matplotlib==3.7.2, ...) do not install here, so only its source is installed.
	$(PY) -m pip install -q --no-deps d2l==1.0.3
	touch $(STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab $(LAB_ARGS) notebooks/00_overview.ipynb

# Two xdist workers on two cores: one torch thread each (OMP_NUM_THREADS=1), since torch's
# default of one thread per core per process oversubscribes and slows small models ~10x.
test: $(STAMP) sandbox
	OMP_NUM_THREADS=1 $(VENV)/bin/pytest $(PYTEST_ARGS) --nbval-lax --nbval-current-env tests notebooks exercises solutions

unit: $(STAMP)
	$(VENV)/bin/pytest tests

# Re-execute the chapters in place (they are committed executed).
notebooks: $(STAMP)
	$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace notebooks/*.ipynb

# Regenerate the student notebooks from the solution sources.
exercises: $(STAMP)
	$(PY) -m d2lmha.grading assign

# Grade every .ipynb in $(SUBMISSIONS), each in its own bubblewrap sandbox; prints the CSV path.
grade: $(STAMP) sandbox
	$(PY) -m d2lmha.grading grade "$(SUBMISSIONS)"

# bubblewrap (bwrap), the grader's sandbox: installed with apt when missing, if we are root.
# Where it cannot be installed, `make grade` stops and says what to install.
sandbox:
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; } || \
	  echo "bubblewrap is not installed and could not be installed here: install the" \
	       "'bubblewrap' package to grade submissions (make grade) and run the grading tests"

bench: $(STAMP)
	$(PY) -m benchmarks

# Grading throughput: seconds per submission, sandboxed, against `otter run` (several minutes).
bench-grading: $(STAMP) sandbox
	OMP_NUM_THREADS=1 $(PY) -m benchmarks.grading

clean:
	rm -rf $(VENV) build dist .pytest_cache
