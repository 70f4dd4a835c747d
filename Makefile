# The two commands a user needs: `make run` and `make test`. Everything they need is installed
# by the targets below into .venv/ and .tools/.
SHELL := /bin/bash
# The interpreter .venv is made from: the system's CPython when it is 3.11+ with venv (Debian's
# is a statically linked, optimised build, as are the official images production runs on), else
# the first python3 on PATH. A pyenv build with default options (shared libpython, no PGO)
# served /users/me with ~35 % fewer requests per second, same code (README "The interpreter").
PYTHON ?= $(shell for p in /usr/bin/python3 python3; do \
	$$p -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test bench lint format install tools db-start db-stop clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

tools:
	bash scripts/install-tools.sh

run: install tools
	PORT=$(PORT) bash scripts/run.sh

# Parallel workers (pytest-xdist), each with its own embedded server and database: one per core
# plus one, since every worker spends part of its time waiting on its database.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))

test: install tools
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

bench: install tools
	$(PY) -m bench

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

db-start: install tools
	$(PY) -m app.embedded_server start

db-stop:
	$(PY) -m app.embedded_server stop

clean:
	rm -rf $(VENV) .tools .pytest_cache
