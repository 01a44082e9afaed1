"""A conversation starts with its first question: opening lessons leaves the review queue empty."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Browser, Page, expect

from tests.e2e.learner import (
    MARK_SOCKET_OPEN,
    TIMEOUT,
    ask,
    sign_up,
    tutor_log,
    wait_for_socket,
)
from tests.fake_anthropic import FakeAnthropic, Reply
from tests.site_process import site_python

CONVERSATIONS = """
import json, sys, django; django.setup()
from tutor.models import Conversation
rows = Conversation.objects.filter(user__username=sys.argv[1]).order_by("pk")
print(json.dumps([[c.lesson_slug, [m.text for m in c.messages.order_by("pk")]] for c in rows]))
"""


def conversations(env: dict[str, str], username: str) -> list:
    return json.loads(site_python(env, CONVERSATIONS, username))


def test_opening_lessons_starts_no_conversation_and_a_question_starts_one(
    browser: Browser, base_url: str, tutor_api: FakeAnthropic, server_env
):
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    page: Page = context.new_page()
    username = sign_up(page, "/lessons/messages-api/")
    page.goto("/lessons/streaming-and-errors/")
    wait_for_socket(page)
    assert conversations(server_env, username) == []

    # A second tab on the same lesson follows the conversation the first tab's question starts.
    other = context.new_page()
    other.add_init_script(MARK_SOCKET_OPEN)
    other.goto("/lessons/streaming-and-errors/")
    wait_for_socket(other)
    tutor_api.enqueue(Reply(text="Streams arrive as **events**."))
    ask(page, "How do I read a stream?")
    reply = tutor_log(page).locator("article.msg-assistant").last
    expect(reply).to_have_class(re.compile(r"\bstatus-complete\b"), timeout=TIMEOUT)
    expect(tutor_log(other)).to_contain_text("Streams arrive as events.", timeout=TIMEOUT)
    assert conversations(server_env, username) == [
        ["streaming-and-errors", ["How do I read a stream?", "Streams arrive as **events**."]]
    ]

    # New conversation archives it; the next one starts only with the next question.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="New conversation").click()
    wait_for_socket(page)
    expect(tutor_log(page).locator("article")).to_have_count(0)
    assert len(conversations(server_env, username)) == 1
    context.close()
