"""The lesson sandbox in Chromium: CodeMirror, runs streamed from daphne, grading, drafts, code.

The e2e server runs the sandbox in simulator mode (see conftest.py), as a fresh clone without a
key does, so these tests also show that a learner can do the exercises offline.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Locator, Page, expect

from course.lessons import load_catalogue
from tests.fake_anthropic import FakeAnthropic

PASSWORD = "a long pass phrase"
LESSON_1 = "/lessons/messages-api/"
LESSON_4 = "/lessons/streaming-and-errors/"
TIMEOUT = 15_000
# Set E2E_SCREENSHOTS to a folder to keep pictures of the sandbox.
SHOTS = os.environ.get("E2E_SCREENSHOTS", "")


def sign_up(page: Page, next_url: str) -> str:
    username = "coder-" + uuid.uuid4().hex[:10]
    page.goto(f"/accounts/signup/?next={next_url}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(re.escape(next_url) + "$"))
    return username


def exercise(lesson: str, exercise_id: str):
    return next(e for e in load_catalogue().get(lesson).exercises if e.id == exercise_id)


def sandbox(page: Page, exercise_id: str | None) -> Locator:
    return page.locator(f"#exercise-{exercise_id}" if exercise_id else "#sandbox")


def editor(box: Locator) -> Locator:
    # The script swaps the textarea for a code editor with the same name: a locator that found
    # the textarea first would wait on it, hidden, for ever. Wait for the swap.
    expect(box.locator(".cm-editor")).to_be_visible()
    return box.get_by_role("textbox", name="Request body")


def verdict(box: Locator) -> Locator:
    return box.get_by_role("status")


def shot(page: Page, box: Locator, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        box.screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def test_a_learner_fails_an_exercise_with_a_hint_then_fixes_the_request_and_passes(page: Page):
    sign_up(page, LESSON_1)
    first = exercise("messages-api", "first-request")
    box = sandbox(page, first.id)
    expect(box.get_by_text("Simulator", exact=True)).to_be_visible()
    expect(editor(box)).to_contain_text('"model": "claude-haiku-5-5"')

    box.get_by_role("button", name="Run").click()
    expect(verdict(box)).to_contain_text("Not yet.", timeout=TIMEOUT)
    # The task asks to run the starter first: the API's error leads, and no hint is used.
    expect(verdict(box)).to_contain_text(
        "The API refused the request (400 invalid_request_error): max_tokens"
    )
    expect(verdict(box)).to_contain_text("That was the starter, unchanged, so it used no hint.")
    expect(verdict(box)).to_contain_text("Look at: max_tokens (not in the request yet)")
    expect(box.locator("[data-role=status]")).to_have_text("400")
    expect(box.get_by_role("list", name="Hints").get_by_role("listitem")).to_have_count(0)
    shot(page, box, "lesson1-not-yet")

    editor(box).fill(first.solution)
    box.get_by_role("button", name="Run").click()
    expect(verdict(box)).to_contain_text("Passed.", timeout=TIMEOUT)
    expect(box.locator("[data-role=status]")).to_have_text("200")
    expect(box.get_by_text("end_turn").first).to_be_visible()
    expect(page.locator("#exercises-passed")).to_contain_text("Exercises passed: 1 of")
    shot(page, box, "lesson1-passed")

    page.reload()
    expect(sandbox(page, first.id).get_by_text("Passed", exact=True)).to_be_visible()
    page.goto("/")
    expect(page.get_by_text(re.compile(r"Exercises 1/\d+ passed"))).to_be_visible()


def look_at(box: Locator) -> Locator:
    return box.locator(".cm-look-at")


def test_a_failed_run_shows_the_first_failing_check_and_marks_its_field(page: Page):
    sign_up(page, LESSON_1)
    first = exercise("messages-api", "first-request")
    box = sandbox(page, first.id)
    editor(box).fill(first.solution.replace('"max_tokens": 1024', '"max_tokens": 0'))
    box.get_by_role("button", name="Run").click()
    expect(verdict(box)).to_contain_text("Not yet.", timeout=TIMEOUT)
    checks = verdict(box).locator("[data-role=failed-check]")
    expect(checks).to_contain_text(f"Check 2 of {len(first.checks)}")
    if first.checks[1].part:
        expect(checks).to_contain_text(f"Part of the task: {first.checks[1].part}")
    expect(checks).to_contain_text("Look at: max_tokens")
    expect(verdict(box)).not_to_contain_text("Claude was cut off")  # the first failure only
    expect(look_at(box)).to_have_text('"max_tokens": 0')
    expect(look_at(box)).to_have_attribute("title", "Look at: max_tokens")
    # The editor tells a screen reader where to look.
    described = editor(box).get_attribute("aria-describedby") or ""
    assert f"exercise-{first.id}-look-at" in described.split()
    expect(page.locator(f"#exercise-{first.id}-look-at")).to_have_text("Look at: max_tokens")
    shot(page, box, "lesson1-look-at")

    # The mark follows the field while the learner edits, and goes once the run passes.
    box.locator(".cm-content").click()
    page.keyboard.press("Control+Home")
    page.keyboard.press("Enter")
    expect(look_at(box)).to_have_text('"max_tokens": 0')
    editor(box).fill(first.solution)
    box.get_by_role("button", name="Run").click()
    expect(verdict(box)).to_contain_text("Passed.", timeout=TIMEOUT)
    expect(look_at(box)).to_have_count(0)


def test_an_api_refusal_marks_the_field_its_error_names(page: Page):
    sign_up(page, LESSON_1)
    first = exercise("messages-api", "first-request")
    box = sandbox(page, first.id)
    body = first.starter.replace(
        '"messages": [', '"max_tokens": 64,\n  "temperature": 1,\n  "messages": ['
    )
    editor(box).fill(body)
    box.get_by_role("button", name="Run").click()
    expect(verdict(box)).to_contain_text("The API refused the request", timeout=TIMEOUT)
    expect(verdict(box)).to_contain_text("Look at: temperature")
    expect(look_at(box)).to_have_text('"temperature": 1')


def test_a_run_the_site_refuses_is_not_graded_and_keeps_the_hints(page: Page):
    sign_up(page, LESSON_1)
    first = exercise("messages-api", "first-request")
    box = sandbox(page, first.id)
    hints = box.get_by_role("list", name="Hints").get_by_role("listitem")
    box.get_by_role("button", name="Show a hint").click()
    expect(hints).to_have_count(1)
    editor(box).fill('{"model": "claude-haiku-5-5", "max_tokens": 5,')
    box.get_by_role("button", name="Run").click()
    expect(verdict(box)).to_contain_text(
        "Not graded: The request body is not valid JSON", timeout=TIMEOUT
    )
    expect(verdict(box)).not_to_contain_text("Hint")
    expect(box.locator("[data-role=answered-by]")).to_have_text("This site, which refused it")
    expect(hints).to_have_count(1)
    shot(page, box, "lesson1-not-graded")

    # A real failure reveals the next hint, in the verdict and in the list alike.
    editor(box).fill(first.solution.replace('"max_tokens": 1024', '"max_tokens": 0'))
    box.get_by_role("button", name="Run").click()
    expect(verdict(box)).to_contain_text("Hint 2:", timeout=TIMEOUT)
    expect(hints).to_have_count(2)
    page.reload()
    box = sandbox(page, first.id)
    hints = box.get_by_role("list", name="Hints").get_by_role("listitem")
    expect(hints).to_have_count(2)
    box.get_by_role("button", name="Show a hint").click()
    expect(hints).to_have_count(3)
    expect(box.get_by_role("button", name="Show a hint")).to_be_disabled()


def test_a_streamed_run_shows_its_events_on_a_timeline(page: Page):
    sign_up(page, LESSON_4)
    stream = exercise("streaming-and-errors", "stream-and-read-events")
    box = sandbox(page, stream.id)
    editor(box).fill(stream.solution)
    box.get_by_role("button", name="Run").click()
    expect(verdict(box)).to_contain_text("Passed.", timeout=TIMEOUT)
    timeline = box.locator("[data-role=timeline]")
    for name in ("message_start", "content_block_delta", "message_delta", "message_stop"):
        expect(timeline.get_by_text(name, exact=True).first).to_be_visible()
    names = timeline.locator(".sandbox-event-name").all_inner_texts()
    assert names[0] == "message_start" and names[-1] == "message_stop"
    expect(box.get_by_text("Time to first token")).to_be_visible()
    shot(page, box, "lesson4-timeline")


def test_a_mid_stream_error_ends_the_timeline_with_an_error_event(page: Page):
    sign_up(page, LESSON_4)
    faulty = exercise("streaming-and-errors", "error-mid-stream")
    box = sandbox(page, faulty.id)
    expect(box.get_by_label("Simulate a failure")).to_have_value("stream_error")
    editor(box).fill(faulty.solution)
    box.get_by_role("button", name="Run").click()
    expect(verdict(box)).not_to_contain_text("Running", timeout=TIMEOUT)
    names = box.locator(".sandbox-event-name").all_inner_texts()
    assert names[0] == "message_start" and names[-1] == "error"


def test_get_code_copies_python_that_runs_against_the_api(page: Page, tutor_api: FakeAnthropic):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(LESSON_1)
    first = exercise("messages-api", "first-request")
    box = sandbox(page, first.id)
    editor(box).fill(first.solution)
    box.get_by_role("button", name="Get code").click()
    copy = box.get_by_role("button", name="Copy python to the clipboard")
    copy.click()
    expect(copy).to_have_text("Copied")
    python = page.evaluate("navigator.clipboard.readText()")
    assert "ANTHROPIC_API_KEY" in python and "sk-ant" not in python
    curl_line = 'curl "${ANTHROPIC_BASE_URL:-https://api.anthropic.com}/v1/messages"'
    expect(box.get_by_text(curl_line)).to_be_visible()

    # Runnable: the copied program sends the request (to the local fake API) and prints a reply.
    env = {**os.environ, "ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": tutor_api.url}
    done = subprocess.run(
        [sys.executable, "-c", python], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "end_turn" in done.stdout
    assert tutor_api.requests[-1].body["max_tokens"] == 1024


def test_an_anonymous_visitor_is_asked_to_sign_in_and_keeps_the_draft(page: Page):
    page.goto(LESSON_1)
    box = sandbox(page, "first-request")
    editor(box).fill('{"model": "claude-haiku-5-5", "max_tokens": 64, "messages": []}')
    box.get_by_role("button", name="Run").click()
    expect(verdict(box)).to_contain_text("Sign in to run requests")
    expect(box.get_by_role("link", name="Log in")).to_be_visible()

    page.reload()
    box = sandbox(page, "first-request")
    expect(editor(box)).to_contain_text('"max_tokens": 64')
    expect(box.get_by_text("Restored your draft")).to_be_visible()

    page.on("dialog", lambda dialog: dialog.accept())
    box.get_by_role("button", name="Reset").click()
    expect(editor(box)).not_to_contain_text('"max_tokens": 64')
    page.reload()
    expect(editor(sandbox(page, "first-request"))).not_to_contain_text('"max_tokens": 64')


def test_invalid_json_is_pointed_out_by_line_and_column_as_you_type(page: Page):
    page.goto(LESSON_1)
    box = sandbox(page, "first-request")
    editor(box).fill('{\n  "model": "claude-haiku-5-5",\n  "max_tokens": 64\n  "messages": []\n}')
    expect(box.locator("[data-role=json-error]")).to_contain_text("line 4, column 3")


def test_hints_are_revealed_one_at_a_time(page: Page):
    page.goto(LESSON_1)
    first = exercise("messages-api", "first-request")
    box = sandbox(page, first.id)
    hints = box.get_by_role("list", name="Hints").get_by_role("listitem")
    expect(hints).to_have_count(0)
    for shown in range(1, len(first.hints) + 1):
        box.get_by_role("button", name="Show a hint").click()
        expect(hints).to_have_count(shown)
    expect(box.get_by_role("button", name="Show a hint")).to_be_disabled()


def test_try_it_opens_a_lesson_request_body_in_the_sandbox(page: Page):
    page.goto("/lessons/system-prompts-and-caching/")
    try_it = page.get_by_role("button", name="Try it").first
    try_it.click()
    box = sandbox(page, None)
    expect(editor(box)).to_be_focused()
    expect(editor(box)).to_contain_text('"system"')


def test_the_sandbox_runs_without_javascript(browser, base_url: str):
    context = browser.new_context(java_script_enabled=False, base_url=base_url)
    page = context.new_page()
    sign_up(page, LESSON_1)
    first = exercise("messages-api", "first-request")
    box = sandbox(page, first.id)
    box.get_by_role("textbox", name="Request body").fill(first.solution)
    box.get_by_role("button", name="Run").click()
    box = sandbox(page, first.id)
    expect(verdict(box)).to_contain_text("Passed.")
    expect(box.get_by_role("textbox", name="Request body")).to_have_value(first.solution)
    context.close()


def test_the_sandbox_fits_a_phone_and_a_desktop_in_both_colour_schemes(page: Page):
    sign_up(page, LESSON_4)
    stream = exercise("streaming-and-errors", "stream-and-read-events")
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for width in (390, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(LESSON_4)
            box = sandbox(page, stream.id)
            editor(box).fill(stream.solution)
            box.get_by_role("button", name="Run").click()
            expect(verdict(box)).to_contain_text("Passed.", timeout=TIMEOUT)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{overflow}px wider than a {width}px {scheme} screen"
            shot(page, box, f"lesson4-{width}-{scheme}")


def serious_problems(page: Page, selector: str) -> list[str]:
    """What axe-core finds serious or critical in one part of the page."""
    results = Axe().run(page, context=selector)
    return [
        f"{v['id']}: {v['help']} at " + ", ".join(str(n["target"]) for n in v["nodes"][:5])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_a_failed_check_and_a_refused_run_fit_a_phone_and_a_desktop(page: Page):
    sign_up(page, LESSON_1)
    first = exercise("messages-api", "first-request")
    wrong = first.solution.replace('"max_tokens": 1024', '"max_tokens": 0')
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for width in (390, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(LESSON_1)
            box = sandbox(page, first.id)
            for body, seen, name in (
                (wrong, "Look at:", "failed"),
                ("{", "Not graded:", "refused"),
            ):
                editor(box).fill(body)
                box.get_by_role("button", name="Run").click()
                expect(verdict(box)).to_contain_text(seen, timeout=TIMEOUT)
                overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{overflow}px wider than a {width}px {scheme} screen"
                assert serious_problems(page, f"#exercise-{first.id}") == [], (name, scheme)
                shot(page, box, f"lesson1-{name}-{width}-{scheme}")


def test_stop_cancels_a_streamed_run_and_the_next_run_goes_through(page: Page):
    sign_up(page, LESSON_4)
    stream = exercise("streaming-and-errors", "stream-and-read-events")
    box = sandbox(page, stream.id)
    long_reply = stream.solution.replace('"max_tokens": 256', '"max_tokens": 1024').replace(
        '"Hello"', '"Tell me a long story about the history of HTTP, with many details."'
    )
    editor(box).fill(long_reply)
    box.get_by_role("button", name="Run").click()
    expect(box.get_by_role("button", name="Run")).to_be_disabled()
    expect(box.locator(".sandbox-event").first).to_be_visible(timeout=TIMEOUT)
    box.get_by_role("button", name="Stop").click()
    expect(verdict(box)).to_contain_text("Stopped. Nothing was graded.")
    expect(box.get_by_role("button", name="Stop")).to_be_hidden()

    editor(box).fill(stream.solution)
    box.get_by_role("button", name="Run").click()
    expect(verdict(box)).to_contain_text("Passed.", timeout=TIMEOUT)
