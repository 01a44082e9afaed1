from __future__ import annotations

import logging

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError

from course.lessons import load_catalogue
from tests.conftest import lesson_text, write

pytestmark = pytest.mark.django_db


def test_it_passes_on_the_real_lessons(capsys):
    call_command("check_lessons")
    out = capsys.readouterr().out
    assert "All 4 lessons are fine." in out
    assert "ok  01-messages-api.md: lesson 1, /lessons/messages-api/" in out


def test_it_fails_with_file_and_line_on_a_broken_lesson(lessons_dir, capsys):
    write(lessons_dir / "01-good.md", lesson_text(slug="good", order=1))
    bad = lesson_text(slug="bad", order=2, **{"answer: b": "answer: q"})
    write(lessons_dir / "02-bad.md", bad)
    line = bad.splitlines().index("    answer: q") + 1
    with pytest.raises(CommandError, match=r"1 problem\(s\) in the lessons"):
        call_command("check_lessons")
    captured = capsys.readouterr()
    assert (
        f"02-bad.md:{line}: quiz question 1: answer 'q' is not one of the choices (a, b)"
        in captured.err
    )
    assert "ok  01-good.md" in captured.out and "02-bad.md: lesson" not in captured.out


def test_manage_py_check_fails_on_a_broken_lesson(lessons_dir):
    write(lessons_dir / "01-bad.md", lesson_text(**{"slug: tiny": "slug: Bad Slug"}))
    with pytest.raises(SystemCheckError, match=r"course.E001.*slug must use lowercase letters"):
        call_command("check")


def test_manage_py_check_passes_on_the_real_lessons():
    call_command("check")


def test_it_reports_a_broken_model_data_file_once(lessons_dir, capsys):
    for number in (1, 2, 3):
        text = lesson_text(
            slug=f"l{number}", order=number, **{"More text.": "{{ price default input }}"}
        )
        write(lessons_dir / f"0{number}-l.md", text)
    models = lessons_dir / "models.yaml"
    models.write_text(models.read_text() + "models: [\n  - id: x\n")
    with pytest.raises(CommandError, match=r"1 problem\(s\) in the lessons"):
        call_command("check_lessons")
    err = capsys.readouterr().err
    assert err.count("not valid YAML") == 1
    assert "models.yaml:" in err and "expected the node content" in err
    assert "cannot fill placeholders" not in err


def test_it_reports_a_broken_front_matter_once_and_logs_nothing(lessons_dir, capsys, caplog):
    write(lessons_dir / "01-a.md", lesson_text(**{"title: Tiny lesson": "title: [broken"}))
    with pytest.raises(CommandError, match=r"1 problem\(s\) in the lessons"):
        call_command("check_lessons")
    err = capsys.readouterr().err
    assert err.count("front matter is not valid YAML") == 1
    assert "front matter is not valid YAML" not in caplog.text
    assert not logging.getLogger("course.lessons").disabled  # the site still logs problems


def test_it_reports_the_prompt_per_model_and_whether_it_changed(lessons_dir, capsys, settings):
    from django.contrib.auth import get_user_model

    from tutor.models import Conversation, PromptVersion
    from tutor.prompts import system_blocks, system_json

    write(lessons_dir / "01-a.md", lesson_text(slug="first", order=1))
    write(lessons_dir / "02-b.md", lesson_text(slug="second", order=2))
    first, second = load_catalogue().lessons
    user = get_user_model().objects.create_user("learner", password="correct horse battery")
    older = [{**block, "text": block["text"] + " (older)"} for block in system_blocks(second)]
    for lesson, text in [(first, system_json(system_blocks(first))), (second, system_json(older))]:
        conversation = Conversation.objects.current_for(user, lesson.slug)
        question = conversation.messages.create(role="user", text="Hi")
        conversation.messages.create(
            role="assistant",
            reply_to=question,
            text="Hello.",
            model="claude-haiku-5-5",
            prompt=PromptVersion.for_text(lesson.slug, text),
        )
    call_command("check_lessons")
    out = capsys.readouterr().out
    assert "tutor: prompt unchanged since the last conversation (" in out
    assert "tutor: prompt CHANGED since the last conversation (" in out
    assert "too short to cache on claude-sonnet-5, claude-opus-4-6, claude-sonnet-4-6" in out
    assert "unknown for claude-sonnet-5-5 (no published minimum)" in out


def test_it_says_when_no_conversation_used_the_tutor(lessons_dir, capsys):
    write(lessons_dir / "01-a.md", lesson_text())
    call_command("check_lessons")
    assert "tutor: no conversation has used this tutor yet" in capsys.readouterr().out


def test_manage_py_check_reports_a_broken_model_data_file_once(lessons_dir):
    for number in (1, 2):
        text = lesson_text(
            slug=f"l{number}", order=number, **{"More text.": "{{ price default input }}"}
        )
        write(lessons_dir / f"0{number}-l.md", text)
    (lessons_dir / "models.yaml").write_text("models: [\n")
    with pytest.raises(SystemCheckError) as caught:
        call_command("check")
    assert str(caught.value).count("not valid YAML") == 1
    assert "course.E003" in str(caught.value)


def exercise_lesson(lessons_dir, **replace: str) -> str:
    from tests.test_sandbox_exercises import EXERCISE

    text = lesson_text() + EXERCISE
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    write(lessons_dir / "01-tiny.md", text)
    return text


def line_with(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if fragment in line)


def test_an_unclosed_quote_is_reported_where_it_opens_with_the_exercise_id(lessons_dir, capsys):
    text = exercise_lesson(lessons_dir, **{"  - 'Add {": "  - 'Add an unclosed {"})
    text_without_close = text.replace('"Hello"}.\'\n', '"Hello"}.\n')
    write(lessons_dir / "01-tiny.md", text_without_close)
    with pytest.raises(CommandError, match=r"1 problem\(s\) in the lessons"):
        call_command("check_lessons")
    err = capsys.readouterr().err
    line = line_with(text_without_close, "  - 'Add an unclosed {")
    assert (
        f"01-tiny.md:{line}: exercise 'first-request' is not valid YAML: the ' quote opened on "
        "this line (column 5) is never closed"
    ) in err
    assert "unexpected end of stream" not in err


def test_a_wrong_answer_that_passes_is_reported_on_its_line_with_the_mistake(lessons_dir, capsys):
    # This "wrong" answer is right: the checks cannot tell it from the solution.
    fixed = '"max_tokens": 1,\n       "messages": [{"role": "user"'
    text = exercise_lesson(lessons_dir, **{fixed: fixed.replace('": 1,', '": 64,')})
    with pytest.raises(CommandError, match=r"1 problem\(s\) in the lessons"):
        call_command("check_lessons")
    err = capsys.readouterr().err
    line = line_with(text, "- mistake: Adds the message but leaves no room")
    assert (
        f"01-tiny.md:{line}: exercise 'first-request': wrong answer 3 passes every check, so the "
        "checks miss this mistake: Adds the message but leaves no room for a reply."
    ) in err


def test_a_starter_that_already_passes_is_reported(lessons_dir, capsys):
    text = exercise_lesson(
        lessons_dir,
        **{'"messages": []': '"messages": [{"role": "user", "content": "Hi"}]'},
    )
    with pytest.raises(CommandError):
        call_command("check_lessons")
    fence = line_with(text, "```exercise")
    assert (
        f"01-tiny.md:{fence}: exercise 'first-request': the starter already passes every check"
    ) in capsys.readouterr().err


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        ({"wrong_answers:\n": "wrong_answer:\n"}, "unknown key 'wrong_answer'"),
        (
            {"  - mistake: Adds an assistant": "  - mistake:\n    oops: Adds an assistant"},
            "wrong answer 1 must have exactly two keys, mistake and body",
        ),
        (
            {"  - mistake: Sends the question as a top-level prompt field.\n": ""},
            "wrong_answers must be a list of at least 3 entries",
        ),
        (
            {'"max_tokens": 256, "prompt": "Hello"}': '"max_tokens": 256, "prompt": "Hello"'},
            "wrong answer 2's body is not valid JSON",
        ),
        (
            {"    equals: end_turn\n": "    equals: end_turn\n    field: Messages Array\n"},
            "field 'Messages Array' must name a request field",
        ),
        (
            {"expect: response.stop_reason": "expect: length(request.messages)"},
            "reads the request: add 'field:'",
        ),
    ],
)
def test_it_reports_a_malformed_wrong_answer_or_check_field(lessons_dir, capsys, replace, message):
    exercise_lesson(lessons_dir, **replace)
    with pytest.raises(CommandError):
        call_command("check_lessons")
    err = capsys.readouterr().err
    assert "01-tiny.md:" in err and message in err, err
