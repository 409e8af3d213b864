# ffrepro: `make book` rebuilds every result and the site; `make test` runs the test suite (the site's pages
# included, in headless Chromium); `make publish` pushes the built site to the gh-pages branch with ghp-import,
# and refuses a site built from smoke results, from results files not committed as they were read, from a
# tree with uncommitted changes, or onto a source branch (ffrepro/publish.py).
#   PROFILE=paper|cpu|smoke  which scale to run: default paper where an NVIDIA GPU answers, cpu elsewhere (on
#                            a CPU, `make book` then trains nothing the committed results already hold, and
#                            the chapters' tables still show every committed paper-scale result)
#   FRESH=1                  recompute results even when results for the same config are on disk
#   SEEDS="0 1 2"            seeds to run (default 0)
#   DRY_RUN=1                `make publish`: run its checks and print what would be pushed, push nothing

SHELL := /bin/bash
PROFILE ?= $(shell nvidia-smi -L >/dev/null 2>&1 && echo paper || echo cpu)
SEEDS ?= 0
PYTHON_BASE ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NOTEBOOKS := $(wildcard book/notebooks/*.md)
MATHJAX := book/_extra/mathjax/tex-mml-chtml.js
FRESH_FLAG := $(if $(filter 1,$(FRESH)),--fresh,)

.PHONY: preflight campaign book test bench venv data data-cifar10 results notebooks site clean-site queue paper jobs publish

# The pip requirements are derived from environment.yml's `pip:` block, the one list of dependencies.
$(VENV)/requirements.txt: environment.yml
	@mkdir -p $(VENV)
	sed -n '/- pip:/,$$p' environment.yml | tail -n +2 | sed -n 's/^ *- //p' > $@

$(STAMP): $(VENV)/requirements.txt
	[ -x $(PY) ] || $(PYTHON_BASE) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r $(VENV)/requirements.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

venv: $(STAMP)

data: $(STAMP)
	$(PY) -m ffrepro data all

data-cifar10: $(STAMP)
	$(PY) -m ffrepro data cifar10

# MathJax for offline math: the npm package's es5 build, without its speech-rule data.
$(MATHJAX):
	rm -rf book/_extra/mathjax && mkdir -p book/_extra/mathjax
	tmp=$$(mktemp -d) && (cd $$tmp && npm pack mathjax@3.2.2 --silent >/dev/null && tar xzf mathjax-3.2.2.tgz) \
	  && cp -r $$tmp/package/es5/. book/_extra/mathjax/ && rm -rf book/_extra/mathjax/sre $$tmp

# Every entry and its variants (a study such as mnist-ff-sleep is an entry with many variants), and the
# memory study (not a training run: ffrepro/memory.py).
results: data
	$(PY) -m ffrepro run all --profile $(PROFILE) --seed $(SEEDS) $(FRESH_FLAG)
	$(PY) -m ffrepro memory --profile $(PROFILE) $(FRESH_FLAG)

# Every results file the notebooks read (BLOB PATH), copied into the site with book/_extra/; `make publish`
# refuses a site that read one not committed as it was read (ffrepro/publish.py).
RESULTS_READ := book/_extra/downloads/results-read.txt

# Each chapter's source, a MyST markdown notebook (book/notebooks/NAME.md), is converted to a notebook on the
# fly (ffrepro/book.py, jupytext) and executed by papermill from its stdin into book/executed/NAME.ipynb.
notebooks: $(STAMP)
	mkdir -p book/executed
	rm -f $(RESULTS_READ)
	set -eo pipefail; for nb in $(NOTEBOOKS); do \
	  $(PY) -m ffrepro.book --ipynb $$nb | PYTHONPATH=$(CURDIR) FFREPRO_RESULTS_READ=$(CURDIR)/$(RESULTS_READ) \
	    PYTHONWARNINGS="ignore:the file is not specified with any extension" \
	    $(PY) -m papermill - book/executed/$$(basename $$nb .md).ipynb -k python3 --cwd book/notebooks \
	    -p profile $(PROFILE) -y "seeds: [$$(echo $(SEEDS) | sed 's/ /, /g')]" --log-level WARNING; done

# The table of contents and the first page's list of chapters are written from the pages' records (ffrepro/book.py).
site: $(STAMP) $(MATHJAX)
	$(PY) -m ffrepro.book book
	$(VENV)/bin/jupyter-book build -W -n --keep-going book/

book: results notebooks site
	@echo "site: book/_build/html/index.html"

# The site as built (no rebuild: `make notebooks site PROFILE=cpu` first, from the committed results).
publish: $(STAMP)
	$(PY) -m ffrepro publish $(if $(filter 1,$(DRY_RUN)),--dry-run,)

# Every missing (experiment, seed) of PROFILE as parallel processes: BUDGET minutes, PARALLEL at a time.
BUDGET ?= 60
PARALLEL ?= 4
queue: data
	$(PY) -m ffrepro queue --profile $(PROFILE) --seeds $(SEEDS) --parallel $(PARALLEL) --budget $(BUDGET)

# The paper profile on a GPU (issue 12): every missing or incomplete (entry or variant, seed) for
# seeds 0, 1 and 2, PARALLEL processes sharing the GPU, for BUDGET minutes; rerun to resume.
# STACK=1: an entry's missing seeds train as one stacked model in one process where its config allows.
paper: data
	$(PY) -m ffrepro queue --profile paper --seeds 0 1 2 --parallel $(PARALLEL) --budget $(BUDGET) $(if $(filter 1,$(STACK)),--stack)

# The MNIST paper-profile campaign on this CPU (issue 27), resumed each working day: scripts/campaign.sh
# (a worktree pinned at a commit, checkpoints in ~/ffrepro-checkpoints, nice'd); `scripts/campaign.sh
# status` says what runs and when it will finish, `scripts/campaign.sh land` brings finished seeds here.
campaign: data
	scripts/campaign.sh start

# The same jobs as make targets of their own, for `make -j N jobs PROFILE=paper SEEDS="0 1 2"`: one
# process per (entry, seed), no time budget. Each target is "job/ID@SEED".
JOB_LIST = $(shell [ -x $(PY) ] && $(PY) -m ffrepro queue --list --profile $(PROFILE) --seeds $(SEEDS) 2>/dev/null | tr ' ' '@')
jobs: data
	$(MAKE) $(addprefix job/,$(JOB_LIST))
job/%:
	$(PY) -m ffrepro run $(firstword $(subst @, ,$*)) --profile $(PROFILE) --seed $(lastword $(subst @, ,$*)) --no-progress

# What the suite needs besides the environment, checked in its first seconds: a browser for the site's pages.
preflight:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null || [ -x "$$FFREPRO_CHROMIUM" ] \
	  || { echo "make test: chromium is missing (the site's pages are checked in it): apt-get install chromium, or set FFREPRO_CHROMIUM to a browser; .ci/run installs it"; exit 2; }

test: preflight data $(MATHJAX)
	$(PY) -m pytest -q --durations=15 tests

bench: data
	$(PY) -m ffrepro bench

clean-site:
	rm -rf book/_build book/executed $(RESULTS_READ)
