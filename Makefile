# The README's two commands: `make lab` (set up, open the lessons offline) and
# `make test` (set up, run every test). Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LAB_STAMP := $(VENV)/.installed-lab
TEST_STAMP := $(VENV)/.installed-test
SANITIZE := notebooks/nbval-sanitize.cfg
# The workshop's venv stamp and JupyterHub's proxy (npm), used by `test` and `workshop` below.
WORKSHOP_STAMP := $(VENV)/.installed-workshop
CHP := .workshop/node_modules/.bin/configurable-http-proxy
APT_NODE := apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm

.PHONY: lab lab-ja test install browser notebooks bench doctor clean workshop proxy

# The library's message catalogs (ssmlab/i18n.py), compiled from their .po with Babel;
# ssmlab compiles a .po in memory when its .mo is missing or older, so this only saves time.
MO_FILES := $(patsubst %.po,%.mo,$(wildcard ssmlab/locale/*/LC_MESSAGES/ssmlab.po))

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(LAB_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@ $(LAB_STAMP)

ssmlab/locale/%/LC_MESSAGES/ssmlab.mo: ssmlab/locale/%/LC_MESSAGES/ssmlab.po | $(LAB_STAMP)
	$(BIN)/pybabel compile --statistics -i $< -o $@

install: $(LAB_STAMP) $(MO_FILES)

# JupyterLab refuses root ("Running as root is not recommended. Use --allow-root to
# bypass."), which Docker, dev containers and many CI images are: --allow-root only then.
# LAB_UID is who runs it (`id -u`; set it to see the other case with `make -n lab`).
# ssmlab/doctor.py's lab_arguments() is the same rule; `make doctor` starts JupyterLab
# with these very arguments. Stop the lab with Ctrl-C twice in this terminal.
LAB_UID ?= $(shell id -u)
LAB_ARGS := --notebook-dir=notebooks$(if $(filter 0,$(LAB_UID)), --allow-root)

lab: $(LAB_STAMP) $(MO_FILES)
	$(BIN)/jupyter lab $(LAB_ARGS)

# The Japanese edition (notebooks/ja), with JupyterLab's own interface in Japanese (the
# language pack; settings of its own, in .venv, so `make lab` keeps yours).
JA_SETTINGS := $(VENV)/jupyterlab-settings-ja
lab-ja: $(LAB_STAMP) $(MO_FILES)
	mkdir -p $(JA_SETTINGS)/@jupyterlab/translation-extension
	test -f $(JA_SETTINGS)/@jupyterlab/translation-extension/plugin.jupyterlab-settings || \
		echo '{"locale": "ja_JP"}' > $(JA_SETTINGS)/@jupyterlab/translation-extension/plugin.jupyterlab-settings
	JUPYTERLAB_SETTINGS_DIR=$(JA_SETTINGS) $(BIN)/jupyter lab $(subst --notebook-dir=notebooks,--notebook-dir=notebooks/ja,$(LAB_ARGS))

# tests/test_browser.py drives Debian's chromium with Playwright, which never downloads a
# browser: install the system package when it is missing (as root, else with sudo).
CHROMIUM ?= /usr/bin/chromium
APT_CHROMIUM := apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

browser: $(CHROMIUM)

$(CHROMIUM):
	@if [ "$@" = /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		$(APT_CHROMIUM); \
	elif [ "$@" = /usr/bin/chromium ] && command -v apt-get >/dev/null && command -v sudo >/dev/null; then \
		sudo sh -c '$(APT_CHROMIUM)'; \
	else \
		echo "$@ is missing: run 'sudo apt-get update && sudo apt-get install -y chromium' (Debian/Ubuntu), or set CHROMIUM=/path/to/chromium" >&2; \
		exit 1; \
	fi

# The Japanese edition's browser test and screenshots need a Japanese font, or its text
# shows as empty boxes: Debian's IPA Gothic, installed the same way.
JA_FONT ?= /usr/share/fonts/opentype/ipafont-gothic/ipag.ttf
APT_JA_FONT := apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fonts-ipafont-gothic

browser: $(JA_FONT)

$(JA_FONT):
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then $(APT_JA_FONT); \
	elif command -v apt-get >/dev/null && command -v sudo >/dev/null; then sudo sh -c '$(APT_JA_FONT)'; \
	else echo "$@ is missing: install a Japanese font (Debian: fonts-ipafont-gothic), or set JA_FONT=/path/to/font" >&2; exit 1; fi

test: $(TEST_STAMP) $(CHROMIUM) $(JA_FONT) $(MO_FILES) $(CHP)
	SSMLAB_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest --nbval --nbval-sanitize-with $(SANITIZE) tests notebooks

# A workshop room on JupyterHub (workshop/jupyterhub_config.py), on loopback for a dry run:
# JupyterHub from PyPI (the workshop extra), configurable-http-proxy from npm under
# .workshop/ (Node and npm from Debian's packages when missing: as root, else with sudo).
# The room's password is SSMLAB_HUB_PASSWORD (a dry-run one is made up when unset) and the
# facilitator's SSMLAB_HUB_ADMIN_PASSWORD; README's "Workshops" says how to open it to a room.

$(WORKSHOP_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[workshop]'
	touch $@

proxy: $(CHP)

$(CHP):
	@if ! command -v npm >/dev/null; then \
		if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then $(APT_NODE); \
		elif command -v apt-get >/dev/null && command -v sudo >/dev/null; then sudo sh -c '$(APT_NODE)'; \
		else echo "npm is missing: install Node.js and npm (Debian/Ubuntu: sudo apt-get install -y nodejs npm), then run make proxy" >&2; exit 1; fi; \
	fi
	npm install --silent --no-fund --no-audit --prefix .workshop configurable-http-proxy@5

MAKE_SECRET = $$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe($(1)))')

workshop: $(WORKSHOP_STAMP) $(CHP)
	@room="$${SSMLAB_HUB_PASSWORD:-$(call MAKE_SECRET,9)}"; admin="$${SSMLAB_HUB_ADMIN_PASSWORD:-$(call MAKE_SECRET,32)}"; \
	echo "Room password: $$room    facilitator ($${SSMLAB_HUB_ADMIN:-facilitator}): $$admin"; \
	SSMLAB_HUB_PASSWORD="$$room" SSMLAB_HUB_ADMIN_PASSWORD="$$admin" exec $(BIN)/jupyterhub -f workshop/jupyterhub_config.py

# Re-execute every lesson in a fresh kernel and rewrite its stored outputs; then generate
# the Japanese edition from them and their catalogs (ssmlab/translation.py) and execute it.
notebooks: $(TEST_STAMP) $(MO_FILES)
	$(BIN)/python -m ssmlab.notebooks notebooks/*.ipynb
	$(BIN)/python -m ssmlab.translation build
	$(BIN)/python -m ssmlab.notebooks notebooks/ja/*.ipynb

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/lessons.py

doctor: $(LAB_STAMP)
	SSMLAB_LAB_ARGS="$(LAB_ARGS)" $(BIN)/ssmlab doctor

clean:
	rm -rf $(VENV) .pytest_cache
