"""Browser tests: a real daphne process serving the site, driven by Playwright in Debian Chromium.

The server runs as in production (DEBUG off, collected static files, a SQLite file), in its own
process, so the browser talks to it over real HTTP and websockets.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_anthropic import FakeAnthropic

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@pytest.fixture(scope="session")
def server_env(
    tmp_path_factory: pytest.TempPathFactory, tutor_server_env: dict[str, str]
) -> dict[str, str]:
    """Environment of the site under test; tutor tests add the fake Anthropic server to it."""
    tmp = tmp_path_factory.mktemp("site")
    return {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "e2e-secret-key-not-for-production",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": f"sqlite:///{tmp / 'site.sqlite3'}",
        "STATIC_ROOT": str(tmp / "static"),
        "LOG_LEVEL": "WARNING",
        **tutor_server_env,
    }


@pytest.fixture(scope="session")
def site_url(server_env: dict[str, str]) -> Iterator[str]:
    manage(server_env, "migrate", "--noinput")
    manage(server_env, "collectstatic", "--noinput")
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "course.asgi:application",
        ],
        cwd=ROOT,
        env=server_env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + "/", process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


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
    with FakeAnthropic(cache_control_in_key=False) as server:
        yield server


@pytest.fixture(scope="session")
def tutor_server_env(fake_anthropic_e2e: FakeAnthropic) -> dict[str, str]:
    return {
        "ANTHROPIC_API_KEY": E2E_API_KEY,
        "ANTHROPIC_BASE_URL": fake_anthropic_e2e.url,
        "TUTOR_BURST_PER_MINUTE": "1000",  # the tests never hit the per-learner limits
        "TUTOR_MESSAGES_PER_DAY": "1000",
    }


@pytest.fixture
def tutor_api(fake_anthropic_e2e: FakeAnthropic, site_url: str) -> FakeAnthropic:
    """The fake Anthropic server, emptied for this test: enqueue what the next requests get."""
    fake_anthropic_e2e.reset()
    return fake_anthropic_e2e
