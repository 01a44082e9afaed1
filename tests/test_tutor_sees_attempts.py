"""The tutor sees the learner's latest sandbox run after the cache breakpoint, and no solutions."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.core.cache import cache

from course.lessons import load_catalogue
from course.sandbox import runner
from tests.tutor_client import ask, connect, learner, until
from tutor.markup import FINAL
from tutor.prompts import system_blocks


async def sandbox_run(user, body: dict, exercise_id: str | None = None) -> dict:
    lesson = (await sync_to_async(load_catalogue)()).get("messages-api")
    exercise = lesson.exercise(exercise_id) if exercise_id else None
    items = [
        item
        async for item in runner.run(
            user=user, lesson=lesson, exercise=exercise, body_text=json.dumps(body)
        )
    ]
    return items[-1]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("tutor_cleanup")
async def test_the_tutor_request_carries_the_latest_attempt_after_the_breakpoint(
    online, settings
) -> None:
    settings.SANDBOX_MODE = "simulator"
    cache.clear()
    ada, ada_cookie = await learner("ada")
    _, grace_cookie = await learner("grace")
    lesson = (await sync_to_async(load_catalogue)()).get("messages-api")
    exercise = lesson.exercises[0]
    await sandbox_run(ada, json.loads(exercise.starter), exercise.id)
    for cookie in (ada_cookie, grace_cookie):
        tutor = await connect(cookie)
        await ask(tutor, "Why did my run fail?")
        await until(tutor, FINAL)
        await tutor.disconnect()
    with_attempt, without = (request.body for request in online.requests)
    # The cached prefix is the same for both learners, byte for byte.
    assert with_attempt["system"] == without["system"]
    question, attempt = with_attempt["messages"][-1]["content"]
    assert question == {
        "type": "text",
        "text": "Why did my run fail?",
        "cache_control": {"type": "ephemeral"},
    }
    assert "cache_control" not in attempt
    assert attempt["text"].startswith("<latest_sandbox_attempt>")
    assert f"exercise `{exercise.id}`" in attempt["text"]
    assert json.dumps(json.loads(exercise.starter)) in attempt["text"]
    assert "Grader's verdict: Not yet: " in attempt["text"]
    assert len(without["messages"][-1]["content"]) == 1  # grace has run nothing


def test_the_tutor_sees_each_exercise_but_never_its_solution() -> None:
    for lesson in load_catalogue().lessons:
        prompt = system_blocks(lesson)[-1]["text"]
        assert "```exercise" not in prompt
        for exercise in lesson.exercises:
            assert f"[Sandbox exercise `{exercise.id}`: {exercise.title}]" in prompt
            assert exercise.checks[0].message in prompt
            assert exercise.solution.strip() not in prompt


@pytest.mark.django_db(transaction=True)
def test_a_refused_runs_huge_error_reaches_the_tutor_bounded(settings) -> None:
    from tests.users import make_user
    from tutor.attempts import MAX_LINE, MAX_TEXT, latest_attempt_text

    settings.SANDBOX_MODE = "simulator"
    cache.clear()
    user = make_user("mallory")
    huge_model = "m" * 60_000
    body = {"model": huge_model, "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
    result = async_to_sync(sandbox_run)(user, body)
    assert result["error"] and huge_model in result["error"]["message"]  # the learner sees it all
    lesson = load_catalogue().get("messages-api")
    text = latest_attempt_text(user, lesson)
    assert len(text) < MAX_TEXT + 4 * MAX_LINE + 1_000
    assert "more characters not shown" in text
    cache.clear()
