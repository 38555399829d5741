# Two commands do everything on a fresh clone: `make run` and `make test`.
# The rest are helpers they use, or that developers reach for.

PYTHON ?= $(shell command -v python3.13 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?=
LOAD_VENV := .venv-load
LOAD_ARGS ?=

.PHONY: run test install lint format messages check-deploy bench bench-list loadtest lock clean

run: $(STAMP)  ## Migrate, load demo data (idempotent) and serve at http://127.0.0.1:8000
	$(BIN)/python manage.py compile_translations
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: $(STAMP)  ## Install what the tests need (chromium too) and run the whole suite
	bash .ci/ensure-chromium
	bash .ci/ensure-gettext
	$(BIN)/python manage.py compile_translations
	$(BIN)/pytest $(PYTEST_ARGS)

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

messages: $(STAMP)  ## Bring locale/nl/LC_MESSAGES/django.po up to date with the code (docs/TRANSLATING.md)
	$(BIN)/python manage.py makemessages -l nl
	$(BIN)/python manage.py compile_translations

check-deploy: $(STAMP)  ## Django's deployment checklist under production-like settings
	DEBUG=0 SECRET_KEY=$$(head -c 48 /dev/urandom | base64) ALLOWED_HOSTS=crm.example.com TRUSTED_PROXY_COUNT=1 \
		$(BIN)/python manage.py check --deploy --fail-level WARNING

bench: $(STAMP)  ## Benchmarks against DATABASE_URL (PostgreSQL with seed_bulk data)
	@test -n "$(DATABASE_URL)" || { echo "Set DATABASE_URL to a PostgreSQL database filled by seed_bulk (docs/PERFORMANCE.md)."; exit 2; }
	$(BIN)/python -m bench.list_bench
	$(BIN)/python -m bench.export_bench
	$(BIN)/python -m bench.import_bench
	$(BIN)/python -m bench.bulk_bench

bench-list: $(STAMP)  ## The list benchmark alone (issue 8): ours, the admin and the SQL floor
	@test -n "$(DATABASE_URL)" || { echo "Set DATABASE_URL to a PostgreSQL database filled by seed_bulk (docs/PERFORMANCE.md)."; exit 2; }
	$(BIN)/python -m bench.list_bench $(BENCH_ARGS)

loadtest: $(STAMP) $(LOAD_VENV)/.installed  ## Two app servers, 50 users for 60 s, writes seen across servers (docs/SCALING.md)
	@test -n "$(DATABASE_URL)" || { echo "Set DATABASE_URL to a PostgreSQL database filled by seed_bulk (docs/SCALING.md)."; exit 2; }
	$(BIN)/python -m bench.load_test --locust $(LOAD_VENV)/bin/locust $(LOAD_ARGS)

# Locust (the "load" dependency group) in a venv of its own: gevent stays out of .venv.
$(LOAD_VENV)/.installed: pyproject.toml
	test -x $(LOAD_VENV)/bin/python || $(PYTHON) -m venv $(LOAD_VENV)
	$(LOAD_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOAD_VENV)/bin/python -m pip install --quiet $$($(PYTHON) -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb")); print(" ".join(p["dependency-groups"]["load"]))')
	touch $@

lock:  ## Re-pin requirements.lock from the ranges in pyproject.toml
	rm -rf /tmp/crm-lock-venv && $(PYTHON) -m venv /tmp/crm-lock-venv
	/tmp/crm-lock-venv/bin/pip install --quiet --upgrade pip
	$(PYTHON) -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb")); print("\n".join(p["project"]["dependencies"] + p["dependency-groups"]["dev"]))' > /tmp/crm-lock-venv/ranges.txt
	/tmp/crm-lock-venv/bin/pip install --quiet -r /tmp/crm-lock-venv/ranges.txt
	/tmp/crm-lock-venv/bin/pip freeze --exclude-editable | sort > requirements.lock

clean:
	rm -rf $(VENV) $(LOAD_VENV) staticfiles test-results
