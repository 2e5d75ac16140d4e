# The README's two commands: `make lab` (set up, open the lessons offline) and
# `make test` (set up, run every test). Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LAB_STAMP := $(VENV)/.installed-lab
TEST_STAMP := $(VENV)/.installed-test
SANITIZE := notebooks/nbval-sanitize.cfg

.PHONY: lab test install notebooks bench doctor clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(LAB_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@ $(LAB_STAMP)

install: $(LAB_STAMP)

lab: $(LAB_STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

test: $(TEST_STAMP)
	$(BIN)/python -m pytest --nbval --nbval-sanitize-with $(SANITIZE) tests notebooks

# Re-execute every lesson in a fresh kernel and rewrite its stored outputs.
notebooks: $(TEST_STAMP)
	$(BIN)/python -m ssmlab.notebooks notebooks/*.ipynb

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/lessons.py

doctor: $(LAB_STAMP)
	$(BIN)/ssmlab doctor

clean:
	rm -rf $(VENV) .pytest_cache
