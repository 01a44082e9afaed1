from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import pytest_asyncio
from django.conf import settings

from course import lessons, model_catalogue

ROOT = Path(__file__).resolve().parent.parent


# The repository's own lessons, parsed once for the whole run (see fresh_lesson_cache).
_parsed: dict[tuple, lessons.Lesson] = {}


def _parse_unchanged_once(parse):
    def parse_lesson(text: str, path: Path) -> lessons.Lesson:
        if path.parent != ROOT / "lessons":
            return parse(text, path)
        models_file = Path(settings.MODELS_FILE)
        models = models_file.read_bytes() if models_file.is_file() else None
        key = (
            path,
            text,
            dt.date.today(),
            model_catalogue.today(),
            models,
            str(settings.LESSONS_DIR),
        )
        if key not in _parsed:
            _parsed[key] = parse(text, path)
        return _parsed[key]

    return parse_lesson


@pytest.fixture(autouse=True)
def fresh_lesson_cache(monkeypatch):
    """Each test sees lessons parsed from disk, never a parse left over from another test.

    But for one thing: a parse of the repository's own lessons is shared by the whole run.
    Parsing a lesson grades every exercise's solution and wrong answers (about a second a
    lesson here), and most tests read the catalogue: without sharing, that was most of the
    suite's time. The shared parse is keyed on everything a parse reads (the text, the path,
    the model data, the lessons directory, the date and the course's own today), so an edited
    copy, other model data or another day parses anew. The file cache in front of it (and the
    snapshot it stores) is still cleared for every test.
    """
    monkeypatch.setattr(lessons, "parse_lesson", _parse_unchanged_once(lessons.parse_lesson))
    lessons._cache.clear()
    model_catalogue._cache.clear()
    lessons._reported.clear()
    yield
    lessons._cache.clear()
    model_catalogue._cache.clear()


@pytest.fixture
def lessons_dir(tmp_path: Path, settings) -> Path:
    """An empty lessons directory (with the real model data file) the test can write to."""
    directory = tmp_path / "lessons"
    directory.mkdir()
    shutil.copy(ROOT / "lessons" / "models.yaml", directory / "models.yaml")
    settings.LESSONS_DIR = directory
    settings.MODELS_FILE = directory / "models.yaml"
    return directory


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings):
    """Close any PostgreSQL pool opened while the tests were collected (importing a test module
    may touch the database): it would keep handing out connections to the database named in
    DATABASE_URL, not to the test database created next."""
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if connection.vendor == "postgresql":
            connection.close()
            connection.close_pool()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """Close the async tests' connections before the test database is dropped.

    Consumers reach the database from asgiref's one thread-sensitive worker thread and from the
    tutor's pool (tutor/db.py), which keep their connections open under DB_CONN_MAX_AGE
    (SQLite) or hold them until returned to psycopg's pool (PostgreSQL, which Django closes);
    PostgreSQL refuses to drop a database in use.
    """
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    from tutor import db

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=30)
    db.close()


@pytest.fixture(scope="module")
def redis_url():
    """A Redis for the multi-process tests: the local one, else a redis-server of their own."""
    from tests.site_process import redis_server

    with redis_server() as url:
        if url is None:
            pytest.skip("needs Redis: install redis-server (apt-get install redis-server)")
        yield url


@pytest.fixture(scope="session")
def fake_anthropic_server():
    from tests.fake_anthropic import FakeAnthropic

    with FakeAnthropic() as server:
        yield server


@pytest.fixture
def fake_anthropic(fake_anthropic_server):
    fake_anthropic_server.reset()
    yield fake_anthropic_server
    fake_anthropic_server.reset()


@pytest.fixture
def online(settings, monkeypatch, fake_anthropic):
    """The tutor talks to the fake Anthropic server through the real SDK."""
    from course import claude

    settings.ANTHROPIC_API_KEY = "sk-ant-test-key-never-shown"
    settings.TUTOR_MAX_RETRIES = 0
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_anthropic.url)
    claude._clients.clear()
    return fake_anthropic


@pytest_asyncio.fixture
async def tutor_cleanup():
    """Let replies still being written finish inside the test's event loop, then close the client."""
    from course import claude
    from tutor import generation

    yield
    for reply in list(generation.running.values()):
        reply.task.cancel()
    await generation.settle()
    await claude.aclose()


@pytest.fixture(autouse=True)
def fast_tutor(settings):
    settings.TUTOR_OFFLINE_DELAY_MS = 0
    settings.SANDBOX_SIM_DELAY_MS = 0
    settings.TUTOR_COALESCE_MS = 5
