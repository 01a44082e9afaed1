# The README's two commands are `make run` and `make test`; .ci/run calls `make test` too.
PYTHON ?= python3
UV := $(PYTHON) -m uv
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-unit test-e2e lint format check-lessons verify-lessons bench

install:  ## Install uv if needed, then the locked dependencies into .venv
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	@$(UV) sync --locked --quiet

run: install  ## Prepare the database and serve the site on http://127.0.0.1:8000
	$(UV) run --no-sync python manage.py migrate --noinput
	$(UV) run --no-sync python manage.py check_lessons
	$(UV) run --no-sync python manage.py runserver $(HOST):$(PORT)

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

# Every lesson example against the real API: before publishing, and on a schedule, so a model or
# API change breaks our check before it breaks a learner's copy. Needs ANTHROPIC_API_KEY.
verify-lessons: install
	$(UV) run --no-sync python manage.py verify_lessons

bench: install  ## The tutor relay benchmark (see docs/performance.md); a few minutes
	$(UV) run --no-sync python -m bench.run --learners 1,50,200 --ttft-ms 300 --rate 50 --tokens 150 \
		--out bench/results/latest.json
