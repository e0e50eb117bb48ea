# The two commands of the README: `make run` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV ?= .venv
STAMP := $(VENV)/.installed-stamp

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

.PHONY: install run poll demo test bench
install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/monitor run

poll: $(STAMP)
	$(VENV)/bin/monitor poll

demo: $(STAMP)
	$(VENV)/bin/monitor demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

bench: $(STAMP)
	$(VENV)/bin/python bench/store.py --events 1000000 --json
