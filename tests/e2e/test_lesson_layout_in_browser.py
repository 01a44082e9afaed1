"""A lesson at phone and laptop widths: contents, wide tables and code blocks."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

MODELS = "/lessons/models-tokens-and-sampling/"
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}


def test_on_a_phone_the_title_comes_first_and_the_contents_stay_folded(page: Page):
    page.set_viewport_size(PHONE)
    page.goto(MODELS)
    title = page.get_by_role("heading", level=1)
    expect(title).to_be_in_viewport()
    contents = page.get_by_role("navigation", name="On this page")
    expect(contents.get_by_role("link", name="The models table")).to_be_hidden()
    contents.get_by_text("On this page").click()
    expect(contents.get_by_role("link", name="The models table")).to_be_visible()
    assert page.get_by_role("complementary", name="On this page").is_hidden()


def test_on_a_phone_the_models_table_is_one_card_per_model_with_prices_first(page: Page):
    page.set_viewport_size(PHONE)
    page.goto(MODELS)
    card = page.locator(".table-models tbody tr").first
    card.scroll_into_view_if_needed()
    boxes = {
        label: card.locator(f'td[data-label="{label}"]').bounding_box()
        for label in ("Model", "Input", "Output", "API ID", "Status")
    }
    assert boxes["Model"]["y"] < boxes["Input"]["y"] == boxes["Output"]["y"]
    assert boxes["Input"]["y"] < boxes["API ID"]["y"] < boxes["Status"]["y"]
    assert card.bounding_box()["width"] <= PHONE["width"]


def test_the_models_tables_first_column_stays_visible_when_scrolled(page: Page):
    page.set_viewport_size(LAPTOP)
    page.goto(MODELS)
    frame = page.locator(".table-frame:has(.table-models)")
    scroller = frame.get_by_role("region", name="Table: The models table")
    scroller.scroll_into_view_if_needed()
    expect(frame).to_have_class("table-frame is-scrollable can-scroll-right")
    first = scroller.locator("tbody tr").first.locator("td").first
    before = first.bounding_box()
    scroller.focus()  # a keyboard user scrolls it with the arrow keys
    for _ in range(8):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("el => el.scrollLeft > 100", arg=scroller.element_handle(), timeout=5000)
    after = first.bounding_box()
    assert after["x"] == pytest.approx(before["x"], abs=1)
    scroller.evaluate("el => { el.scrollLeft = el.scrollWidth; }")
    expect(frame).not_to_have_class("table-frame is-scrollable can-scroll-right")


def test_on_a_laptop_the_contents_mark_the_section_being_read(page: Page):
    page.set_viewport_size(LAPTOP)
    page.goto(MODELS)
    sidebar = page.get_by_role("complementary", name="On this page")
    page.locator("#the-models-table").scroll_into_view_if_needed()
    page.evaluate("document.getElementById('the-models-table').scrollIntoView()")
    current = sidebar.locator("a[aria-current='true']")
    expect(current).to_have_text("The models table")
    page.locator("#knowledge-check").evaluate("el => el.scrollIntoView()")
    expect(current).to_have_text("Knowledge check")


def test_code_blocks_can_be_scrolled_from_the_keyboard(page: Page):
    page.set_viewport_size(PHONE)
    page.goto(MODELS)
    code = page.locator(".prose pre").first
    code.focus()
    expect(code).to_be_focused()
