# billable: two commands to remember, `make run` and `make test`. Everything else here serves them.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet
PG_HOST ?= 127.0.0.1
PG_PORT ?= 5432

# Debian packages the project needs on the machine. `make sysdeps` installs the missing ones.
# The invoice PDFs' font, DejaVu Sans (Typst reads it from its folder; Typst does not slant a font itself, so the
# oblique the subtotals use comes from fonts-dejavu-extra); WeasyPrint (a company's own HTML template): Pango and
# HarfBuzz subsetting.
SYSDEPS := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core fonts-dejavu-extra
# Only for `make test`: the dashboard's browser tests drive Debian's Chromium through Playwright (never a download).
TEST_SYSDEPS := chromium

.PHONY: help run test bench lint lock sysdeps test-sysdeps install-missing postgres clean fuzz reliability

help:
	@echo "make run    install, migrate the SQLite file, load the demo (first run), serve on http://127.0.0.1:8000"
	@echo "make test   install with dev extras, ruff, mypy, import contracts, pytest on SQLite and PostgreSQL"
	@echo "make bench  every benchmark (benchmarks/month_end.py, render.py, ingest.py on PostgreSQL with the embedded worker"
	@echo "            and with 2 worker processes, on SQLite as information, dashboard.py, slack_ack.py, understanding.py,"
	@echo "            import.py, accounting.py, accounting_inbound.py); one section of benchmarks/RESULTS.md with each"
	@echo "            figure's goal and MET or MISSED, date, commit, load average at start and end; a summary line"
	@echo "make lint   ruff, mypy and the import contracts only"
	@echo "make fuzz   a larger Schemathesis run over the API (both databases); prints how many cases it tried"
	@echo "make reliability  the reliability suite, heavy (kills and restarts a private PostgreSQL it creates, never"
	@echo "                  the machine's); prints its table of figures"
	@echo "make lock   refresh requirements.lock and requirements-dev.lock from pyproject.toml (exact versions, hashes)"

# ---- install: a virtualenv, reinstalled only when pyproject.toml changes -------------------------------

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Exact versions with their hashes come from the lock files (`make lock` refreshes them from pyproject.toml), so a
# fresh machine next month installs what passed the tests today; billable itself is then added without resolving.
$(VENV)/.installed: pyproject.toml requirements.lock | $(BIN)/python
	@echo "Installing billable into $(VENV) (exact versions from requirements.lock) ..."
	$(PIP) install --require-hashes -r requirements.lock
	$(PIP) install --no-deps -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml requirements-dev.lock | $(BIN)/python
	@echo "Installing billable with dev extras into $(VENV) (exact versions from requirements-dev.lock) ..."
	$(PIP) install --require-hashes -r requirements-dev.lock
	$(PIP) install --no-deps -e .
	@touch $@ $(VENV)/.installed

# Refresh the lock files after changing the dependencies in pyproject.toml (uv resolves in seconds; the locks are
# universal: every platform's wheels and their hashes). Commit both files.
lock: | $(BIN)/python
	$(PIP) install uv
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes -q -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes -q \
		-o requirements-dev.lock
	@echo "requirements.lock and requirements-dev.lock refreshed: commit them with pyproject.toml."

sysdeps:
	@$(MAKE) install-missing PKGS="$(SYSDEPS)"

test-sysdeps:
	@$(MAKE) install-missing PKGS="$(TEST_SYSDEPS)"

install-missing:
	@missing=""; for pkg in $(PKGS); do dpkg -s "$$pkg" >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing system packages:$$missing"; \
		apt-get update -qq && apt-get install -y -qq $$missing; \
	fi

# ---- run ------------------------------------------------------------------------------------------------

run: sysdeps $(VENV)/.installed
	$(BIN)/billable init
	$(BIN)/billable demo
	$(BIN)/billable serve

# ---- test -----------------------------------------------------------------------------------------------

# The suite runs every store and service test on PostgreSQL too: make sure it is up, start it if we can.
postgres:
	@up() { (exec 3<>"/dev/tcp/$(PG_HOST)/$(PG_PORT)") 2>/dev/null; }; \
	if up; then exit 0; fi; \
	if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then \
		echo "PostgreSQL is not answering on $(PG_HOST):$(PG_PORT); starting it ..."; \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start || true; \
		for _ in $$(seq 1 30); do up && exit 0; sleep 1; done; \
	fi; \
	echo "PostgreSQL is not reachable on $(PG_HOST):$(PG_PORT), and the tests need it (the PostgreSQL half is" >&2; \
	echo "never skipped). Start it (pg_ctlcluster --skip-systemctl-redirect \$$(ls /etc/postgresql) main start)" >&2; \
	echo "or point BILLABLE_TEST_PG (and PG_HOST/PG_PORT here) at one." >&2; \
	exit 1

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: sysdeps test-sysdeps lint postgres
	@rc=0; $(BIN)/pytest -q || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure, not a pass" >&2; fi; \
	exit $$rc

# A larger run of the fuzzer than make test's (BILLABLE_FUZZ_CASES cases per operation and role).
FUZZ_CASES ?= 40
RELIABILITY_FUZZ_CASES ?= 10
fuzz: sysdeps $(VENV)/.installed-dev postgres
	@rm -f artifacts/fuzz-*.json
	BILLABLE_FUZZ_CASES=$(FUZZ_CASES) $(BIN)/pytest -q -p no:cacheprovider tests/http/test_fuzz.py
	$(BIN)/python benchmarks/reliability.py --fuzz

# The reliability suite, heavy: the webhook storm, kill -9 at each crash point, numbering under concurrency with
# aborts (16 workers, 5,000 issues), money properties (10,000 examples), PostgreSQL killed and restarted under a
# worker, and the fuzzer; then one table of figures. The restart test initdbs a PRIVATE cluster into a temp dir (a free
# port, run as the postgres user when we are root) and kills only that one: the machine's PostgreSQL on $(PG_PORT),
# which other test runs share, is never restarted (the other tests use it as make test does).
reliability: sysdeps test-sysdeps $(VENV)/.installed-dev postgres
	@rm -rf artifacts/reliability artifacts/fuzz-*.json
	@$(BIN)/python benchmarks/reliability.py --start
	@rc=0; BILLABLE_RELIABILITY=1 BILLABLE_FUZZ_CASES=$(RELIABILITY_FUZZ_CASES) $(BIN)/pytest -q -p no:cacheprovider \
		-m reliability tests/reliability tests/webhooks/test_storm.py tests/events/test_crash.py \
		tests/http/test_fuzz.py || rc=$$?; \
	$(BIN)/python benchmarks/reliability.py --results || rc=$$?; exit $$rc

# ---- benchmark ------------------------------------------------------------------------------------------

# Every figure is printed with its goal and MET or MISSED. `session.py start` writes a heading into
# benchmarks/RESULTS.md (date, commit, load average at start); `session.py run` runs one benchmark, its output into
# BENCH_LOG (a benchmark that fails is noted, the others still run); `session.py end` copies every line with a goal
# and its verdict under that heading, with the load average at end, and prints how many goals are MET and which
# are MISSED. The benchmarks run without their own --results, so each figure is written once.
# Sizes default to issue 17's; smaller ones check the pipeline, e.g. `make bench BENCH_CLIENTS=100 BENCH_INVOICES=500`.
BENCH_LOG := benchmarks/.bench-output.txt
BENCH_CLIENTS ?= 10000
BENCH_PDFS ?= 20
BENCH_DOCUMENTS ?= 1000
BENCH_INGEST_SECONDS ?= 10
BENCH_LATENCY_SECONDS ?= 15
BENCH_INVOICES ?= 10000
BENCH_REQUESTS ?= 40
BENCH_SLACK_EVENTS ?= 500
BENCH_ROUNDS ?= 5
BENCH_IMPORT_CLIENTS ?= 5000
BENCH_QBO_INVOICES ?= 1000
BENCH_QBO_LIVE ?= 200
BENCH_INBOUND_INVOICES ?= 200
BENCH_WEBHOOKS ?= 300
BENCH := $(BIN)/python benchmarks/session.py
INGEST := benchmarks/ingest.py --seconds $(BENCH_INGEST_SECONDS) --latency-seconds $(BENCH_LATENCY_SECONDS)
bench: sysdeps $(VENV)/.installed-dev postgres
	$(BENCH) start $(BENCH_LOG)
	$(BENCH) run $(BENCH_LOG) -- benchmarks/month_end.py --clients $(BENCH_CLIENTS)
	$(BENCH) run $(BENCH_LOG) -- benchmarks/render.py --pdfs $(BENCH_PDFS) --invoices $(BENCH_DOCUMENTS)
	$(BENCH) run $(BENCH_LOG) -- $(INGEST) --backend postgresql
	$(BENCH) run $(BENCH_LOG) -- $(INGEST) --backend postgresql --workers 2 --latency-only
	$(BENCH) run $(BENCH_LOG) --info -- $(INGEST) --backend sqlite
	$(BENCH) run $(BENCH_LOG) -- benchmarks/dashboard.py --invoices $(BENCH_INVOICES) --requests $(BENCH_REQUESTS)
	$(BENCH) run $(BENCH_LOG) -- benchmarks/slack_ack.py --events $(BENCH_SLACK_EVENTS)
	$(BENCH) run $(BENCH_LOG) -- benchmarks/understanding.py --rounds $(BENCH_ROUNDS)
	$(BENCH) run $(BENCH_LOG) -- benchmarks/import.py --clients $(BENCH_IMPORT_CLIENTS)
	$(BENCH) run $(BENCH_LOG) -- benchmarks/accounting.py --invoices $(BENCH_QBO_INVOICES) --live $(BENCH_QBO_LIVE)
	$(BENCH) run $(BENCH_LOG) -- benchmarks/accounting_inbound.py --invoices $(BENCH_INBOUND_INVOICES) \
		--webhooks $(BENCH_WEBHOOKS)
	$(BENCH) end $(BENCH_LOG)

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .hypothesis build *.egg-info
