"""Sandbox drafts in Chromium belong to their learner: a shared browser never shows one learner's
draft to the next, log-out clears them, and a visitor's draft follows them into their account."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e import learner

PASSWORD = learner.PASSWORD
LESSON = "/lessons/messages-api/"
DRAFT = '{"model": "claude-haiku-5-5", "max_tokens": 77, "messages": []}'


def sign_up(page: Page) -> str:
    return learner.sign_up(page, LESSON)


def log_in(page: Page, username: str) -> None:
    page.goto(f"/accounts/login/?next={LESSON}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(re.escape(LESSON) + "$"))


def box(page: Page):
    return page.locator("#exercise-first-request")


def editor(page: Page):
    """The editor, once sandbox.js has put CodeMirror over the textarea (and listens to it)."""
    expect(box(page).locator(".cm-editor")).to_be_visible()
    return box(page).get_by_role("textbox", name="Request body")


def drafts(page: Page) -> list[str]:
    return page.evaluate(
        "Object.keys(localStorage).filter(function (k) { return k.indexOf('sandbox-draft:') === 0; })"
    )


def saved(page: Page, pattern: str = "") -> list[str]:
    """The draft keys, once one matching `pattern` is saved (the editor saves after a pause)."""
    page.wait_for_function(
        """(pattern) => Object.keys(localStorage).some(
            (k) => k.indexOf("sandbox-draft:") === 0 && new RegExp(pattern).test(k))""",
        arg=pattern,
        timeout=10_000,
    )
    return drafts(page)


def test_the_next_learner_on_a_shared_browser_never_sees_the_draft(page: Page) -> None:
    first = sign_up(page)
    editor(page).fill(DRAFT)
    saved(page)
    page.reload()
    expect(editor(page)).to_contain_text('"max_tokens": 77')
    expect(box(page).get_by_text("Restored your draft")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    assert drafts(page) == []

    sign_up(page)  # someone else, at the same browser
    expect(editor(page)).not_to_contain_text('"max_tokens": 77')
    expect(box(page).get_by_text("Restored your draft")).to_be_hidden()
    assert first not in page.content()


def test_a_save_still_waiting_at_log_out_does_not_bring_the_draft_back(page: Page) -> None:
    """The editor saves after a pause in typing. When the learner logs out inside that pause and
    the server is slow to answer, the waiting save must not write back the draft log-out cleared.
    The page's clock is driven by hand, and the first log-out is held on the page (as a slow
    server would hold it) by a listener that runs after the site's own, so the order is certain."""
    sign_up(page)
    expect(box(page).locator(".cm-editor")).to_be_visible()
    page.clock.install()
    editor(page).fill(DRAFT)  # its save now waits on the page's stopped clock
    page.evaluate(
        """() => window.addEventListener("submit", (event) => {
            if (event.target.matches("form[data-logout]")) event.preventDefault();
        }, {once: true})"""
    )
    page.get_by_role("button", name="Log out").click()
    page.clock.run_for(5_000)  # well past the pause the editor waits for
    assert drafts(page) == []

    page.get_by_role("button", name="Log out").click()  # and now the server answers
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    assert drafts(page) == []


def test_a_draft_is_kept_under_its_learner(page: Page) -> None:
    sign_up(page)
    editor(page).fill(DRAFT)
    keys = saved(page, r"^sandbox-draft:\d+:messages-api:first-request$")
    assert not [k for k in keys if not re.match(r"^sandbox-draft:\d+:", k)]


def test_a_visitors_draft_follows_them_into_the_account_they_sign_up_to(page: Page) -> None:
    page.goto(LESSON)
    editor(page).fill(DRAFT)
    saved(page, "^sandbox-draft:visitor:")
    sign_up(page)
    expect(editor(page)).to_contain_text('"max_tokens": 77')
    expect(box(page).get_by_text("Restored your draft")).to_be_visible()
    assert not [k for k in drafts(page) if k.startswith("sandbox-draft:visitor:")]
