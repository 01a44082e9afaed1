"""Hostile bodies on all three sandbox endpoints: each gets a final answer, never a 500 or a hang.

Every class of input the attack on the site found: nesting depth, numbers too long or not finite,
a wrong type at every position of a full request, lone surrogates, NUL, size. The same file runs
on SQLite and on PostgreSQL (set DATABASE_URL), where NUL cannot be stored at all.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import AsyncClient, Client

from course.models import ApiCharge
from course.sandbox.models import Attempt

STREAM = "/lessons/messages-api/sandbox/stream/"
RUN = "/lessons/messages-api/sandbox/run/"
CODE = "/lessons/messages-api/sandbox/code/"
FULL = {
    "model": "claude-haiku-5-5",
    "max_tokens": 2048,
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny"}],
        },
    ],
    "tools": [
        {
            "name": "weather",
            "description": "The weather in a city.",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ],
    "tool_choice": {"type": "auto"},
    "stop_sequences": ["END"],
    "metadata": {"user_id": "learner-1"},
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "output_config": {"effort": "low"},
    "stream": True,
}
WRONG = [None, True, -1, 2**80, 1.5, "", "x", [], {}, [[]], [{}], {"type": []}, {"type": {}}]
TOO_LONG = "9" * 5000

pytestmark = pytest.mark.django_db(transaction=True)


def positions(value: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from positions(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from positions(item, (*path, index))


def replaced(path: tuple, value: Any) -> dict:
    body = copy.deepcopy(FULL)
    target = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return body


def wrong_types(step: int = 1) -> list[str]:
    """FULL with one value replaced by a wrong one: every wrong value at every position, or
    every `step`-th pair (each position and each wrong value still comes up)."""
    pairs = [(path, value) for path in positions(FULL) if path for value in WRONG]
    return [json.dumps(replaced(path, value)) for path, value in pairs[::step]]


def nested(depth: int) -> str:
    inner = '"x"'
    for _ in range(depth):
        inner = f'{{"a": [{inner}]}}'
    return json.dumps(FULL)[:-1] + f', "metadata": {inner}}}'


HOSTILE = {
    "deep brackets": "[" * 100_000,
    "deep objects": '{"a":' * 20_000 + "1" + "}" * 20_000,
    "deep but parseable": nested(200),
    "deep in messages": json.dumps(FULL).replace('"Weather in Paris?"', "[" * 900 + "]" * 900),
    "an integer of thousands of digits": json.dumps(FULL).replace('"learner-1"', TOO_LONG),
    "max_tokens of thousands of digits": json.dumps(FULL).replace("2048", TOO_LONG, 1),
    "NaN": json.dumps(FULL).replace("1024", "NaN"),
    "Infinity": json.dumps(FULL).replace("1024", "Infinity"),
    "-Infinity": json.dumps(FULL).replace("1024", "-Infinity"),
    "a float too big": json.dumps(FULL).replace("1024", "1e400"),
    "max_tokens too big": json.dumps(FULL).replace("2048", str(2**200), 1),
    "an escaped lone surrogate": json.dumps(FULL).replace("Be brief.", "\\ud800"),
    "an escaped lone surrogate in a key": json.dumps(FULL).replace('"user_id"', '"\\udfff"'),
    "an escaped NUL": json.dumps(FULL).replace("Be brief.", "a\\u0000b"),
    "an escaped NUL in a key": json.dumps(FULL).replace('"user_id"', '"\\u0000"'),
    "a raw NUL": json.dumps(FULL).replace("Be brief.", "a\x00b"),
    "a raw NUL outside strings": "\x00" + json.dumps(FULL),
    "a NUL in the model": json.dumps(FULL).replace("claude-haiku-5-5", "claude-haiku\x005-5"),
    "a huge model name": json.dumps(FULL).replace("claude-haiku-5-5", "m" * 60_000),
    "a body just over the sandbox's cap": json.dumps(FULL).replace("Be brief.", "x" * 70_000),
    "not an object": "[1, 2, 3]",
    "a bare string": '"hello"',
    "nothing": "",
    "invalid JSON": '{"model": ',
    "content of the wrong shape": json.dumps(
        FULL | {"messages": [{"role": "user", "content": [{"type": [1]}]}]}
    ),
}


@pytest.fixture(autouse=True)
def many_runs(settings):
    settings.SANDBOX_RUNS_PER_MINUTE = 100_000
    settings.ANTHROPIC_API_KEY = ""
    settings.SANDBOX_MODE = "simulator"
    settings.SANDBOX_MAX_TOKENS = 4096  # FULL is valid: each wrong value reaches the simulator
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def learner():
    return get_user_model().objects.create_user(username="mallory", password="a long pass phrase")


async def assert_stream_ends_in_a_result(response) -> dict:
    assert response.status_code != 500
    if not response.streaming:  # refused before running: the sandbox's JSON, with a message
        refused = json.loads(response.content)
        assert refused["error"]["message"]
        return refused
    text = b"".join([chunk async for chunk in response.streaming_content])
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines and lines[-1]["kind"] == "result"
    assert [line["kind"] for line in lines].count("result") == 1
    result = lines[-1]
    assert result["status"] != 500
    if result["error"]:
        assert result["error"]["message"]
    return result


def assert_page_answers(response) -> None:
    assert response.status_code in (200, 413)
    page = response.content.decode()
    assert "HTTP status" in page or "too large" in page


def assert_code_answers(response) -> None:
    assert response.status_code in (200, 422)
    page = response.content.decode()
    assert "language-python" in page or "sandbox-code-error" in page or "error" in page


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_body_gets_a_final_answer_on_every_endpoint(learner, name) -> None:
    client = Client()
    client.force_login(learner)
    text = HOSTILE[name]
    assert_page_answers(client.post(RUN, {"body": text, "exercise": ""}))
    assert_code_answers(client.post(CODE, {"body": text}))


@pytest.mark.asyncio
@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_a_hostile_body_ends_its_stream_with_one_result(learner, name) -> None:
    client = AsyncClient()
    await client.aforce_login(learner)
    result = await assert_stream_ends_in_a_result(
        await client.post(STREAM, {"body": HOSTILE[name], "exercise": ""})
    )
    if result.get("attempt_id"):  # what was saved is what the database could store
        attempt = await Attempt.objects.aget(pk=result["attempt_id"])
        assert "\x00" not in attempt.request_text


@pytest.mark.asyncio
async def test_a_wrong_type_at_every_position_ends_the_stream_with_a_result(learner) -> None:
    client = AsyncClient()
    await client.aforce_login(learner)
    for text in wrong_types():
        await assert_stream_ends_in_a_result(
            await client.post(STREAM, {"body": text, "exercise": ""})
        )


def test_a_wrong_type_at_every_position_answers_the_form_and_get_code(learner) -> None:
    client = Client()
    client.force_login(learner)
    for text in wrong_types(step=5):  # each renders the whole lesson page: a fifth of the pairs
        assert_page_answers(client.post(RUN, {"body": text, "exercise": ""}))
        assert_code_answers(client.post(CODE, {"body": text}))


RAW = b"exercise=&body=%7B%22model%22%3A%20%22%ED%A0%80%22%2C%22x%22%3A%22%FF%00%22%7D"


@pytest.mark.asyncio
async def test_bytes_that_are_not_utf8_end_the_stream_with_a_result(learner) -> None:
    client = AsyncClient()
    await client.aforce_login(learner)
    response = await client.post(STREAM, RAW, content_type="application/x-www-form-urlencoded")
    await assert_stream_ends_in_a_result(response)


def test_bytes_that_are_not_utf8_are_answered_by_the_form_and_get_code(learner) -> None:
    client = Client()
    client.force_login(learner)
    form = "application/x-www-form-urlencoded"
    assert_page_answers(client.post(RUN, RAW, content_type=form))
    assert_code_answers(client.post(CODE, RAW, content_type=form))


def test_a_body_too_big_for_django_gets_the_sandboxs_own_413(learner) -> None:
    client = Client()
    client.force_login(learner)
    huge = "x" * (3 * 1024 * 1024)  # over DATA_UPLOAD_MAX_MEMORY_SIZE: Django will not read it
    streamed = client.post(STREAM, {"body": huge, "exercise": ""})
    assert streamed.status_code == 413
    assert streamed.json()["kind"] == "refused"
    assert "too large" in streamed.json()["error"]["message"]
    form = client.post(RUN, {"body": huge, "exercise": ""})
    assert form.status_code == 413 and "Back to the lesson" in form.content.decode()
    code = client.post(CODE, {"body": huge}, headers={"HX-Request": "true"})
    assert code.status_code == 422 and "too large" in code.content.decode()


@pytest.mark.asyncio
async def test_nothing_unstorable_is_sent_upstream_or_charged(learner, online, settings) -> None:
    settings.SANDBOX_MODE = "live"
    client = AsyncClient()
    await client.aforce_login(learner)
    for name in ("an escaped NUL", "a raw NUL", "an escaped lone surrogate", "NaN"):
        result = await assert_stream_ends_in_a_result(
            await client.post(STREAM, {"body": HOSTILE[name], "exercise": ""})
        )
        assert result["status"] == 400 and "cannot be sent" in result["error"]["message"]
    assert online.requests == []
    assert not await sync_to_async(ApiCharge.objects.exists)()
