from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
import pytest_asyncio
from django.contrib.auth import get_user_model

from course import lessons, models_data

ROOT = Path(__file__).resolve().parent.parent

VALID_LESSON = """\
---
title: Tiny lesson
slug: {slug}
order: {order}
summary: A lesson used by the tests.
minutes: 5
objectives:
  - Know the tiny thing
tutor:
  focus: The tiny thing.
  starters:
    - What is the tiny thing?
    - Why is it tiny?
    - Where does it live?
quiz:
  - question: Which is tiny?
    choices:
      a: The elephant
      b: The ant
    answer: b
    explanation: Ants are small.
  - question: Which is large?
    choices:
      a: The whale
      b: The flea
    answer: a
    explanation: Whales are big.
  - question: Which is neither?
    choices:
      a: A dog
      b: A mountain
    answer: a
    explanation: Dogs are medium.
facts_checked: 2026-11-26
sources:
  - title: Messages API
    url: https://platform.claude.com/docs/en/api/messages
---

## First section

Some text with a [link to the second section](#second-section).

## Second section

More text.
"""


def make_user(username: str = "ada", password: str = "correct horse battery") -> object:
    return get_user_model().objects.create_user(username=username, password=password)


def lesson_text(slug: str = "tiny", order: int = 1, **replace: str) -> str:
    text = VALID_LESSON.format(slug=slug, order=order)
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


@pytest.fixture(autouse=True)
def fresh_lesson_cache():
    """Each test sees lessons parsed from disk, never a parse left over from another test."""
    lessons._cache.clear()
    models_data._cache.clear()
    lessons._reported.clear()
    yield
    lessons._cache.clear()
    models_data._cache.clear()


@pytest.fixture
def lessons_dir(tmp_path: Path, settings) -> Path:
    """An empty lessons directory (with the real model data file) the test can write to."""
    directory = tmp_path / "lessons"
    directory.mkdir()
    shutil.copy(ROOT / "lessons" / "models.yaml", directory / "models.yaml")
    settings.LESSONS_DIR = directory
    settings.MODELS_FILE = directory / "models.yaml"
    return directory


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


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
