"""axe-core (bundled by axe-playwright-python, no CDN) on every page type, light and dark.

Any serious or critical violation fails the test, with the rule and the elements it found.
"""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.e2e.learner import TIMEOUT, ask, open_tutor, sign_up, streaming_reply
from tests.e2e.staff import log_in_as_staff
from tests.fake_anthropic import FakeAnthropic, Reply

WIDTHS = [390, 1280]
SCHEMES = ["light", "dark"]
LESSONS = [
    "/lessons/messages-api/",
    "/lessons/system-prompts-and-caching/",
    "/lessons/models-tokens-and-sampling/",
    "/lessons/streaming-and-errors/",
]


def assert_accessible(page: Page) -> None:
    # No CSSOM preload: axe would copy stylesheets that @import others (the admin's forms.css)
    # into <style> elements, which the site's Content-Security-Policy rightly blocks.
    results = Axe().run(page, options={"preload": False})
    found = [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:5])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not found, "\n".join(found)


def show(page: Page, width: int, scheme: str) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_home_page_has_no_serious_accessibility_problems(page: Page, width, scheme):
    show(page, width, scheme)
    page.goto("/")
    assert_accessible(page)


@pytest.mark.parametrize("lesson", LESSONS)
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_lesson_has_no_serious_accessibility_problems(page: Page, lesson, width, scheme):
    show(page, width, scheme)
    page.goto(lesson)
    assert_accessible(page)


@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/signup/", "/no-such-page/"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_account_and_error_pages_have_no_serious_accessibility_problems(
    page: Page, path, scheme
):
    show(page, 390, scheme)
    page.goto(path)
    assert_accessible(page)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_tutor_mid_stream_has_no_serious_accessibility_problems(
    page: Page, tutor_api: FakeAnthropic, width, scheme
):
    show(page, width, scheme)
    sign_up(page, "/lessons/models-tokens-and-sampling/")
    open_tutor(page)
    tutor_api.enqueue(Reply(text="A **list**:\n\n- one\n- two\n\n" + "word " * 400, rate=40))
    ask(page, "What does max_tokens limit?")
    expect(streaming_reply(page)).to_contain_text("word", timeout=TIMEOUT)
    assert_accessible(page)


STAFF_PAGES = [
    "/instructor/lessons/",
    "/instructor/lessons/messages-api/",
    "/instructor/lessons/system-prompts-and-caching/",
    "/admin/",
    "/admin/tutor/conversation/",
    "/admin/tutor/conversation/summary/",
    "/admin/tutor/feedback/",
    "/admin/sandbox/attempt/",
]


@pytest.mark.parametrize("path", STAFF_PAGES)
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_staff_pages_have_no_serious_accessibility_problems(
    page: Page, staff, path, width, scheme
):
    show(page, width, scheme)
    log_in_as_staff(page, staff)
    page.goto(path)
    assert_accessible(page)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_conversation_under_review_has_no_serious_accessibility_problems(
    page: Page, staff, width, scheme
):
    show(page, width, scheme)
    log_in_as_staff(page, staff)
    page.goto("/admin/tutor/conversation/")
    page.locator("#result_list tbody tr a").first.click()
    expect(page.get_by_role("heading", name="Review conversation")).to_be_visible()
    assert_accessible(page)
