"""What the browser tests do as a learner: sign up, wait for the tutor's socket, ask."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Locator, Page, expect

PASSWORD = "a long pass phrase"
TIMEOUT = 10_000

# Each page load notes when its tutor socket has opened.
MARK_SOCKET_OPEN = "document.addEventListener('htmx:wsOpen', () => { window.__tutorOpen = true; });"


def sign_up(page: Page, lesson: str = "/lessons/messages-api/") -> str:
    """Sign a fresh learner up through the form and land on the lesson with the socket open."""
    username = "learner-" + uuid.uuid4().hex[:10]
    page.add_init_script(MARK_SOCKET_OPEN)
    page.goto(f"/accounts/signup/?next={lesson}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(re.escape(lesson) + "$"))
    wait_for_socket(page)
    return username


def wait_for_socket(page: Page) -> None:
    page.wait_for_function("() => window.__tutorOpen === true", timeout=TIMEOUT)


def tutor_log(page: Page) -> Locator:
    return page.get_by_role("log", name="Conversation with the tutor")


def ask(page: Page, question: str) -> None:
    box = page.get_by_label("Ask the tutor", exact=True)
    box.fill(question)
    box.press("Enter")


def streaming_reply(page: Page) -> Locator:
    return tutor_log(page).locator("article.msg-assistant.status-streaming")


def open_tutor(page: Page) -> None:
    """Below 1280 px the tutor is a drawer: open it with the floating button."""
    button = page.get_by_role("button", name=re.compile("^Ask the tutor"))
    if button.is_visible():
        button.click()
        expect(page.get_by_role("dialog", name="Lesson tutor")).to_be_visible()
