# Set-up on a fresh machine: `make demo` (install + the main job) or `make test` (install + tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOOT := $(VENV)/bin/hoot

.PHONY: install demo test test-all clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(HOOT) advise --target mobile --task classification

test: install
	$(PY) -m pytest -q

test-all: install
	$(PY) -m pytest -q -m ''

clean:
	rm -rf $(VENV) build *.egg-info
