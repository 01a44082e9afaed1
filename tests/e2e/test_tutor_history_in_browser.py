"""Past conversations reopened, a reply regenerated, a cut-short reply continued, in Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.learner import TIMEOUT, ask, open_tutor, sign_up, tutor_log, wait_for_socket
from tests.e2e.test_accessibility_in_browser import assert_accessible
from tests.fake_anthropic import FakeAnthropic, Reply
from tutor.turns import CONTINUE_TEXT

FINISHED = re.compile(r"\bstatus-complete\b")


def finish(page: Page, question: str) -> None:
    """Ask, and wait for the question's own reply to finish (not an earlier one, still shown)."""
    replies = tutor_log(page).locator("article.msg-assistant")
    before = replies.count()
    ask(page, question)
    expect(replies).to_have_count(before + 1, timeout=TIMEOUT)
    expect(replies.last).to_have_class(FINISHED, timeout=TIMEOUT)


def accessible_in_light_and_dark(page: Page) -> None:
    for scheme in ("dark", "light"):
        page.emulate_media(color_scheme=scheme)
        assert_accessible(page)


@pytest.mark.parametrize("width", [390, 1280])
def test_a_past_conversation_is_listed_read_and_reopened(
    page: Page, tutor_api: FakeAnthropic, width: int
):
    page.set_viewport_size({"width": width, "height": 900})
    tutor_api.enqueue(Reply(text="Tokens are pieces of text."), Reply(text="Streams send events."))
    sign_up(page)
    open_tutor(page)
    finish(page, "What is a token?")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="New conversation").click()
    expect(tutor_log(page).locator("article.msg-user")).to_have_count(0, timeout=TIMEOUT)
    wait_for_socket(page)
    finish(page, "How does streaming work?")

    page.get_by_text("Past conversations (1)").click()
    expect(page.get_by_role("button", name="Reopen: What is a token?")).to_be_visible()
    accessible_in_light_and_dark(page)
    page.get_by_role("link", name="What is a token?").click()
    expect(page.get_by_role("heading", name="Your conversation with the tutor")).to_be_visible()
    accessible_in_light_and_dark(page)
    expect(page.locator("main")).to_contain_text("Tokens are pieces of text.")
    expect(page.locator("main")).not_to_contain_text("Streams send events.")

    page.get_by_role("button", name="Reopen this conversation").click()
    expect(page).to_have_url(re.compile(r"/lessons/messages-api/#tutor$"))
    wait_for_socket(page)
    log = tutor_log(page)
    expect(log.locator("article.msg-user .msg-body")).to_have_text(["What is a token?"])
    expect(page.get_by_role("alert").filter(has_text="Reopened your conversation")).to_be_visible()
    # The socket follows the reopened conversation: a new question carries on in it.
    tutor_api.enqueue(Reply(text="Yes, about four characters each."))
    finish(page, "Roughly how long is one?")
    expect(log.locator("article.msg-user .msg-body")).to_have_text(
        ["What is a token?", "Roughly how long is one?"]
    )
    assert tutor_api.requests[-1].body["messages"][0]["content"] == "What is a token?"
    # The conversation it replaced is the one listed now.
    page.get_by_text("Past conversations (1)").click()
    expect(page.get_by_role("link", name="How does streaming work?")).to_be_visible()


def test_regenerate_replaces_the_latest_reply_and_continue_asks_for_the_rest(
    page: Page, tutor_api: FakeAnthropic
):
    page.set_viewport_size({"width": 1280, "height": 900})
    tutor_api.enqueue(Reply(text="A first answer."), Reply(text="An answer to try again."))
    sign_up(page)
    log = tutor_log(page)
    finish(page, "First question")
    finish(page, "Second question")
    replies = log.locator("article.msg-assistant")
    regenerate = log.get_by_role("button", name="Regenerate")
    expect(regenerate).to_have_count(1)  # only the latest reply offers it
    expect(replies.first.get_by_role("button", name="Regenerate")).to_be_hidden()

    tutor_api.enqueue(Reply(text="A better answer."))
    regenerate.click()
    expect(replies.last).to_contain_text("A better answer.", timeout=TIMEOUT)
    expect(replies.last).to_have_class(FINISHED, timeout=TIMEOUT)
    expect(replies).to_have_count(2)
    expect(log).not_to_contain_text("An answer to try again.")
    page.reload()
    wait_for_socket(page)
    expect(replies).to_have_count(2)
    expect(replies.last).to_contain_text("A better answer.")

    tutor_api.enqueue(
        Reply(text="The start of it", stop_reason="max_tokens"), Reply(text="the end.")
    )
    finish(page, "Tell me at length")
    expect(replies.last).to_contain_text("Cut short")
    replies.last.get_by_role("button", name="Continue").click()
    expect(log.locator("article.msg-user .msg-body").last).to_have_text(CONTINUE_TEXT)
    expect(replies.last).to_contain_text("the end.", timeout=TIMEOUT)
    expect(log.get_by_role("button", name="Continue")).to_be_hidden()
