"""What learners expect of a chat: counter, jump to latest, copy, focus, a confirmed reset."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.learner import TIMEOUT, ask, open_tutor, sign_up, tutor_log
from tests.fake_anthropic import FakeAnthropic, Reply


def box(page: Page):
    return page.get_by_label("Ask the tutor", exact=True)


@pytest.mark.parametrize("width", [390, 1280])
def test_a_long_question_is_counted_not_cut(page: Page, tutor_api: FakeAnthropic, width):
    page.set_viewport_size({"width": width, "height": 900})
    sign_up(page)
    open_tutor(page)
    counter = page.locator("#tutor-count")
    box(page).fill("x" * 100)
    expect(counter).to_be_hidden()
    box(page).fill("x" * 3500)
    expect(counter).to_have_text("3,500 / 4,000 characters")
    box(page).fill("x" * 4100)
    expect(box(page)).to_have_value("x" * 4100)  # never truncated
    expect(counter).to_have_text("100 characters over the 4,000 limit: shorten it to send")


def test_jump_to_latest_copy_and_focus_after_stop(
    browser: Browser, base_url: str, tutor_api: FakeAnthropic
):
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    sign_up(page)
    tutor_api.enqueue(Reply(text="A short **first** reply."))
    ask(page, "First question")
    first = tutor_log(page).locator("article.msg-assistant").last
    expect(first).to_have_class(re.compile(r"\bstatus-complete\b"), timeout=TIMEOUT)
    first.get_by_role("button", name="Copy reply").click()
    expect(first.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == "A short first reply."
    first.get_by_role("button", name="Not helpful").click()
    first.get_by_label("It was wrong").check()
    first.get_by_role("button", name="Send feedback").click()
    expect(box(page)).to_be_focused()  # back to asking
    # Changed to helpful: the browser tests share one site, and the admin review test counts
    # last week's thumbs down.
    first.get_by_role("button", name="Helpful", exact=True).click()
    expect(first.get_by_role("button", name="Helpful", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )

    tutor_api.enqueue(Reply(tokens=600, rate=30))
    ask(page, "Tell me everything")
    streaming = tutor_log(page).locator("article.status-streaming .msg-body")
    expect(streaming).to_contain_text("w0040", timeout=TIMEOUT)
    # Scroll up only once there is somewhere to scroll from: a log that still fits is followed.
    page.wait_for_function(
        "() => { const el = document.getElementById('tutor-log');"
        " return el.scrollHeight - el.clientHeight > 200; }",
        timeout=TIMEOUT,
    )
    latest = page.get_by_role("button", name="Jump to latest")
    # A delta that lands before the browser reports the scroll pulls the log back down (the
    # panel follows a learner who has not scrolled yet), so scroll up as a reader keeps doing.
    for _ in range(20):
        tutor_log(page).evaluate("el => { el.scrollTop = 0; }")
        page.wait_for_timeout(250)
        if latest.is_visible():
            break
    expect(latest).to_be_visible()
    latest.click()
    expect(latest).to_be_hidden()

    page.get_by_role("button", name="Stop", exact=True).click()
    expect(tutor_log(page).get_by_text("You stopped this reply.")).to_be_visible(timeout=TIMEOUT)
    expect(box(page)).to_be_focused()
    context.close()


def test_a_new_conversation_is_started_only_once_confirmed(page: Page, tutor_api: FakeAnthropic):
    sign_up(page)
    ask(page, "Keep me")
    expect(tutor_log(page).locator("article.msg-assistant.status-complete")).to_have_count(
        1, timeout=TIMEOUT
    )
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="New conversation").click()
    expect(tutor_log(page).locator("article.msg-user .msg-body")).to_have_text(["Keep me"])
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="New conversation").click()
    expect(tutor_log(page).locator("article.msg-user")).to_have_count(0, timeout=TIMEOUT)


def test_copy_reply_copies_the_reply_without_the_code_blocks_label_and_button(
    browser: Browser, base_url: str, tutor_api: FakeAnthropic
):
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    sign_up(page)
    tutor_api.enqueue(Reply(text="Run this:\n\n```python\nprint('hi')\n```\n\nThen look."))
    ask(page, "Show me code")
    reply = tutor_log(page).locator("article.msg-assistant").last
    expect(reply).to_have_class(re.compile(r"\bstatus-complete\b"), timeout=TIMEOUT)
    expect(reply.get_by_role("button", name="Copy python to the clipboard")).to_be_visible()
    reply.get_by_role("button", name="Copy reply").click()
    expect(reply.get_by_role("button", name="Copied")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "print('hi')" in copied and "Run this:" in copied and "Then look." in copied
    assert "python" not in copied and "Copy" not in copied
    # The code block's bar is back once the text is read.
    expect(reply.locator(".codeblock-bar")).to_be_visible()
    context.close()
