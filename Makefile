# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= $(or $(IMAGEBOARD_PORT),8080)
export IMAGEBOARD_PORT := $(PORT)

.PHONY: run test lint install install-dev browser ops-tools demo messages bench soak clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## Serve the site on http://127.0.0.1:$(PORT) with the embedded defaults (SQLite, local disk).
run: install
	$(BIN)/imageboard init
	$(BIN)/imageboard serve --port $(PORT)

## Fill the boards with demo threads.
demo: install
	$(BIN)/imageboard init
	$(BIN)/imageboard demo

## Headless Chromium for the browser tests: Debian's package where we are root, else Playwright's.
browser: install-dev
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else $(BIN)/playwright install chromium; fi

## Debian tools for tests/deploy: nginx, prometheus and promtool (kubectl comes with the machine).
ops-tools:
	@if ! command -v nginx >/dev/null || ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null || ! command -v openssl >/dev/null || ! command -v varnishd >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx prometheus openssl varnish >/dev/null; \
		else echo "make: tests/deploy need nginx and prometheus: apt-get install nginx prometheus openssl varnish (as root)" >&2; exit 1; fi; \
	fi

## Install the development tools and run the whole test suite.
test: install-dev browser ops-tools
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

## Extract UI strings into the translation template (then update the .po files).
messages: install-dev
	$(BIN)/pybabel extract -F babel.cfg -o src/imageboard/locale/messages.pot src/imageboard

## Benchmarks: `make bench` (about 10 min), `make bench BENCH_ARGS=--full`; see bench/RESULTS.md.
BENCH_ARGS ?=
bench: install
	@if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx >/dev/null; \
		else echo "make bench needs wrk and nginx (Debian: apt-get install wrk nginx)" >&2; exit 1; fi; \
	fi
	$(BIN)/pip install --quiet granian orjson py-spy
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## Long-running load with integrity audit and memory sampling (see docs/reliability.md).
SOAK_ARGS ?= --minutes 10
soak: install-dev
	$(BIN)/python -m tests.reliability.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
