# The commands of the README: `make run`, `make test`, `make lock`. .venv is set up on first use.
PYTHON ?= python3
VENV ?= .venv
STAMP := $(VENV)/.installed-stamp

# Every dependency, the test extra's and the build backend's too, is installed at the version and
# sha256 of the locks (pip's hash-checking mode refuses anything else, and any dependency the locks
# do not name); then the project itself, built by the locked setuptools, without dependencies
# (setuptools' notice that an editable install is one is silenced).
$(STAMP): pyproject.toml requirements-test.lock requirements-build.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --require-hashes -r requirements-test.lock -r requirements-build.lock
	PYTHONWARNINGS='ignore:Editable installation' $(VENV)/bin/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

.PHONY: install run poll demo test bench lock lock-upgrade image
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

# The locks, from pyproject.toml, by pip-compile (pip-tools, in a virtualenv of its own), with the
# sha256 of every file PyPI has for each pinned release (so any platform's wheel installs). Taken
# from PyPI itself: a machine's own pip configuration (extra indexes, find-links, constraints) is
# ignored, so no local file or its hash can enter a lock. `make lock` keeps every pin that still
# satisfies pyproject.toml; `make lock-upgrade` moves every pin to the newest release allowed.
# The test lock is constrained by the runtime lock: the tests run the image's versions.
LOCK_VENV ?= .venv-lock
PIP_TOOLS := pip-tools==7.6.2
PYPI := https://pypi.org/simple
LOCK_ENV := env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PIP_CONSTRAINT PIP_CONFIG_FILE=/dev/null \
	CUSTOM_COMPILE_COMMAND="make lock"
COMPILE = $(LOCK_ENV) $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --index-url $(PYPI) $(LOCK_FLAGS)

lock:
	$(LOCK_ENV) $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_ENV) $(LOCK_VENV)/bin/pip install --quiet --index-url $(PYPI) '$(PIP_TOOLS)'
	$(COMPILE) --output-file requirements.lock pyproject.toml
	$(COMPILE) --extra test --constraint requirements.lock --output-file requirements-test.lock pyproject.toml
	$(COMPILE) --all-build-deps --only-build-deps --output-file requirements-build.lock pyproject.toml

lock-upgrade:
	$(MAKE) lock LOCK_FLAGS=--upgrade

# The image, labelled with what it is: version, the lock's sha256 and the commit (needs Docker).
VERSION = $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
image:
	docker build -t export-control-monitor:$(VERSION) --build-arg VERSION=$(VERSION) \
		--build-arg GIT_COMMIT=$$(git rev-parse HEAD) \
		--build-arg LOCK_SHA256=$$(sha256sum requirements.lock | cut -c1-64) .
