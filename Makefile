# The README's two commands are `make run` and `make test`; .ci/run calls `make test` too.
PYTHON ?= python3
UV := $(PYTHON) -m uv
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-unit test-e2e lint format check-lessons bench bench-nginx

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

# Bursts of 1, 50 and 200 simultaneous questions, then 200 learners asking at Poisson times.
bench: install  ## The tutor relay benchmark on one daphne process (see docs/performance.md)
	$(UV) run --no-sync python -m bench.run --learners 1,50,200 --ttft-ms 300 --rate 50 --tokens 150 \
		--open-loop 200 --mean-interval 40 --open-loop-seconds 120 --max-seconds 900 \
		--out bench/results/latest.json

# The deployed shape: nginx (Debian's package) in front of two daphnes, PostgreSQL and Redis.
bench-nginx: install  ## The same benchmark through nginx, 400 learners across two processes
	$(UV) run --no-sync python -m bench.run --topology nginx --processes 2 --learners 1,100,400 \
		--ttft-ms 300 --rate 50 --tokens 150 \
		--open-loop 400 --mean-interval 40 --open-loop-seconds 120 --max-seconds 1200 \
		--out bench/results/nginx.json
