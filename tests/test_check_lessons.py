from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError

from tests.conftest import lesson_text, write


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
