"""Practice counts: a learner who has passed exercises is told to continue, and sees progress."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.learner import sign_up
from tests.site_process import site_python

# What the sandbox records when a learner passes an exercise (its run path is tested in
# tests/e2e/test_sandbox_in_browser.py): here every exercise of lesson 1 is passed.
PASS_LESSON_ONE = """
import sys, django; django.setup()
from django.contrib.auth import get_user_model
from course.lessons import catalogue
from course.sandbox.models import Attempt
learner = get_user_model().objects.get(username=sys.argv[1])
lesson = catalogue().lessons[0]
for exercise in lesson.exercises:
    Attempt.objects.create(learner=learner, lesson_slug=lesson.slug, exercise_id=exercise.id,
        request_text="{}", mode="simulator", status=200, passed=True)
print(len(lesson.exercises))
"""


def test_passed_exercises_count_as_started_and_as_progress(page: Page, server_env):
    username = sign_up(page, "/lessons/messages-api/")
    page.goto("/")
    expect(page.get_by_role("link", name=re.compile(r"^Start lesson 1\b"))).to_be_visible()

    passed = int(site_python(server_env, PASS_LESSON_ONE, username))
    page.reload()
    expect(page.get_by_role("link", name=re.compile(r"^Continue lesson 1\b"))).to_be_visible()
    expect(page.get_by_text("Start lesson 1")).to_have_count(0)
    bar = page.get_by_role("progressbar", name="Course progress")
    assert int(bar.get_attribute("value")) == passed
    expect(page.locator(".course-progress")).to_contain_text(f"{passed} of ")
    expect(page.locator(".course-progress")).to_contain_text("exercises passed")
