"""An exercise's health has one source: the banner and the instructor preview say the same thing.

This test runs its own site on a copy of the lessons, so it can break one while the site runs.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.staff import log_in_as_staff, seed_staff
from tests.site_process import ROOT, daphne, prepare, site_env

LESSON = "01-messages-api.md"
# The first exercise's solution ends on its own: asking for a refusal breaks its own check.
BREAK = (
    "    equals: end_turn\n    part: the max_tokens value",
    "    equals: refusal\n    part: the max_tokens value",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    tmp = tmp_path_factory.mktemp("health-site")
    lessons = tmp / "lessons"
    shutil.copytree(ROOT / "lessons", lessons)
    env = site_env(tmp, LESSONS_DIR=str(lessons))
    prepare(env)
    with daphne(env) as url:
        yield url, lessons, seed_staff(env)


def test_the_preview_says_fails_where_the_banner_says_an_exercise_is_broken(
    page: Page, site: tuple[str, Path, str]
) -> None:
    url, lessons, staff = site
    log_in_as_staff(page, staff, url)
    page.goto(f"{url}/instructor/lessons/messages-api/")
    row = page.locator(".instructor-exercises tr", has_text="first-request")
    expect(row).to_contain_text("passes its")

    path = lessons / LESSON
    text = path.read_text()
    assert text.count(BREAK[0]) >= 1
    path.write_text(text.replace(BREAK[0], BREAK[1], 1))
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))  # a new mtime, surely

    page.goto(f"{url}/instructor/lessons/messages-api/")
    banner = page.locator(".lesson-problems")
    expect(banner).to_contain_text("the solution does not pass its own check")
    expect(row).to_contain_text("fails")
    expect(row).not_to_contain_text("passes its")
    expect(row).to_contain_text("the solution does not pass its own check")
