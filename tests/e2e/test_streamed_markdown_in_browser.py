"""A streamed reply looks like the finished one: Markdown renders as it arrives, safely."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.learner import TIMEOUT, ask, open_tutor, sign_up, tutor_log
from tests.fake_anthropic import FakeAnthropic, Reply

FORMATTED = (
    "## Two steps\n\n- Send the **whole** history\n- Read `stop_reason`\n\n"
    "```python\nprint(message.stop_reason)\n```\n\n" + "And then some more words. " * 60
)


@pytest.mark.parametrize("width", [390, 1280])
def test_a_streamed_reply_shows_a_formatted_list_and_code_before_it_finishes(
    page: Page, tutor_api: FakeAnthropic, width
):
    page.set_viewport_size({"width": width, "height": 900})
    sign_up(page)
    open_tutor(page)
    tutor_api.enqueue(Reply(text=FORMATTED, rate=30))
    ask(page, "How do I read why a reply stopped?")
    streaming = tutor_log(page).locator("article.msg-assistant.status-streaming")
    expect(streaming.locator("pre code")).to_contain_text(
        "print(message.stop_reason)", timeout=TIMEOUT
    )
    # Still streaming, and already formatted: no raw Markdown on screen.
    expect(streaming).to_have_attribute("aria-busy", "true")
    expect(streaming.get_by_role("heading", name="Two steps")).to_be_visible()
    expect(streaming.get_by_role("listitem")).to_have_text(
        ["Send the whole history", "Read stop_reason"]
    )
    expect(streaming.locator("strong")).to_have_text("whole")
    body = streaming.locator(".msg-body").inner_text()
    assert "**" not in body and "```" not in body and "- Send" not in body
    expect(page.locator("#tutor-status")).to_have_text("Tutor is writing…")
    # The finished blocks, as streamed: the heading and list finished once the code began.
    shown = streaming.locator(".msg-flow[id$='-done']").inner_html()
    assert "<h2>Two steps</h2>" in shown and "</ul>" in shown

    reply = tutor_log(page).locator("article.msg-assistant").last
    expect(reply).to_have_class(re.compile(r"\bstatus-complete\b"), timeout=TIMEOUT * 3)
    expect(page.locator("#tutor-status")).to_have_text("The tutor has replied.")
    expect(reply).not_to_have_attribute("aria-busy", "true")
    final = reply.locator(".msg-body").inner_html()
    # What streamed is the start of the finished reply: nothing re-rendered differently.
    assert final.startswith(shown)


def test_xss_payloads_streamed_in_pieces_stay_inert(page: Page, tutor_api: FakeAnthropic):
    payloads = (
        '<img src=x onerror="window.__pwned=1">\n\n'
        '<button hx-get="/admin/" hx-trigger="load">b</button>\n\n'
        "<script>window.__pwned=3</script>\n\n[click](javascript:window.__pwned=4)\n\n"
        '<span id="tutor-log" hx-swap-oob="true">wiped</span>\n\n' + "tail " * 80
    )
    sign_up(page)
    tutor_api.enqueue(Reply(text=payloads, rate=40))
    ask(page, "Show me some HTML")
    streaming = tutor_log(page).locator("article.msg-assistant.status-streaming")
    expect(streaming).to_contain_text("hx-swap-oob", timeout=TIMEOUT)
    expect(streaming).to_contain_text("<script>window.__pwned=3</script>")
    assert page.evaluate("window.__pwned") is None
    expect(tutor_log(page).locator("img, script, button[hx-get]")).to_have_count(0)
    reply = tutor_log(page).locator("article.msg-assistant").last
    expect(reply).to_have_class(re.compile(r"\bstatus-complete\b"), timeout=TIMEOUT * 2)
    assert page.evaluate("window.__pwned") is None
    expect(tutor_log(page)).to_be_visible()
