"""The sandbox's controls stay usable around the floating tutor button and in a narrow column."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

LESSON = "/lessons/messages-api/"


def box(page: Page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


@pytest.mark.parametrize("width", [390, 768])
@pytest.mark.parametrize("control", ['[data-role="fault"]', '[data-role="reset"]'])
def test_the_floating_tutor_button_never_covers_a_sandbox_control(page: Page, width, control):
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(LESSON)
    fab = page.get_by_role("button", name="Ask the tutor")
    # Scrolled (or tabbed) just into view, the control sits at the bottom of the screen.
    page.locator(control).first.evaluate(
        "el => el.scrollIntoView({block: 'end', behavior: 'instant'})"
    )
    page.locator(control).first.focus()
    assert not overlap(box(page, control), fab.bounding_box())


@pytest.mark.parametrize("width", [1280, 1440])
def test_the_model_picker_shows_the_whole_model_name(page: Page, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(LESSON)
    room = page.locator('[data-role="model"]').first.evaluate(
        """select => {
          const measure = document.createElement("canvas").getContext("2d");
          measure.font = getComputedStyle(select).font;
          const longest = Math.max(...[...select.options].map(o => measure.measureText(o.text).width));
          return select.clientWidth - longest;
        }"""
    )
    assert room >= 40  # the arrow and the padding need about that much
