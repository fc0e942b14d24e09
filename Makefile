# Everything runs inside .venv, created on first use from requirements.txt.
# `make serve` and `make docs` only add environment setup to plain MkDocs:
# executing the chapters happens inside the build (tooling/cnn_tutorial_docs).

PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: env test test-fast docs serve serve-zh serve-en clean page

env: $(STAMP)

CHECK_VERSION := import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 13) else "Python 3.11, 3.12 or 3.13 is needed, found " + sys.version.split()[0] + " in " + sys.prefix + " (set PYTHON=/path/to/python3.X; remove a .venv made with another Python)")

$(STAMP): requirements.txt pyproject.toml tooling/pyproject.toml
	@$(PYTHON) -c '$(CHECK_VERSION)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c '$(CHECK_VERSION)'  # a .venv made by hand (the installation page's recipe) is checked too
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e . -e tooling
	touch $@

test: $(STAMP)
	$(BIN)/python -m pytest

# The writing loop: everything but the whole-site build, the browser tests and the tests marked
# slow (throw-away builds that start kernels, process groups); `make test` runs them all.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not site and not browser and not slow"

docs: $(STAMP)
	$(BIN)/mkdocs build --strict

serve: $(STAMP)
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

# The writing loop: one language only (served at the root, no language switch), so a
# saved edit is on the page in about 4 s instead of 8 (mkdocs-static-i18n's build_only_locale).
serve-zh: $(STAMP)
	BUILD_ONLY_LOCALE=zh $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

serve-en: $(STAMP)
	BUILD_ONLY_LOCALE=en $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

clean:
	rm -rf site .cache

.PHONY: bench bench-training bench-determinism bench-lighthouse
bench: $(STAMP)
	$(BIN)/python tests/bench.py

bench-lighthouse: $(STAMP)   # only the Lighthouse medians, on the working tree's site (chapters' cache reused)
	$(BIN)/python tests/bench.py --only lighthouse

bench-training: $(STAMP)   # only the training throughput table, no site build
	$(BIN)/python tests/bench.py --only training

# Execute one chapter as the build does: make page PAGE=docs/zh/rnn.md [FIGURES=/tmp/rnn]
page: $(STAMP)
	$(BIN)/python -m cnn_tutorial_docs.run_page $(PAGE) $(if $(FIGURES),--figures $(FIGURES))

bench-determinism: $(STAMP)   # every chapter executed twice, printed text compared (timings masked)
	$(BIN)/python tests/bench.py --only determinism
