"""The lesson page from the keyboard: skip links to the lesson, the exercise and the tutor, and
code editors that let Tab move on unless the learner has asked it to indent."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.learner import sign_up

LESSON = "/lessons/messages-api/"


def tab_to(page: Page, name: str, most: int = 6) -> None:
    """Press Tab from the top of the page until the link called `name` has focus."""
    page.keyboard.press("Tab")
    for _ in range(most - 1):
        if page.evaluate("document.activeElement.textContent.trim()") == name:
            return
        page.keyboard.press("Tab")
    expect(page.get_by_role("link", name=name, exact=True)).to_be_focused()


def focus_is_in(page: Page, selector: str) -> bool:
    return page.evaluate(f"document.activeElement.closest({selector!r}) !== null")


@pytest.mark.parametrize("width", [390, 1280])
def test_the_tutor_is_a_few_tabs_from_the_top_of_a_lesson(page: Page, width):
    page.set_viewport_size({"width": width, "height": 900})
    sign_up(page, LESSON)
    page.reload()
    tab_to(page, "Skip to the tutor")
    page.keyboard.press("Enter")
    if width < 1280:
        expect(page.get_by_role("dialog", name="Lesson tutor")).to_be_visible()
    page.wait_for_function("document.activeElement.closest('#tutor') !== null")
    page.keyboard.type("Where do I start?")
    if width >= 1280:
        expect(page.get_by_label("Ask the tutor", exact=True)).to_have_value("Where do I start?")


def test_a_skip_link_takes_the_keyboard_to_the_exercise_to_do_next(page: Page):
    page.goto(LESSON)
    first = page.locator("section.sandbox-exercise").first
    title = first.locator(".sandbox-title").inner_text()
    tab_to(page, f"Skip to the exercise: {title}")
    page.keyboard.press("Enter")
    expect(first).to_be_focused()
    expect(first).to_be_in_viewport()


def test_the_link_to_the_tutor_shows_with_javascript_and_opens_the_drawer(page: Page):
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto(LESSON)
    link = page.get_by_role("link", name=re.compile("Ask this lesson's tutor"))
    expect(link).to_be_visible()
    link.click()
    expect(page.get_by_role("dialog", name="Lesson tutor")).to_be_visible()


def test_tabbing_through_an_editor_moves_on_without_editing_it(page: Page):
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(LESSON)
    page.evaluate("localStorage.clear()")
    page.reload()
    sandbox = page.locator("section.sandbox-exercise").first
    editor = sandbox.locator(".cm-content")
    body = sandbox.locator("textarea[name=body]")  # hidden; it holds the editor's text
    before = body.input_value()
    editor.click()
    page.keyboard.press("Tab")
    assert not focus_is_in(page, ".cm-editor")
    expect(body).to_have_value(before)
    expect(sandbox.get_by_text("Tab moves to the next control")).to_be_visible()

    # Asked to, Tab indents; Ctrl+M switches back, and the switch on screen follows.
    switch = sandbox.get_by_label("Tab indents")
    switch.check()
    editor.click()
    page.keyboard.press("Home")
    page.keyboard.press("Tab")
    assert focus_is_in(page, ".cm-editor")
    expect(body).not_to_have_value(before)
    page.keyboard.press("Control+m")
    expect(switch).not_to_be_checked()
    page.keyboard.press("Tab")
    assert not focus_is_in(page, ".cm-editor")
