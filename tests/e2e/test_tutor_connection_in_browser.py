"""Connection state in the browser: the server dies mid-reply, and comes back."""

from __future__ import annotations

import contextlib
import re
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.learner import TIMEOUT, ask, open_tutor, sign_up, tutor_log
from tests.fake_anthropic import FakeAnthropic, Reply
from tests.site_process import free_port, prepare, site_env, start_daphne
from tests.waiting import wait_until

STALE_SECONDS = 2


def seconds_since_saved(env: dict[str, str]) -> float:
    """How long ago the reply still marked streaming was last saved, by the database's clock."""
    path = env["DATABASE_URL"].removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path)) as database:
        (age,) = database.execute(
            "SELECT (julianday('now') - julianday(MAX(updated_at))) * 86400 FROM tutor_message"
            " WHERE role = 'assistant' AND status = 'streaming'"
        ).fetchone()
    return age or 0.0


@pytest.fixture
def own_site(tmp_path: Path, tutor_server_env: dict[str, str]) -> Iterator[dict]:
    """A site of this test's own, on a fixed port, that the test may kill and restart."""
    # A reply nobody saved for 2 s was being written by a process that died.
    env = site_env(tmp_path, **tutor_server_env, TUTOR_STALE_SECONDS=str(STALE_SECONDS))
    prepare(env)
    port = free_port()
    process, url = start_daphne(env, port)
    site = {"env": env, "port": port, "url": url, "process": process}
    yield site
    site["process"].kill()
    site["process"].wait()


@pytest.mark.parametrize("width", [390, 1280])
def test_a_reply_cut_by_a_server_crash_reads_as_interrupted_after_it_restarts(
    browser: Browser, own_site: dict, tutor_api: FakeAnthropic, width
):
    context = browser.new_context(
        base_url=own_site["url"], viewport={"width": width, "height": 900}
    )
    page: Page = context.new_page()
    sign_up(page)
    open_tutor(page)
    tutor_api.enqueue(Reply(tokens=600, rate=20))
    ask(page, "Tell me a long story")
    reply = tutor_log(page).locator("article.msg-assistant").last
    expect(reply.locator(".msg-body")).to_contain_text("w0003", timeout=TIMEOUT)

    own_site["process"].kill()  # a crash: no goodbye, the reply is left "streaming"
    own_site["process"].wait()
    expect(page.get_by_role("status").filter(has_text="Reconnecting…")).to_be_visible(
        timeout=TIMEOUT
    )
    send = page.get_by_role("button", name="Send", exact=True)
    expect(send).to_be_disabled()
    box = page.get_by_label("Ask the tutor", exact=True)
    box.fill("A question typed while offline")
    box.press("Enter")
    expect(box).to_have_value("A question typed while offline")  # kept, not sent

    wait_until(
        lambda: seconds_since_saved(own_site["env"]) > STALE_SECONDS,
        "the dead writer's reply goes stale",
    )
    own_site["process"], _ = start_daphne(own_site["env"], own_site["port"])
    page.evaluate("window.__noReload = true")
    expect(reply).to_contain_text("This reply was interrupted", timeout=40_000)
    expect(reply).to_have_class(re.compile(r"\bstatus-interrupted\b"))
    expect(page.get_by_text("Reconnecting…")).to_be_hidden()
    expect(send).to_be_enabled()
    expect(box).to_have_value("A question typed while offline")
    assert page.evaluate("window.__noReload") is True
    # Retry asks the same question again; the new reply takes the interrupted one's place.
    tutor_api.enqueue(Reply(text="The whole story, this time."))
    reply.get_by_role("button", name="Retry").click()
    replies = tutor_log(page).locator("article.msg-assistant")
    expect(replies).to_have_count(1, timeout=TIMEOUT)
    expect(replies.last).to_have_class(re.compile(r"\bstatus-complete\b"), timeout=TIMEOUT)
    expect(replies.last).to_contain_text("The whole story, this time.")
    expect(box).to_have_value("A question typed while offline")
    context.close()


def test_a_tab_logged_out_elsewhere_stops_asking(browser: Browser, base_url: str, tutor_api):
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    sign_up(page)
    other = context.new_page()
    other.goto("/")
    other.get_by_role("button", name="Log out").click()
    ask(page, "Still there?")
    expect(
        page.get_by_text("You were logged out. Log in again to ask the tutor.").first
    ).to_be_visible(timeout=TIMEOUT)
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_disabled()
    expect(page.get_by_label("Ask the tutor", exact=True)).to_have_value("Still there?")
    assert not any(r.path == "/v1/messages" for r in tutor_api.requests)
    context.close()


UNANSWERED_MS = 8_000  # static/js/tutor.js: how long a question waits before the page says so


def test_a_question_the_server_never_answers_stays_in_the_box_with_a_notice(
    browser: Browser, own_site: dict, tutor_api: FakeAnthropic
):
    question = "What does max_tokens do?"
    page: Page = browser.new_context(base_url=own_site["url"]).new_page()
    sign_up(page)
    open_tutor(page)
    box = page.get_by_label("Ask the tutor", exact=True)
    unanswered = page.get_by_role("alert").filter(has_text="The tutor did not get your question")
    # The server stops listening with the socket still open, as during a Redis or server restart.
    own_site["process"].send_signal(signal.SIGSTOP)
    try:
        ask(page, question)
        expect(unanswered).to_be_visible(timeout=UNANSWERED_MS + TIMEOUT)
        expect(unanswered).to_contain_text("It is still in the box")
        expect(box).to_have_value(question)  # nothing the learner wrote is lost
    finally:
        own_site["process"].send_signal(signal.SIGCONT)
    # The server wakes and takes the question: only now does the box empty.
    expect(tutor_log(page).locator("article.msg-user").last).to_contain_text(
        question, timeout=TIMEOUT
    )
    expect(box).to_have_value("")
    expect(unanswered).to_be_hidden()
    page.context.close()
