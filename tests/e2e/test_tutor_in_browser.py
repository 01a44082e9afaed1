"""The lesson tutor in a browser: a real daphne process, its websocket, and a fake Anthropic API.

The fake (tests/fake_anthropic.py) answers the site's Messages API calls; each test scripts what
the next call gets. A default reply reads "You asked about: <question>." then " w0001", " w0002"
…, so a reply of `tokens=N` deltas ends with w{N-1:04d}.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.e2e.learner import TIMEOUT, sign_up, wait_for_socket
from tests.e2e.learner import tutor_log as log
from tests.fake_anthropic import FakeAnthropic, Reply

LESSON = "/lessons/messages-api/"
FIRST_STARTER = "Why do I have to send the whole conversation again on every request?"

# Set E2E_SCREENSHOTS to a folder to keep pictures of the tutor panel.
SHOTS = os.environ.get("E2E_SCREENSHOTS", "")


def box(page: Page) -> Locator:
    return page.get_by_label("Ask the tutor")


def send_button(page: Page) -> Locator:
    return page.get_by_role("button", name="Send", exact=True)


def replies(page: Page) -> Locator:
    return log(page).locator("article.msg-assistant")


def streaming_text(page: Page) -> Locator:
    return log(page).locator("article.msg-assistant.status-streaming .msg-body")


def ask(page: Page, question: str) -> None:
    box(page).fill(question)
    box(page).press("Enter")


def message_calls(fake: FakeAnthropic) -> int:
    return sum(1 for request in fake.requests if request.path == "/v1/messages")


def shot(target: Page | Locator, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        target.screenshot(path=str(Path(SHOTS) / name))


def sample(page: Page) -> dict:
    """The newest reply's text and whether it is still streaming, read in one go."""
    return page.evaluate(
        """() => {
            const replies = document.querySelectorAll('#tutor-log article.msg-assistant');
            const last = replies[replies.length - 1];
            const body = last && last.querySelector('.msg-body');
            return {
                text: body ? body.textContent : '',
                streaming: !!last && last.classList.contains('status-streaming'),
            };
        }"""
    )


def test_a_learner_asks_and_watches_the_reply_stream(page: Page, tutor_api: FakeAnthropic):
    sign_up(page)
    tutor_api.enqueue(Reply(tokens=40, rate=40))
    question = "How does max_tokens work?"
    ask(page, question)

    expect(streaming_text(page)).to_contain_text("w0005", timeout=TIMEOUT)
    expect(send_button(page)).to_be_disabled()
    first = sample(page)
    page.wait_for_function(
        "n => document.querySelector('#tutor-log .status-streaming .msg-body')"
        "?.textContent.length > n",
        arg=len(first["text"]),
        timeout=TIMEOUT,
    )
    second = sample(page)
    assert first["streaming"] and second["streaming"], (first, second)
    assert len(second["text"]) > len(first["text"]), (first, second)
    assert second["text"].startswith(first["text"])

    reply = replies(page).last
    expect(reply).to_have_class(re.compile(r"\bstatus-complete\b"), timeout=TIMEOUT)
    expect(reply.locator(".msg-body")).to_contain_text(f"You asked about: {question}.")
    expect(reply.locator(".msg-body")).to_contain_text("w0039")
    expect(log(page).get_by_text("Writing…")).to_have_count(0)
    expect(log(page).locator("article.msg-user .msg-body")).to_have_text([question])
    expect(send_button(page)).to_be_enabled()
    expect(box(page)).to_have_value("")

    # Shift+Enter starts a new line and sends nothing.
    calls = message_calls(tutor_api)
    box(page).click()
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    expect(box(page)).to_have_value("first line\nsecond line")
    page.wait_for_timeout(500)
    assert message_calls(tutor_api) == calls
    expect(log(page).locator("article.msg-user")).to_have_count(1)


def test_stop_ends_a_reply(page: Page, tutor_api: FakeAnthropic):
    sign_up(page)
    tutor_api.enqueue(Reply(tokens=400, rate=20))
    ask(page, "Tell me everything about stop reasons")
    expect(streaming_text(page)).to_contain_text("w0003", timeout=TIMEOUT)
    expect(log(page).get_by_text("Writing…")).to_be_visible()
    shot(page.locator("#tutor"), "tutor-mid-stream.png")

    page.get_by_role("button", name="Stop", exact=True).click()
    reply = replies(page).last
    expect(reply.get_by_text("You stopped this reply.")).to_be_visible(timeout=TIMEOUT)
    expect(reply).to_have_class(re.compile(r"\bstatus-stopped\b"))
    expect(send_button(page)).to_be_enabled()
    partial = reply.locator(".msg-body").inner_text()
    assert "w0003" in partial and "w0399" not in partial

    page.reload()
    reply = replies(page).last
    expect(reply.get_by_text("You stopped this reply.")).to_be_visible(timeout=TIMEOUT)
    expect(reply.locator(".msg-body")).to_have_text(partial)
    expect(send_button(page)).to_be_enabled()


def test_a_reload_mid_stream_shows_the_partial_reply_and_continues(
    page: Page, tutor_api: FakeAnthropic
):
    sign_up(page)
    tutor_api.enqueue(Reply(tokens=120, rate=30))
    ask(page, "Explain the messages array")
    expect(streaming_text(page)).to_contain_text("w0005", timeout=TIMEOUT)

    page.reload()
    # Still mid-reply (120 deltas at 30/s take 4 s): the text so far is there, and grows.
    expect(streaming_text(page)).to_contain_text("w0005", timeout=3_000)
    expect(page.get_by_role("button", name="Stop", exact=True)).to_be_enabled()
    reply = replies(page).last
    expect(reply).to_have_class(re.compile(r"\bstatus-complete\b"), timeout=TIMEOUT)
    expect(reply.locator(".msg-body")).to_contain_text("w0119")

    text = log(page).inner_text()
    assert text.count("w0010") == 1, text
    assert text.count("You asked about:") == 1, text
    words = re.findall(r"w\d{4}", reply.locator(".msg-body").inner_text())
    assert words == [f"w{i:04d}" for i in range(1, 120)]


PAYLOADS = "\n\n".join(
    [
        "Here is some HTML:",
        '<img src=x onerror="window.__pwned=1">',
        '<div hx-on:htmx:load="window.__pwned=2" id="tutor-form">x</div>',
        '<button hx-get="/admin/" hx-trigger="load">b</button>',
        "<script>window.__pwned=3</script>",
        "[click](javascript:window.__pwned=4)",
        '<span id="tutor-log" hx-swap-oob="true">wiped</span>',
        "The end.",
    ]
)


def test_a_reply_full_of_html_renders_as_text_and_runs_nothing(
    page: Page, tutor_api: FakeAnthropic
):
    sign_up(page)
    admin_requests: list[str] = []
    page.on("request", lambda r: admin_requests.append(r.url) if "/admin" in r.url else None)
    tutor_api.enqueue(Reply(text=PAYLOADS, rate=50))
    ask(page, "Show me some HTML")

    reply = replies(page).last
    expect(reply).to_have_class(re.compile(r"\bstatus-complete\b"), timeout=TIMEOUT)
    body = reply.locator(".msg-body")
    expect(body).to_contain_text("The end.")

    def check() -> None:
        assert page.evaluate("typeof window.__pwned") == "undefined"
        expect(body).to_contain_text('<img src=x onerror="window.__pwned=1">')
        expect(body).to_contain_text("<script>window.__pwned=3</script>")
        expect(body).to_contain_text('<span id="tutor-log" hx-swap-oob="true">wiped</span>')
        expect(body.get_by_text("onerror", exact=False)).to_be_visible()
        expect(body.locator("img, script, button, div[hx-on\\:htmx\\:load]")).to_have_count(0)
        expect(body.locator("a[href^='javascript']")).to_have_count(0)
        expect(page.locator("#tutor-form")).to_have_count(1)
        expect(page.locator("#tutor-log")).to_have_count(1)
        expect(log(page)).to_contain_text("Show me some HTML")
        assert admin_requests == []

    check()
    page.reload()  # the same reply, rendered by the page this time
    wait_for_socket(page)
    check()

    # The panel still works: a second question gets its answer.
    tutor_api.enqueue(Reply(tokens=10))
    ask(page, "Thanks, and now?")
    second = replies(page).nth(1)
    expect(second).to_have_class(re.compile(r"\bstatus-complete\b"), timeout=TIMEOUT)
    expect(second.locator(".msg-body")).to_contain_text("You asked about: Thanks, and now?.")
    assert page.evaluate("typeof window.__pwned") == "undefined"


def test_the_api_call_panel_shows_the_request_usage_and_cost(
    page: Page, tutor_api: FakeAnthropic, tutor_server_env: dict[str, str]
):
    key = tutor_server_env["ANTHROPIC_API_KEY"]
    assert key == "sk-ant-e2e-key"
    sign_up(page)
    ask(page, "What are the required parameters?")
    expect(replies(page).first).to_have_class(re.compile(r"\bstatus-complete\b"), timeout=TIMEOUT)
    ask(page, "And which headers do I need?")
    second = replies(page).nth(1)
    expect(second).to_have_class(re.compile(r"\bstatus-complete\b"), timeout=TIMEOUT)
    assert message_calls(tutor_api) == 2

    second.get_by_role("button", name="API call", exact=True).click()
    panel = page.get_by_role("dialog", name="The API call behind this reply")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("claude-haiku-5-5", timeout=TIMEOUT)
    expect(panel).to_contain_text("max_tokens")
    expect(panel).to_contain_text('"cache_control"')
    expect(panel.locator(".api-verdict")).to_contain_text("Cache hit")
    cost = panel.locator("dt", has_text="Cost").locator("xpath=following-sibling::dd")
    expect(cost).to_have_text(re.compile(r"^\$\d+\.\d+$"))
    snippet = panel.locator("pre.api-snippet")
    expect(snippet).to_contain_text("anthropic.Anthropic()")
    expect(snippet).not_to_contain_text(key)
    assert key not in page.content()
    shot(page, "tutor-api-call-open.png")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(second.get_by_role("button", name="API call", exact=True)).to_be_focused()


def test_starter_questions_ask_in_one_click(page: Page, tutor_api: FakeAnthropic):
    sign_up(page)
    starters = page.locator("#tutor-starters button.starter")
    expect(starters.first).to_have_text(FIRST_STARTER)
    tutor_api.enqueue(Reply(tokens=30, rate=30))
    starters.first.click()

    expect(log(page).locator("article.msg-user .msg-body")).to_have_text(
        [FIRST_STARTER], timeout=TIMEOUT
    )
    expect(streaming_text(page)).to_contain_text("w0003", timeout=TIMEOUT)
    expect(starters).to_have_count(0)
    reply = replies(page).last
    expect(reply).to_have_class(re.compile(r"\bstatus-complete\b"), timeout=TIMEOUT)
    expect(reply.locator(".msg-body")).to_contain_text("w0029")
    body = tutor_api.requests[-1].body
    assert body is not None and FIRST_STARTER in str(body["messages"][-1]["content"])
    page.reload()
    expect(starters).to_have_count(0)


def test_anonymous_visitors_are_invited_to_sign_in(page: Page, tutor_api: FakeAnthropic):
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.goto(LESSON)
    tutor = page.locator("#tutor")
    invite = tutor.get_by_role("link", name="Sign up to ask the tutor")
    expect(invite).to_be_visible()
    expect(invite).to_have_attribute("href", re.compile(r"/accounts/signup/\?next=.*tutor"))
    expect(tutor.get_by_text(FIRST_STARTER)).to_be_visible()
    expect(page.get_by_label("Ask the tutor")).to_have_count(0)
    page.wait_for_load_state("networkidle")
    assert sockets == []
    assert message_calls(tutor_api) == 0


def test_stop_keeps_the_question_the_learner_is_typing(page: Page, tutor_api: FakeAnthropic):
    sign_up(page)
    tutor_api.enqueue(Reply(tokens=400, rate=20))
    ask(page, "Tell me a long story")
    expect(streaming_text(page)).to_contain_text("w0002", timeout=TIMEOUT)
    box(page).fill("My next question, half written")
    page.get_by_role("button", name="Stop", exact=True).click()
    expect(replies(page).last.get_by_text("You stopped this reply.")).to_be_visible(timeout=TIMEOUT)
    expect(box(page)).to_have_value("My next question, half written", timeout=1_000)


def test_the_api_call_panel_code_has_copy_buttons(page: Page, tutor_api: FakeAnthropic):
    sign_up(page)
    ask(page, "What is a request id?")
    reply = replies(page).last
    expect(reply).to_have_class(re.compile(r"\bstatus-complete\b"), timeout=TIMEOUT)
    reply.get_by_role("button", name="API call", exact=True).click()
    dialog = page.get_by_role("dialog", name="The API call behind this reply")
    expect(dialog.locator("pre.api-snippet")).to_be_visible(timeout=TIMEOUT)
    expect(dialog.get_by_role("button", name=re.compile("^Copy"))).to_have_count(2, timeout=1_000)
