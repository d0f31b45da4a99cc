# The two commands of the README, and the installation they need.
#   make verify   - the main job: `alexnet verify` on the bundled default suite
#   make test     - the test suite (what CI runs)
# Both create .venv and install the project into it on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install verify test lint docs reproduce clean

$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e ".[test,docs,pipeline]"
	touch $(STAMP)

install: $(STAMP)

verify: $(STAMP)
	$(BIN)/alexnet verify

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

docs: $(STAMP)
	$(BIN)/alexnet docs build

reproduce: $(STAMP)
	mkdir -p data
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

clean:
	rm -rf $(VENV) docs/_build docs/_generated .pytest_cache
