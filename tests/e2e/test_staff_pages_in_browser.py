"""The admin and instructor pages on a phone: nothing widens the page, nothing answers 404."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.e2e.staff import log_in_as_staff


@pytest.mark.parametrize(
    "path",
    [
        "/admin/tutor/conversation/summary/",
        "/instructor/lessons/messages-api/",
        "/instructor/lessons/streaming-and-errors/",
    ],
)
def test_a_wide_table_scrolls_in_its_frame_instead_of_widening_the_page(page: Page, staff, path):
    page.set_viewport_size({"width": 390, "height": 900})
    log_in_as_staff(page, staff)
    page.goto(path)
    page.wait_for_load_state("load")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    frames = page.locator(".table-scroll")
    assert frames.count() >= 1
    # The frame is reachable by keyboard, so its hidden columns can be scrolled into view.
    for i in range(frames.count()):
        assert frames.nth(i).get_attribute("tabindex") == "0"


def test_admin_pages_ask_for_no_missing_icon(page: Page, staff):
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    log_in_as_staff(page, staff)
    page.goto("/admin/tutor/conversation/")
    page.wait_for_load_state("networkidle")
    icon = page.locator("link[rel=icon]")
    assert icon.count() == 1
    assert page.request.get(icon.get_attribute("href")).ok
    assert missing == []
