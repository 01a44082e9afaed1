from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError

from course.lessons import load_catalogue
from tests.lesson_files import lesson_text, write

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


def set_verified(lessons_dir, day: str) -> None:
    models = lessons_dir / "models.yaml"
    text = re.sub(r"(?m)^verified: .*$", f"verified: {day}", models.read_text(encoding="utf-8"))
    models.write_text(text, encoding="utf-8")


def test_it_warns_when_the_model_data_or_a_lesson_was_checked_over_30_days_ago(
    lessons_dir, settings, capsys
):
    write(
        lessons_dir / "01-a.md",
        lesson_text(**{"facts_checked: 2026-11-26": "facts_checked: 2026-10-01"}),
    )
    write(
        lessons_dir / "02-b.md",
        lesson_text(
            slug="fresh", order=2, **{"facts_checked: 2026-11-26": "facts_checked: 2026-11-20"}
        ),
    )
    set_verified(lessons_dir, "2026-10-20")
    settings.COURSE_TODAY = dt.date(2026, 11, 20)
    call_command("check_lessons")  # stale dates warn; they do not fail the check
    captured = capsys.readouterr()
    assert "All 2 lessons are fine." in captured.out
    assert (
        "warning: lessons/models.yaml was last verified on 2026-10-20, 31 days ago" in captured.err
    )
    assert "warning: 01-a.md: facts_checked is 2026-10-01, 50 days ago" in captured.err
    assert "02-b.md" not in captured.err


def test_it_says_nothing_about_dates_checked_within_30_days(lessons_dir, settings, capsys):
    write(lessons_dir / "01-a.md", lesson_text())
    set_verified(lessons_dir, "2026-11-26")
    settings.COURSE_TODAY = dt.date(2026, 11, 29)  # before Sonnet 4.5's retirement date
    call_command("check_lessons")
    assert "warning" not in capsys.readouterr().err


def test_it_lists_the_models_retired_since_the_last_verification(lessons_dir, settings, capsys):
    write(lessons_dir / "01-a.md", lesson_text())
    set_verified(lessons_dir, "2026-11-26")
    settings.COURSE_TODAY = dt.date(2026, 12, 1)
    call_command("check_lessons")
    err = capsys.readouterr().err
    assert (
        "warning: claude-sonnet-4-5 retired on 2026-11-30, after models.yaml was last verified "
        "(2026-11-26): re-verify it against the sources" in err
    )
    assert "claude-3-5-haiku" not in err  # retired long before that check


def test_it_warns_when_a_configured_model_has_retired(lessons_dir, settings, capsys):
    write(lessons_dir / "01-a.md", lesson_text())
    models = lessons_dir / "models.yaml"
    text = models.read_text(encoding="utf-8").replace(
        "course_comparison: claude-haiku-4-5", "course_comparison: claude-sonnet-4-5"
    )
    models.write_text(text, encoding="utf-8")
    set_verified(lessons_dir, "2026-12-01")
    settings.COURSE_TODAY = dt.date(2026, 12, 2)
    call_command("check_lessons")
    err = capsys.readouterr().err
    assert "warning: course_comparison names claude-sonnet-4-5, which retired on 2026-11-30" in err


SHEET = (
    "Entries with a longer TTL must come before entries with a shorter TTL in the prefix, "
    "or the request is refused with a 400 error."
)


def test_it_warns_about_a_run_of_twelve_words_copied_from_the_fact_sheet(
    lessons_dir, tmp_path, capsys
):
    copied = "Remember: entries with a longer TTL must come before entries with a shorter TTL."
    text = lesson_text(**{"More text.": f"Some words of our own.\n\n{copied}"})
    write(lessons_dir / "01-a.md", text)
    sheet = tmp_path / "api-facts.md"
    sheet.write_text(SHEET, encoding="utf-8")
    call_command("check_lessons", copied_from=sheet)
    err = capsys.readouterr().err
    line = text.splitlines().index(copied) + 1
    assert (
        f'warning: 01-a.md:{line}: 13 words repeat api-facts.md: "entries with a longer ttl must '
        "come before entries with a shorter ttl\"; say it in the course's own words" in err
    )


def test_it_leaves_quotations_code_and_short_runs_alone(lessons_dir, tmp_path, capsys):
    body = (
        'The API says "Entries with a longer TTL must come before entries with a shorter TTL".\n\n'
        "```text\nEntries with a longer TTL must come before entries with a shorter TTL\n```\n\n"
        "Entries with a longer TTL must come before entries with a short one."
    )
    write(lessons_dir / "01-a.md", lesson_text(**{"More text.": body}))
    sheet = tmp_path / "api-facts.md"
    sheet.write_text(SHEET, encoding="utf-8")
    call_command("check_lessons", copied_from=sheet)
    assert "words repeat" not in capsys.readouterr().err


def test_it_refuses_a_fact_sheet_it_cannot_read(lessons_dir, tmp_path):
    write(lessons_dir / "01-a.md", lesson_text())
    with pytest.raises(CommandError, match=r"cannot read .*missing\.md"):
        call_command("check_lessons", copied_from=tmp_path / "missing.md")
