"""Run the real site in daphne processes for the browser and multi-process tests."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# As `make serve` runs daphne: frames up to 4 MiB reach the tutor, which answers them in-band.
DAPHNE_OPTIONS = [
    "--websocket-max-message-size",
    "4194304",
    "--websocket-max-frame-size",
    "4194304",
]


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
    """Migrate and collect static files (at the same time: they touch different things)."""
    collect = subprocess.Popen(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    finally:
        if collect.wait() != 0:
            raise subprocess.CalledProcessError(collect.returncode, collect.args)


def fresh_postgres(url: str) -> None:
    """Drop and create the PostgreSQL database `url` names (the test or bench owns it)."""
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_postgres(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def site_python(env: dict[str, str], code: str, *args: str) -> str:
    """Run Python `code` with the site's settings and database (its `env`); return its output."""
    run = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return run.stdout


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
def daphnes(
    env: dict[str, str],
    count: int,
    flags: Sequence[str] = tuple(DAPHNE_OPTIONS),
    ready_path: str = "/",
) -> Iterator[list[str]]:
    """`count` daphne processes serving the site, started together; yields their base URLs."""
    ports = [free_port() for _ in range(count)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), *flags]
            + ["course.asgi:application"],
            cwd=ROOT,
            env=env,
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url, process in zip(urls, processes, strict=True):
            _wait_until_up(url + ready_path, process)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # daphne waits for open sockets' apps
                process.kill()
                process.wait()


@contextlib.contextmanager
def daphne(env: dict[str, str]) -> Iterator[str]:
    """One daphne process serving the site; yields its base URL and stops it afterwards."""
    with daphnes(env, 1) as (url,):
        yield url


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def redis_server() -> Iterator[str | None]:
    """A Redis URL: the one on 127.0.0.1:6379, else a redis-server of our own, else None."""
    if _redis_answers(6379):
        yield "redis://127.0.0.1:6379/15"
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    process = start_redis(port)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_redis(process)


def start_redis(port: int) -> subprocess.Popen:
    """A redis-server on `port` that keeps nothing: a restart empties it, as a crash does."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("needs redis-server (apt-get install redis-server)")
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not _redis_answers(port):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_redis(process)
            raise RuntimeError(f"redis-server did not start on port {port}")
        time.sleep(0.05)
    return process


def stop_redis(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_daphne(env: dict[str, str], port: int) -> tuple[subprocess.Popen, str]:
    """Start daphne on `port` and wait until it answers (a test may kill and restart it)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), *DAPHNE_OPTIONS]
        + ["course.asgi:application"],
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


_SESSION_SCRIPT = """
import sys
import django; django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
for name in sys.argv[1:]:
    user = get_user_model().objects.create_user(name, password="a long pass phrase")
    client = Client(); client.force_login(user)
    print(client.cookies["sessionid"].value)
"""


def learner_session(env: dict[str, str], username: str) -> str:
    """Create a learner in the site's database and return a signed-in session id."""
    return learner_sessions(env, [username])[username]


def learner_sessions(env: dict[str, str], usernames: Sequence[str]) -> dict[str, str]:
    """Create learners in the site's database (one Django start-up); their session ids by name."""
    out = site_python(env, _SESSION_SCRIPT, *usernames).split()
    return dict(zip(usernames, out, strict=True))


_MESSAGES_SCRIPT = """
import json
import django; django.setup()
from tutor.models import Message
fields = ["pk", "role", "status", "text", "output_tokens", "conversation__user__username"]
print(json.dumps(list(Message.objects.order_by("pk").values(*fields))))
"""


def saved_messages(env: dict[str, str]) -> list[dict]:
    """Every tutor message in the site's database, read by a process of its own."""
    out = subprocess.run(
        [sys.executable, "-c", _MESSAGES_SCRIPT],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return json.loads(out)


def start_daphnes(env: dict[str, str], count: int) -> list[tuple[subprocess.Popen, int]]:
    """Start `count` daphne processes together and wait until they answer; (process, port) each.

    The caller owns them (a fault test may kill one): `kill_all` them when done.
    """
    started = []
    for port in [free_port() for _ in range(count)]:
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
        command += [*DAPHNE_OPTIONS, "course.asgi:application"]
        started.append((subprocess.Popen(command, cwd=ROOT, env=env), port))
    try:
        for process, port in started:
            _wait_until_up(f"http://127.0.0.1:{port}/", process)
    except RuntimeError:
        kill_all(process for process, _ in started)
        raise
    return started


def kill_all(processes: Iterable[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()
