"""The lesson prompt is the same bytes for every learner, and the cache serves it."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from course.lessons import load_catalogue
from tests.lesson_files import lesson_text, write
from tests.tutor_client import ask, connect, learner, until
from tutor.attempts import lesson_for_tutor
from tutor.instructor import lesson_report
from tutor.markup import FINAL
from tutor.prompts import system_blocks


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("tutor_cleanup")
async def test_two_learners_send_byte_identical_cached_system_blocks(online):
    for name in ("ada", "grace"):
        _, cookie = await learner(name)
        tutor = await connect(cookie)
        await ask(tutor, f"Question from {name}")
        await until(tutor, FINAL)
        await tutor.disconnect()
    raw = [raw_field(request.raw, "system") for request in online.requests]
    assert len(raw) == 2 and raw[0] == raw[1]  # the same bytes on the wire
    system = json.loads(raw[0])
    assert system[-1]["cache_control"] == {"type": "ephemeral"}
    assert b"ada" not in raw[0] and b"grace" not in raw[0]


def raw_field(body: bytes, name: str) -> bytes:
    """The exact bytes of one top-level JSON field's value in a request body."""
    text = body.decode()
    start = text.index(f'"{name}"')
    start = text.index(":", start) + 1
    while text[start] == " ":
        start += 1
    _, end = json.JSONDecoder().raw_decode(text, start)
    return text[start:end].encode()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("tutor_cleanup")
async def test_the_second_learner_and_the_second_turn_read_the_cache(online):
    from asgiref.sync import sync_to_async

    from tutor.models import Message

    _, cookie = await learner("ada")
    tutor = await connect(cookie)
    await ask(tutor, "First turn")
    await until(tutor, FINAL)
    await ask(tutor, "Second turn")
    await until(tutor, FINAL)
    await tutor.disconnect()
    _, other = await learner("grace")
    tutor = await connect(other)
    await ask(tutor, "Another learner")
    await until(tutor, FINAL)
    await tutor.disconnect()
    first, second, third = await sync_to_async(
        lambda: list(Message.objects.filter(role="assistant"))
    )()
    assert first.cache_creation_input_tokens > 0 and first.cache_read_input_tokens == 0
    # Turn two reads the lesson prompt and turn one from the cache.
    assert second.cache_read_input_tokens > first.cache_creation_input_tokens * 0.9
    # Another learner of the lesson shares the cached lesson prompt.
    assert third.cache_read_input_tokens > 0
    bodies = [r.body for r in online.requests]
    assert bodies[1]["messages"][-1]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert [m["role"] for m in bodies[1]["messages"]] == ["user", "assistant", "user"]


def test_the_system_prompt_has_no_learner_time_or_turn_in_it():
    lesson = load_catalogue().get("messages-api")
    blocks = system_blocks(lesson)
    assert blocks == system_blocks(load_catalogue().get("messages-api"))
    assert [set(b) for b in blocks] == [{"type", "text"}, {"type", "text", "cache_control"}]
    assert lesson_for_tutor(lesson) in blocks[-1]["text"]  # the lesson, exercise solutions left out
    assert "Socratic" in blocks[0]["text"]


def test_the_mode_is_part_of_the_cached_prefix(lessons_dir):
    write(lessons_dir / "01-a.md", lesson_text(**{"  focus:": "  mode: explain\n  focus:"}))
    lesson = load_catalogue().lessons[0]
    assert "Mode: explain" in system_blocks(lesson)[0]["text"]


@pytest.mark.django_db
def test_check_lessons_reports_the_tutor_prompt_size_and_cacheability(capsys):
    call_command("check_lessons")
    out = capsys.readouterr().out
    assert "tutor: socratic mode, cached prompt " in out
    assert "tokens (estimate: no API key set)" in out
    assert "tutor: cacheable with claude-haiku-5-5: above Claude Haiku 5.5's minimum of 512" in out


@pytest.mark.django_db
def test_a_short_lesson_is_reported_as_not_cacheable(lessons_dir, settings, caplog):
    settings.TUTOR_MODEL = "claude-haiku-4-5"  # minimum 4,096 tokens
    write(lessons_dir / "01-a.md", lesson_text())
    lines = lesson_report(load_catalogue().lessons[0])
    assert lines[1].startswith(
        "tutor: NOT cacheable with claude-haiku-4-5: below Claude Haiku 4.5's minimum of 4,096"
    )
    assert "below Claude Haiku 4.5's minimum" in caplog.text


def test_a_switched_off_tutor_is_reported(lessons_dir):
    write(lessons_dir / "01-a.md", lesson_text(**{"tutor:\n": "tutor:\n  enabled: false\n"}))
    assert lesson_report(load_catalogue().lessons[0]) == [
        "tutor: switched off for this lesson (tutor.enabled: false)"
    ]
