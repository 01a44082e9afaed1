"""Browser tests: a real daphne process serving the site, driven by Playwright in Debian Chromium.

The server runs as in production (DEBUG off, collected static files, a SQLite file), in its own
process, so the browser talks to it over real HTTP and websockets.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.staff import seed_staff
from tests.fake_anthropic import FakeAnthropic
from tests.site_process import daphne, prepare, site_env

CHROMIUM = "/usr/bin/chromium"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def server_env(
    tmp_path_factory: pytest.TempPathFactory, tutor_server_env: dict[str, str]
) -> dict[str, str]:
    """Environment of the site under test; tutor tests add the fake Anthropic server to it.

    Every test signs up its own learners, all from 127.0.0.1: lift the per-address sign-up limit.
    """
    extra = {"SIGNUPS_PER_HOUR": "100000", **tutor_server_env}
    return site_env(tmp_path_factory.mktemp("site"), **extra)


@pytest.fixture(scope="session")
def site_url(server_env: dict[str, str]) -> Iterator[str]:
    prepare(server_env)
    with daphne(server_env) as url:
        yield url


@pytest.fixture(scope="session")
def staff(server_env: dict[str, str], site_url: str) -> str:
    """A superuser (tests/e2e/staff.py), with a learner's conversation and attempts to review."""
    return seed_staff(server_env)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    # `playwright install` cannot download browsers here: use Debian's Chromium.
    args = ["--disable-background-networking", "--disable-component-update", "--no-first-run"]
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": args}


@pytest.fixture(scope="session")
def base_url(site_url: str) -> str:
    return site_url


# The tutor. The site process is started once per session, so the fake Anthropic server it talks
# to is a session fixture too, started before `site_url` reads `server_env`. It runs in a thread
# of this (the test) process; daphne reaches it over loopback. The course tests do not care that
# the tutor is online.

E2E_API_KEY = "sk-ant-e2e-key"


@pytest.fixture(scope="session")
def fake_anthropic_e2e() -> Iterator[FakeAnthropic]:
    # Like the real API, a cache hit depends on the prefix's content, not on the markers.
    with FakeAnthropic() as server:
        yield server


@pytest.fixture(scope="session")
def tutor_server_env(fake_anthropic_e2e: FakeAnthropic) -> dict[str, str]:
    return {
        "ANTHROPIC_API_KEY": E2E_API_KEY,
        "ANTHROPIC_BASE_URL": fake_anthropic_e2e.url,
        "TUTOR_BURST_PER_MINUTE": "1000",  # the tests never hit the per-learner limits
        "TUTOR_MESSAGES_PER_DAY": "1000",
        # The sandbox answers from its simulator here, as on a fresh clone with no key, so the
        # browser tests show every exercise can be done offline. Its live path is tested
        # against the fake server in tests/test_sandbox_views.py and test_sandbox_runner.py.
        "SANDBOX_MODE": "simulator",
        "SANDBOX_RUNS_PER_MINUTE": "1000",
        "SANDBOX_SIM_DELAY_MS": "40",  # a stream long enough to press Stop in the middle of
    }


@pytest.fixture
def tutor_api(fake_anthropic_e2e: FakeAnthropic, site_url: str) -> FakeAnthropic:
    """The fake Anthropic server, emptied for this test: enqueue what the next requests get."""
    fake_anthropic_e2e.reset()
    return fake_anthropic_e2e


# Every browser test doubles as a Content-Security-Policy test: Chromium reports each blocked
# script, style or connection on the console, and any such report fails the test.
CSP_REPORT = re.compile(r"Content Security Policy|Content-Security-Policy", re.I)


@pytest.fixture(autouse=True)
def no_csp_violations(request: pytest.FixtureRequest) -> Iterator[None]:
    if "page" not in request.fixturenames:
        yield
        return
    page = request.getfixturevalue("page")
    reports: list[str] = []
    page.on(
        "console",
        lambda message: reports.append(message.text) if CSP_REPORT.search(message.text) else None,
    )
    yield
    assert reports == [], "the page broke its Content-Security-Policy"
