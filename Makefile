# d2lmha — two commands: `make lab` opens the course, `make test` passes the tests.
# Each installs what it needs into .venv first (once; again when pyproject.toml changes).
# instructor only: `make release` leaves the blocks so marked out of the students' copy
# More: `make e2e` (the course in a real browser), `make slides`, `make grade`, `make lint`,
# `make format` and `make notebook-meta` (mechanical, re-runnable fixes; see CONTRIBUTING.md);
# `make release` (the students' copy), `make links` (nbgitpuller links for a hub) and
# `make site` (the course as a website, both editions).
# end instructor only
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
PYTEST_ARGS ?= -n 2 --dist loadscope --no-loadscope-reorder
# make e2e: the learner's chapters in one browser, the hand-out and the class loop in another.
E2E_ARGS    ?= -n 2 --dist loadfile
# Extra arguments for `jupyter lab` (make e2e passes --no-browser, a port and a token).
LAB_ARGS    ?=
# JupyterLab refuses to run as root (e.g. in a container) unless told it may.
LAB_ROOT    := $(if $(filter 0,$(shell id -u)),--allow-root,)
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The translated editions' codes and the pyproject extras they need, as in d2lmha/editions.py
# (tests/test_zh.py checks that they agree): a new edition is added there and here.
EDITIONS       := zh
EDITION_EXTRAS := zh
empty :=
space := $(empty) $(empty)
comma := ,
INSTALL_EXTRAS := $(subst $(space),$(comma),lab grade test e2e site $(EDITION_EXTRAS))

.PHONY: install lab test clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH_INDEX) "$(TORCH)"
	$(PY) -m pip install -q -e ".[$(INSTALL_EXTRAS)]"
	# d2l 1.0.3 is the reference the tests compare against. Its pins (numpy==1.23.5,
	# matplotlib==3.7.2, ...) do not install here, so only its source is installed.
	$(PY) -m pip install -q --no-deps d2l==1.0.3
	touch $(STAMP)

# The server is rooted at the repository (so notebooks/, exercises/ and solutions/ all show in
# the file browser and the links between them open); chapter 00 opens first, in English, or in
# Chinese with `make lab LANG=zh` (中文版), as on a machine whose locale is Chinese (LANG=zh_CN...).
# EDITIONS: the translated editions' codes (their folders), as in d2lmha/editions.py.
EDITION := $(firstword $(foreach e,$(EDITIONS),$(if $(filter $(e)%,$(LANG)),$(e)/,)))
lab: $(STAMP)
	$(if $(filter $(EDITIONS) en,$(LANG)),env -u LANG,) $(VENV)/bin/jupyter lab $(LAB_ROOT) \
	  --ServerApp.root_dir="$(CURDIR)" $(LAB_ARGS) notebooks/$(EDITION)00_overview.ipynb

# Two xdist workers on two cores: one torch thread each (OMP_NUM_THREADS=1), since torch's
# default of one thread per core per process oversubscribes and slows small models ~10x.
# --dist loadscope: a notebook's cells stay on one worker, in one kernel; in the order
# conftest.py gives (--no-loadscope-reorder): bigger files first, the 中文 chapters last.
# In the instructor's copy: every test. Lint runs inside the suite too (tests/test_lint.py);
# `make lint` alone is quicker. The student notebooks (exercises/) and the solutions are run
# by the grading tests, as blank and as full-marks submissions, which fail if any of their
# cells raises or (solutions) if a cell marked NBVAL_CHECK_OUTPUT prints other than its saved
# output (tests/test_grading_sets.py), so nbval does not run them a second time. In a students' copy (`make release`: no tests/, no solutions/):
# every chapter and every blank exercise set, both editions, run by nbval (a cell that
# raises fails; the chapters' checked outputs must match).
# tests/no_iri_grammar first on PYTHONPATH: every process that imports nbformat (otter, the
# grader, the kernels of the exercise and solution notebooks) skips a grammar nothing here
# uses, about 1.5 s of CPU each (see the module's docstring).
TEST_PATHS := $(if $(wildcard solutions),tests notebooks,notebooks exercises)
TEST_PYTHONPATH := $(CURDIR)/tests/no_iri_grammar$(if $(PYTHONPATH),:$(PYTHONPATH))
test: $(STAMP) $(if $(wildcard solutions),sandbox)
	OMP_NUM_THREADS=1 $(if $(wildcard tests/no_iri_grammar),PYTHONPATH="$(TEST_PYTHONPATH)") $(VENV)/bin/pytest $(PYTEST_ARGS) --nbval-lax --nbval-current-env $(TEST_PATHS)

clean:
	rm -rf $(VENV) build dist .pytest_cache

# instructor only: from here to the end, the instructor's targets (not in a students' copy)
SUBMISSIONS ?= submissions
GRADE_ARGS  ?=
CODE        := d2lmha tests benchmarks tools e2e conftest.py
NOTEBOOK_DIRS := notebooks exercises solutions
# make release / make links: the students' copy, its repository and the branch it is on.
DEST        ?= build/release
REPO_URL    ?=
REF         ?=
HUB         ?=

.PHONY: sandbox unit lint format notebook-meta notebooks zh exercises grade bench bench-grading \
        e2e chromium slides release links

# The students' copy, to hand out: a new git repository in $(DEST) (one commit on branch
# $(REF)) with the chapters, the student notebooks and the package, and no solutions, hidden
# tests or instructor's guide; every Colab, Binder and install link points at $(REPO_URL) at
# $(REF). Then push it: git -C $(DEST) push $(REPO_URL) $(REF). See tools/release.py.
release: $(STAMP)
	@test -n "$(REPO_URL)" -a -n "$(REF)" || { echo "usage: make release DEST=dir REPO_URL=url REF=branch"; exit 2; }
	$(PY) -m tools.release "$(DEST)" "$(REPO_URL)" "$(REF)"

# One nbgitpuller link per chapter and exercise set, both editions, for a JupyterHub at $(HUB)
# handing out the students' copy at $(REPO_URL), branch $(REF): edition, kind, path, link.
links:
	@test -n "$(REPO_URL)" -a -n "$(REF)" -a -n "$(HUB)" || { echo "usage: make links REPO_URL=url REF=branch HUB=https://hub"; exit 2; }
	@$(if $(wildcard $(PY)),$(PY),$(PYTHON)) -m tools.links "$(REPO_URL)" "$(REF)" "$(HUB)"

# The course as a website, both editions: build/site/index.html (English) and
# build/site/zh/index.html (中文), from the committed notebooks (nothing is run), by Sphinx and
# myst-nb; it works offline (MathJax and the widget manager copied from npm). HUB=https://hub
# adds each exercise set's nbgitpuller link. See tools/site.py; checked by e2e/test_site.py.
.PHONY: site
site: $(STAMP)
	$(PY) -m tools.site build/site $(if $(HUB),--hub "$(HUB)")

unit: $(STAMP)
	$(VENV)/bin/pytest tests

lint: $(STAMP)
	$(VENV)/bin/ruff check $(CODE)
	$(VENV)/bin/ruff format --check $(CODE)
	$(VENV)/bin/nbqa ruff $(NOTEBOOK_DIRS)

# Mechanical and re-runnable: ruff's formatter and safe fixes on the code; nbqa's safe fixes on
# the chapters (exercises are generated from solutions/, so they are only linted).
format: $(STAMP)
	$(VENV)/bin/ruff format $(CODE)
	$(VENV)/bin/ruff check --fix $(CODE)
	$(VENV)/bin/nbqa ruff --fix notebooks

# Mechanical and re-runnable on every notebook: the Colab set-up cell first and the Colab/Binder
# links (from pyproject.toml's [project.urls] Repository and version), slide types, and
# transient metadata stripped (outputs and execution counts kept).
# tests/test_notebook_meta.py checks the result.
notebook-meta: $(STAMP)
	$(PY) -m tools.notebooks all

# Re-execute the chapters in place (they are committed executed), then the 中文 edition.
notebooks: $(STAMP)
	$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.timeout=600 notebooks/*.ipynb
	$(PY) -m tools.notebooks strip notebooks
	$(MAKE) zh

# The 中文 edition from the English notebooks and translations/zh/ (see tools/zh.py): re-make
# every Chinese twin, run those whose code changed, rebuild the Chinese student notebooks.
zh: $(STAMP)
	$(PY) -m tools.zh sync
	$(PY) -m tools.zh execute
	$(PY) -m tools.zh exercises

# Regenerate the student notebooks from the solution sources (both editions).
exercises: $(STAMP)
	$(PY) -m d2lmha.grading assign
	$(PY) -m tools.notebooks all exercises
	$(PY) -m tools.zh sync solutions
	$(PY) -m tools.zh execute solutions
	$(PY) -m tools.zh exercises

# Grade every notebook under $(SUBMISSIONS) (a folder or an LMS's .zip), each in its own
# bubblewrap sandbox; prints the CSV path (the gradebook and feedback/ are beside it).
# ROSTER=roster.csv maps files to students. GRADE_ARGS=--resume keeps the rows of an
# interrupted run; GRADE_ARGS="--shard 0/3" grades a third (join with merge).
grade: $(STAMP) sandbox
	$(PY) -m d2lmha.grading grade "$(SUBMISSIONS)" $(if $(ROSTER),--roster "$(ROSTER)") $(GRADE_ARGS)

# bubblewrap (bwrap), the grader's sandbox: installed with apt when missing, if we are root.
# Where it cannot be installed, `make grade` stops and says what to install.
sandbox:
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; } || \
	  echo "bubblewrap is not installed and could not be installed here: install the" \
	       "'bubblewrap' package to grade submissions (make grade) and run the grading tests"

bench: $(STAMP)
	$(PY) -m benchmarks

# Grading throughput: seconds per submission, sandboxed, against `otter run`; then a class of
# 20 with one hostile submission of each known kind added (about half an hour in all).
bench-grading: $(STAMP) sandbox
	OMP_NUM_THREADS=1 $(PY) -m benchmarks.grading
	OMP_NUM_THREADS=1 $(PY) -m benchmarks.grading --hostile-only

# The learner's path in a real browser: JupyterLab (started by `make lab`) driven by Playwright
# in Debian's chromium (installed with apt when missing; Playwright never downloads a browser).
# Then a hub's hand-out and the whole class loop: make release, an nbgitpuller link, a learner's
# answers saved, make grade on them, the gradebook and the feedback page (e2e/test_class_loop.py).
# Screenshots of failures: build/e2e/. Several minutes: it runs every chapter.
e2e: $(STAMP) chromium
	OMP_NUM_THREADS=1 $(VENV)/bin/pytest -p no:cacheprovider $(E2E_ARGS) e2e

chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || \
	  { echo "chromium is not installed and could not be installed here: install Debian's" \
	         "'chromium' package to run make e2e"; exit 1; }
	@# The browser's own CJK font, for the Chinese prose (figures use the one from mplfonts).
	@fc-list :lang=zh-cn 2>/dev/null | grep -q . || { [ "$$(id -u)" = 0 ] \
	  && apt-get install -y -qq fonts-noto-cjk >/dev/null; } || \
	  echo "no Chinese font for chromium: install Debian's 'fonts-noto-cjk' (make e2e checks zh)"

# Every chapter as reveal.js slides for a lecture: build/slides/NN_name.slides.html
# (NN_name.zh.slides.html in Chinese), 1280x720. reveal.js, RequireJS and MathJax come from
# their npm packages (build/slides/vendor; npm is required) and nothing else is loaded from
# another host, so the decks open offline. Every slide fits the canvas: tools/slides.py moves
# prose that does not fit into the speaker notes (press S) and continues the rest on sub-slides;
# e2e/test_slides.py checks every slide in Chromium. The 16 decks of 00-07: about 12 s of CPU (measured
# on 2 shared cores, 31-54 s wall under a load of 8-12).
slides: $(STAMP)
	$(PY) -m tools.slides build/slides
# end instructor only
