"""The tutor within reach at every width: beside the lesson from 1280 px, a drawer below."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.learner import TIMEOUT, ask, sign_up, tutor_log
from tests.e2e.test_accessibility_in_browser import assert_accessible
from tests.fake_anthropic import FakeAnthropic, Reply


def fab(page: Page):
    return page.get_by_role("button", name=re.compile("^Ask the tutor"))


@pytest.mark.parametrize("width", [390, 1024])
def test_the_floating_tutor_opens_streams_closes_and_keeps_the_reading_position(
    page: Page, tutor_api: FakeAnthropic, width
):
    page.set_viewport_size({"width": width, "height": 800})
    sign_up(page)
    tutor = page.locator("#tutor")
    expect(tutor).to_be_hidden()
    page.evaluate("window.scrollTo({top: 2400, behavior: 'instant'})")
    reading = page.evaluate("window.scrollY")
    assert reading == 2400

    fab(page).click()
    drawer = page.get_by_role("dialog", name="Lesson tutor")
    expect(drawer).to_be_visible()
    expect(drawer).to_be_in_viewport(ratio=1)
    tutor_api.enqueue(Reply(tokens=150, rate=40))
    ask(page, "What does the messages array hold?")
    streaming = tutor_log(page).locator("article.msg-assistant.status-streaming .msg-body")
    expect(streaming).to_contain_text("w0003", timeout=TIMEOUT)

    # Closed mid-reply: the lesson is where the learner left it, and the reply carries on.
    drawer.get_by_role("button", name="Close the tutor").click()
    expect(tutor).to_be_hidden()
    assert page.evaluate("window.scrollY") == reading
    expect(fab(page)).to_be_focused()
    expect(fab(page).get_by_text("replying")).to_be_visible()
    # (Role queries skip hidden elements, and the closed drawer is hidden: use the id.)
    reply = page.locator("#tutor-log article.msg-assistant").last
    expect(reply).to_have_class(re.compile(r"\bstatus-complete\b"), timeout=TIMEOUT)
    expect(fab(page).get_by_text("replying")).to_be_hidden()

    fab(page).click()
    expect(drawer).to_be_visible()
    expect(reply.locator(".msg-body")).to_contain_text("w0149")
    page.keyboard.press("Escape")
    expect(tutor).to_be_hidden()
    assert page.evaluate("window.scrollY") == reading


def test_the_open_drawer_keeps_focus_inside_and_passes_axe(page: Page, tutor_api: FakeAnthropic):
    page.set_viewport_size({"width": 390, "height": 800})
    sign_up(page)
    fab(page).click()
    expect(page.get_by_role("heading", name="Lesson tutor")).to_be_focused()
    for _ in range(40):
        page.keyboard.press("Tab")
        inside = page.evaluate("document.getElementById('tutor').contains(document.activeElement)")
        assert inside, page.evaluate("document.activeElement.outerHTML")
    assert_accessible(page)


def test_at_1280_the_tutor_sits_beside_the_lesson(page: Page, tutor_api: FakeAnthropic):
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_up(page)
    expect(fab(page)).to_be_hidden()
    tutor = page.locator("#tutor")
    expect(tutor).to_be_in_viewport()
    article = page.locator("article.lesson").bounding_box()
    assert tutor.bounding_box()["x"] >= article["x"] + article["width"]
    page.locator("#knowledge-check").evaluate("el => el.scrollIntoView()")
    expect(page.get_by_label("Ask the tutor", exact=True)).to_be_in_viewport()


def test_the_api_call_opens_in_a_dialog_wide_enough_for_its_json(
    page: Page, tutor_api: FakeAnthropic
):
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_up(page)
    ask(page, "What is a request id?")
    reply = tutor_log(page).locator("article.msg-assistant").last
    expect(reply).to_have_class(re.compile(r"\bstatus-complete\b"), timeout=TIMEOUT)
    reply.get_by_role("button", name="API call", exact=True).click()
    dialog = page.get_by_role("dialog", name="The API call behind this reply")
    json = dialog.locator("pre.api-json")
    expect(json).to_contain_text('"max_tokens"', timeout=TIMEOUT)
    assert dialog.bounding_box()["width"] >= 900
    expect(dialog).to_contain_text("input = tokens not read from or written to the cache")
    assert_accessible(page)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
