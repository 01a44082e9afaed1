"""Run the real site in daphne processes for the browser and multi-process tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def site_env(tmp: Path, **extra: str) -> dict[str, str]:
    """Production-like settings: DEBUG off, a SQLite file, collected static files."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "course.settings",
        "DEBUG": "false",
        "SECRET_KEY": "test-secret-key-not-for-production",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": f"sqlite:///{tmp / 'site.sqlite3'}",
        "STATIC_ROOT": str(tmp / "static"),
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def prepare(env: dict[str, str]) -> None:
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
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


@contextlib.contextmanager
def daphne(env: dict[str, str]) -> Iterator[str]:
    """One daphne process serving the site; yields its base URL and stops it afterwards."""
    process, url = start_daphne(env, free_port())
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # daphne waits for open sockets' apps; don't wait on it
            process.kill()
            process.wait()


def start_daphne(env: dict[str, str], port: int) -> tuple[subprocess.Popen, str]:
    """Start daphne on `port` and wait until it answers (a test may kill and restart it)."""
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
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url + "/", process)
    except RuntimeError:
        process.kill()
        process.wait()
        raise
    return process, url
