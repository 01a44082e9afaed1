"""axe-core (bundled by axe-playwright-python, no CDN) on the pages learners use most.

Any serious or critical violation fails the test, with the rule and the elements it found.
"""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.e2e.learner import TIMEOUT, ask, open_tutor, sign_up, streaming_reply
from tests.fake_anthropic import FakeAnthropic, Reply

WIDTHS = [390, 1280]
LESSON = "/lessons/models-tokens-and-sampling/"


def assert_accessible(page: Page) -> None:
    results = Axe().run(page)
    found = [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:5])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_home_page_has_no_serious_accessibility_problems(page: Page, width, scheme):
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)
    page.goto("/")
    assert_accessible(page)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_lesson_has_no_serious_accessibility_problems(page: Page, width, scheme):
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)
    page.goto(LESSON)
    assert_accessible(page)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_tutor_mid_stream_has_no_serious_accessibility_problems(
    page: Page, tutor_api: FakeAnthropic, width, scheme
):
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)
    sign_up(page)
    open_tutor(page)
    tutor_api.enqueue(Reply(text="A **list**:\n\n- one\n- two\n\n" + "word " * 400, rate=40))
    ask(page, "What does max_tokens limit?")
    expect(streaming_reply(page)).to_contain_text("word", timeout=TIMEOUT)
    assert_accessible(page)
