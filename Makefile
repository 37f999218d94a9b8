# Set-up on a fresh machine: `make demo` (install + the main job) or `make test` (install + tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOOT := $(VENV)/bin/hoot

.PHONY: install demo test test-all test-gpu clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[test,ondevice]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(HOOT) advise --target mobile --task classification

test: install
	$(PY) -m pytest -q

# real CUDA tests (tests marked `gpu`); they skip with a reason where no CUDA device exists
test-gpu: install
	$(PY) -m pytest -q -m gpu

test-all: install
	$(PY) -m pytest -q -m ''

clean:
	rm -rf $(VENV) build *.egg-info
