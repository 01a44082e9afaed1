# The README's two commands are `make run` and `make test`; .ci/run calls `make test` too.
PYTHON ?= python3
UV := $(PYTHON) -m uv
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run serve test test-unit test-e2e lint format check-lessons bench

install:  ## Install uv if needed, then the locked dependencies into .venv
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	@$(UV) sync --locked --quiet

run: install  ## Prepare the database and serve the site on http://127.0.0.1:8000
	$(UV) run --no-sync python manage.py migrate --noinput
	$(UV) run --no-sync python manage.py check_lessons
	$(UV) run --no-sync python manage.py runserver $(HOST):$(PORT)

# Production-like: the settings come from the environment (see README, "Running in production").
# Frames up to 4 MiB reach the tutor, which answers oversized ones in-band instead of a 1009 close.
serve: install  ## Migrate, collect static files, then serve with daphne on $(HOST):$(PORT)
	$(UV) run --no-sync python manage.py migrate --noinput
	$(UV) run --no-sync python manage.py collectstatic --noinput --verbosity 0
	$(UV) run --no-sync python manage.py check_lessons
	$(UV) run --no-sync daphne -b $(HOST) -p $(PORT) \
		--websocket-max-message-size 4194304 --websocket-max-frame-size 4194304 \
		course.asgi:application

test: install test-unit test-e2e  ## Every test: unit, consumer and browser

test-unit:
	$(UV) run --no-sync pytest -m "not e2e"

# Browser tests run in their own pytest process: Playwright's sync API keeps an event loop
# running, which clashes with the async consumer tests.
test-e2e:
	$(UV) run --no-sync pytest -m e2e tests/e2e

lint: install
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .

format: install
	$(UV) run --no-sync ruff format .
	$(UV) run --no-sync ruff check --fix .

check-lessons: install
	$(UV) run --no-sync python manage.py check_lessons

bench: install  ## The tutor relay benchmark (see docs/performance.md); a few minutes
	$(UV) run --no-sync python -m bench.run --learners 1,50,200 --ttft-ms 300 --rate 50 --tokens 150 \
		--out bench/results/latest.json
