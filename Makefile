# The README's two commands are `make run` and `make test`; .ci/run calls `make test` too.
PYTHON ?= python3
UV := $(PYTHON) -m uv
HOST ?= 127.0.0.1
PORT ?= 8000
SIMULATOR_PORT ?= 8790

.PHONY: install run serve simulator test test-deps test-unit test-e2e lint format check-lessons verify-lessons bench \
	bench-nginx

install:  ## Install uv if needed, then the locked dependencies into .venv
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	@$(UV) sync --locked --quiet

run: install  ## Prepare the database and serve the site on http://127.0.0.1:8000
	$(UV) run --no-sync python manage.py migrate --noinput
	$(UV) run --no-sync python manage.py check_lessons
	$(UV) run --no-sync python manage.py runserver $(HOST):$(PORT)

# The sandbox's simulator as a Messages API, for the "Get code" snippets and the lesson examples
# without a key: ANTHROPIC_BASE_URL=http://127.0.0.1:8790 and any ANTHROPIC_API_KEY.
simulator: install  ## Serve the no-key simulator as a Messages API on http://127.0.0.1:8790
	$(UV) run --no-sync python -m course.sandbox.server --host $(HOST) --port $(SIMULATOR_PORT)

# Production-like: the settings come from the environment (see README, "Running in production").
# Frames up to 4 MiB reach the tutor, which answers oversized ones in-band instead of a 1009 close.
serve: install  ## Migrate, collect static files, then serve with daphne on $(HOST):$(PORT)
	$(UV) run --no-sync python manage.py migrate --noinput
	$(UV) run --no-sync python manage.py collectstatic --noinput --verbosity 0
	$(UV) run --no-sync python manage.py check_lessons
	$(UV) run --no-sync daphne -b $(HOST) -p $(PORT) \
		--websocket-max-message-size 4194304 --websocket-max-frame-size 4194304 \
		course.asgi:application

test: install test-deps test-unit test-e2e  ## Every test: unit, consumer and browser

# The browser tests drive Debian's chromium; the multi-process test starts its own redis-server
# when none runs on 127.0.0.1:6379; the lesson example runner runs the curl examples (one builds
# its body with jq); the deployment test runs the shipped nginx site. As root all are installed
# when missing; otherwise the browser tests need chromium and say how to get it.
test-deps:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing=" chromium"; \
	for tool in redis-server curl jq; do \
		command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; \
	done; \
	[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || missing="$$missing nginx"; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing$$missing for the tests (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi; \
	if [ ! -x /usr/bin/chromium ]; then \
		echo "The browser tests need Chromium at /usr/bin/chromium: run 'sudo apt-get install chromium', then make test again." >&2; \
		exit 1; \
	fi

# --durations: the slowest tests are named in every run's log (the suite's time is a budget).
test-unit:
	$(UV) run --no-sync pytest -m "not e2e" --durations=15

# Browser tests run in their own pytest process: Playwright's sync API keeps an event loop
# running, which clashes with the async consumer tests.
test-e2e: test-deps
	$(UV) run --no-sync pytest -m e2e tests/e2e --durations=15

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
