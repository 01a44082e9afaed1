"""The site's own pages, the tutor's live updates and the admin satisfy the Content-Security-Policy."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.site_process import ROOT

PASSWORD = "a long pass phrase"
# Each page records the violations Chromium reports to it, whatever their kind.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__csp.push(`${event.violatedDirective} ${event.blockedURI || "inline"} at ${event.sourceFile}:${event.lineNumber} ${event.sample}`);
});
"""
PAGES = [
    "/",
    "/lessons/messages-api/",
    "/lessons/system-prompts-and-caching/",
    "/lessons/models-tokens-and-sampling/",
    "/lessons/streaming-and-errors/",
    "/accounts/login/",
    "/accounts/signup/",
    "/lessons/nowhere/",
]
STAFF_PAGES = [
    "/admin/",
    "/admin/tutor/conversation/",
    "/admin/tutor/conversation/summary/",
    "/admin/tutor/feedback/",
    "/instructor/lessons/",
    "/instructor/lessons/messages-api/",
]


@pytest.fixture(scope="module")
def admin_user(server_env, site_url) -> str:
    name = "csp-admin-" + uuid.uuid4().hex[:6]
    script = (
        "import django; django.setup()\n"
        "from django.contrib.auth import get_user_model\n"
        f"get_user_model().objects.create_superuser({name!r}, 'a@example.com', {PASSWORD!r})\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=server_env, check=True)
    return name


def violations(page: Page) -> list[str]:
    return page.evaluate("window.__csp")


def test_no_page_of_the_site_breaks_the_content_security_policy(page: Page):
    page.add_init_script(RECORD_VIOLATIONS)
    for path in PAGES:
        response = page.goto(path)
        assert response is not None
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("load")
        assert violations(page) == [], path


def test_the_tutor_streams_and_the_admin_works_within_the_policy(page: Page, admin_user):
    page.add_init_script(RECORD_VIOLATIONS)
    page.add_init_script(
        "document.addEventListener('htmx:wsOpen', () => { window.__tutorOpen = true; });"
    )
    page.goto("/admin/login/?next=/lessons/messages-api/")
    page.get_by_label("Username").fill(admin_user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile("/lessons/messages-api/$"))
    page.wait_for_function("() => window.__tutorOpen === true")
    page.get_by_label("Ask the tutor").fill("Does the policy hold?")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("log")).to_contain_text("You asked about")
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_visible()
    assert violations(page) == []
    for path in STAFF_PAGES:
        page.goto(path)
        page.wait_for_load_state("load")
        assert violations(page) == [], path


def test_a_frame_too_large_for_the_socket_is_refused_by_the_page_and_kept(page: Page):
    page.add_init_script(
        "document.addEventListener('htmx:wsOpen', () => { window.__tutorOpen = true; });"
    )
    name = "big-" + uuid.uuid4().hex[:8]
    page.goto("/accounts/signup/?next=/lessons/messages-api/")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_function("() => window.__tutorOpen === true")
    # maxlength stops typing past the limit; a script or an extension can still fill the box.
    page.evaluate("document.getElementById('tutor-input').value = 'x'.repeat(1024 * 1024)")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("#tutor-notice")).to_contain_text("too large to send (1025 KiB)")
    assert page.evaluate("document.getElementById('tutor-input').value.length") == 1024 * 1024
    page.get_by_label("Ask the tutor").fill("A normal question")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("log")).to_contain_text("You asked about")
