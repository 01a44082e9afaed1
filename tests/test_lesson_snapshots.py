"""A lesson broken when a process starts keeps serving its last good version, loudly for staff."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import Permission

from course import lessons
from course.models import LessonSnapshot
from tests.lesson_files import lesson_text, write
from tests.users import make_user

pytestmark = pytest.mark.django_db

BROKEN = "---\ntitle: [unclosed\n---\n\nNo front matter to speak of.\n"


def restart() -> None:
    """What a new process starts with: no lesson parsed yet, nothing in memory."""
    lessons._cache.clear()
    lessons._reported.clear()


@pytest.fixture
def broken_after_restart(lessons_dir):
    path = write(lessons_dir / "01-tiny.md", lesson_text(**{"Tiny lesson": "Tiny good lesson"}))
    write(lessons_dir / "02-other.md", lesson_text("other", 2))
    assert lessons.catalogue().get("tiny").title == "Tiny good lesson"
    restart()
    write(path, BROKEN)
    return path


def test_a_lesson_broken_before_a_restart_is_still_served_from_its_last_good_version(
    client, broken_after_restart, caplog
):
    with caplog.at_level(logging.ERROR, logger="course.lessons"):
        catalogue = lessons.catalogue()
    assert [lesson.slug for lesson in catalogue.lessons] == ["tiny", "other"]
    assert catalogue.get("tiny").title == "Tiny good lesson"
    assert any("01-tiny.md" in str(problem) for problem in catalogue.problems)
    assert "lesson problem" in caplog.text and "01-tiny.md" in caplog.text

    page = client.get("/lessons/tiny/", HTTP_HOST="localhost")
    assert page.status_code == 200 and "Tiny good lesson" in page.content.decode()
    assert "0 of 2 lessons complete" in client.get("/", HTTP_HOST="localhost").content.decode()


def test_learners_do_not_see_the_problem_but_instructors_and_admins_do(
    client, broken_after_restart
):
    client.force_login(make_user("learner"))
    assert "lesson problem" not in client.get("/", HTTP_HOST="localhost").content.decode()

    instructor = make_user("instructor")
    instructor.user_permissions.add(Permission.objects.get(codename="preview_lessons"))
    client.force_login(instructor)
    home = client.get("/", HTTP_HOST="localhost").content.decode()
    assert "1 lesson problem:" in home and "01-tiny.md" in home

    admin = make_user("admin")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    index = client.get("/admin/", HTTP_HOST="localhost").content.decode()
    assert "1 lesson problem:" in index and "last good version" in index


def test_only_a_version_that_parses_is_kept(lessons_dir):
    path = write(lessons_dir / "01-tiny.md", lesson_text())
    lessons.catalogue()
    good = LessonSnapshot.objects.get(file_name="01-tiny.md").source
    write(path, BROKEN)
    lessons.catalogue()
    assert LessonSnapshot.objects.get(file_name="01-tiny.md").source == good


def test_a_lesson_never_seen_good_is_left_out_and_reported(lessons_dir):
    write(lessons_dir / "01-tiny.md", BROKEN)
    catalogue = lessons.catalogue()
    assert catalogue.lessons == () and len(catalogue.problems) >= 1
