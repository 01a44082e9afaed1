"""Lesson 2's cache-diagnostics exercise, run as a learner runs it: miss, read the reason, fix."""

from __future__ import annotations

import html
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from course.lessons import catalogue

RUN = "/lessons/system-prompts-and-caching/sandbox/run/"
EXERCISE = "diagnose-a-cache-miss"


pytestmark = pytest.mark.django_db


@pytest.fixture
def learner() -> Client:
    cache.clear()
    client = Client()
    client.force_login(get_user_model().objects.create_user("ada", password="a long pass phrase"))
    yield client
    cache.clear()


def run(client: Client, body: dict) -> str:
    data = {"exercise": EXERCISE, "body": json.dumps(body), "action": "run"}
    response = client.post(RUN, data)
    assert response.status_code == 200
    return html.unescape(re.sub(r"<[^>]+>", "", response.content.decode()))


def message_id(page: str) -> str:
    return re.search(r'"id": "(msg_\w+)"', page).group(1)


def test_the_learner_finds_the_timestamp_from_the_reason_and_fixes_it(learner):
    exercise = catalogue().get("system-prompts-and-caching").exercise(EXERCISE)
    starter, solution = json.loads(exercise.starter), json.loads(exercise.solution)

    first = run(learner, starter)  # step 1: opts in, writes the cache
    assert "Cache miss reason" not in first

    a_minute_later = json.loads(exercise.starter.replace("14:04", "14:05"))
    a_minute_later["diagnostics"]["previous_message_id"] = message_id(first)
    second = run(learner, a_minute_later)  # step 2: the API names what changed
    assert re.search(r"Cache miss reason\s*system_changed, about [\d,]+ input tokens", second)
    assert "The system prompt still carries the time" in second

    solution["diagnostics"]["previous_message_id"] = message_id(second)
    third = run(learner, solution)  # step 3: the fix changed the system prompt once more
    assert "system_changed" in third and "The API still reports a cache miss" in third

    solution["diagnostics"]["previous_message_id"] = message_id(third)
    fourth = run(learner, solution)
    assert "Cache miss reason" not in fourth
    assert "Passed." in fourth
