"""Exercise blocks in lesson Markdown: parsed into the lesson, checked by check_lessons with lines."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from course.lessons import load_catalogue
from tests.lesson_files import lesson_text, write

EXERCISE = """
```exercise
id: first-request
title: Send your first request
task: |
  Add a **user** message.
starter: |
  {
    "model": "{{ model.default.id }}",
    "max_tokens": 256,
    "messages": []
  }
solution: |
  {
    "model": "{{ model.default.id }}",
    "max_tokens": 256,
    "messages": [{"role": "user", "content": "Hello"}]
  }
wrong_answers:
  - mistake: Adds an assistant message instead of a user one.
    body: |
      {"model": "{{ model.default.id }}", "max_tokens": 256,
       "messages": [{"role": "assistant", "content": "Hello"}]}
  - mistake: Sends the question as a top-level prompt field.
    body: |
      {"model": "{{ model.default.id }}", "max_tokens": 256, "prompt": "Hello"}
  - mistake: Adds the message but leaves no room for a reply.
    body: |
      {"model": "{{ model.default.id }}", "max_tokens": 1,
       "messages": [{"role": "user", "content": "Hello"}]}
checks:
  - expect: response.stop_reason
    equals: end_turn
    message: The reply should end on its own.
hints:
  - Look at the messages list.
  - 'Add {"role": "user", "content": "Hello"}.'
explanation: |
  A request needs at least one message.
```
"""


def lesson_with(*blocks: str, **replace: str) -> str:
    text = lesson_text() + "".join(blocks)
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


def problems_for(lessons_dir, text: str) -> list[str]:
    write(lessons_dir / "01-tiny.md", text)
    return [str(problem) for problem in load_catalogue().problems]


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if fragment in line)


def test_an_exercise_block_becomes_a_slot_in_the_lesson_html(lessons_dir) -> None:
    write(lessons_dir / "01-tiny.md", lesson_with(EXERCISE))
    lesson = load_catalogue().get("tiny")
    assert '<div class="exercise-slot" data-exercise="first-request"></div>' in lesson.html
    assert "&quot;messages&quot;" not in lesson.html  # the YAML is not shown as code
    exercise = lesson.exercise("first-request")
    assert exercise.title == "Send your first request"
    assert exercise.task_html == "<p>Add a <strong>user</strong> message.</p>\n"
    assert exercise.starter.startswith('{\n  "model"')
    assert len(exercise.checks) == 1 and len(exercise.hints) == 2
    assert exercise.hint(0) == "<p>Look at the messages list.</p>\n"
    assert exercise.hint(7) == exercise.hints[-1]
    assert exercise.line == line_of(lesson_with(EXERCISE), "```exercise")


def test_the_real_lessons_have_at_least_three_exercises_each() -> None:
    for lesson in load_catalogue().lessons:
        assert len(lesson.exercises) >= 3, lesson.slug
        for exercise in lesson.exercises:
            assert f'data-exercise="{exercise.id}"' in lesson.html


BROKEN = [
    (
        "invalid YAML",
        {"title: Send": "title: Send: your"},
        "title: Send: your",
        "exercise 'first-request' is not valid YAML: mapping values are not allowed here",
    ),
    ("a bad id", {"id: first-request": "id: First Request"}, "id: First", "exercise id must use"),
    (
        "starter JSON",
        {'"messages": []': '"messages": [}'},
        '"messages": [}',
        "starter is not valid JSON",
    ),
    (
        "a malformed check",
        {"expect: response.stop_reason": "expect: response.stop_reason =="},
        "expect: response",
        "is not a valid JMESPath expression",
    ),
    (
        "an unknown operator",
        {"    equals: end_turn": "    equal: end_turn"},
        "expect: response",
        "unknown key 'equal'",
    ),
    (
        "one hint",
        {'  - \'Add {"role": "user", "content": "Hello"}.\'\n': ""},
        "hints:",
        "hints must be a list of 2 or 3",
    ),
    ("a missing explanation", {"explanation: |": "explained: |"}, "explained:", "unknown key"),
    ("an unknown fault", {"title: Send": "fault: 418\ntitle: Send"}, "fault: 418", "fault must be"),
    (
        "a solution that fails its own check",
        {"    equals: end_turn": "    equals: max_tokens"},
        "```exercise",
        "the solution does not pass its own check 1: The reply should end on its own.",
    ),
    (
        "a solution the API would refuse",
        {
            '"max_tokens": 256,\n    "messages": [{': '"max_tokens": 256, "temperature": 0,\n    "messages": [{'
        },
        "```exercise",
        "the solution does not pass its own check 1",
    ),
]


@pytest.mark.parametrize(
    ("case", "replace", "fragment", "message"), BROKEN, ids=[case[0] for case in BROKEN]
)
def test_check_lessons_reports_a_broken_exercise_with_file_and_line(
    lessons_dir, case: str, replace: dict[str, str], fragment: str, message: str
) -> None:
    text = lesson_with(EXERCISE, **replace)
    problems = problems_for(lessons_dir, text)
    expected_line = line_of(text, fragment)
    assert any(f"01-tiny.md:{expected_line}: " in p and message in p for p in problems), problems


def test_exercise_ids_are_unique_in_a_lesson(lessons_dir) -> None:
    text = lesson_with(EXERCISE, EXERCISE)
    problems = problems_for(lessons_dir, text)
    second = [n for n, line in enumerate(text.splitlines(), 1) if line == "```exercise"][1]
    assert any(
        f":{second}: exercise id 'first-request' is also used on line" in p for p in problems
    )


def test_the_check_lessons_command_fails_on_a_broken_exercise(lessons_dir, capsys) -> None:
    write(lessons_dir / "01-tiny.md", lesson_with(EXERCISE, **{"equals: end_turn": "equals: 1"}))
    with pytest.raises(CommandError):
        call_command("check_lessons")
    assert "does not pass its own check 1" in capsys.readouterr().err


@pytest.mark.django_db  # check_lessons reads which prompts past conversations used
def test_check_lessons_says_each_lessons_exercises_pass(capsys) -> None:
    call_command("check_lessons")
    out = capsys.readouterr().out
    exercises = load_catalogue().get("messages-api").exercises
    wrong = sum(len(exercise.wrong_answers) for exercise in exercises)
    assert (
        f"exercises: {len(exercises)}, each reference solution passes its own checks in the "
        f"simulator; every starter and all {wrong} listed wrong answers fail them"
    ) in out


def test_the_documented_example_is_a_healthy_exercise(settings) -> None:
    from pathlib import Path

    from course.model_catalogue import model_data
    from course.placeholders import expand
    from course.sandbox.exercises import parse_block
    from course.sandbox.solutions import health

    readme = (Path(settings.BASE_DIR) / "lessons" / "README.md").read_text(encoding="utf-8")
    block = readme.split("```exercise\n", 1)[1].split("\n```\n", 1)[0]
    text, problems = expand(block, Path("README.md"), 1, model_data)
    assert problems == []
    exercise, problems = parse_block(text, Path("README.md"), 1)
    assert problems == [] and exercise is not None
    assert len(exercise.wrong_answers) >= 3 and exercise.checks[0].field == "messages"
    assert exercise.checks[1].field == "messages[-1].role"
    assert health(exercise).ok, health(exercise).failures()
