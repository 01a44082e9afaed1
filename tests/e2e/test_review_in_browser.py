"""An admin finds last week's thumbs-down conversations, reads them, marks them reviewed, exports them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from playwright.sync_api import Page, expect

from tests.site_process import ROOT

SEED = """
import django; django.setup()
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from tutor.models import Conversation, Feedback
User = get_user_model()
User.objects.create_superuser("reviewer", "r@example.com", "a long pass phrase")
def make(name, days, rating, question):
    user = User.objects.create_user(name, password="a long pass phrase")
    conv = Conversation.objects.create(user=user, lesson_slug="messages-api")
    asked = conv.messages.create(role="user", text=question)
    reply = conv.messages.create(role="assistant", reply_to=asked, status="complete",
        text="The answer is **b**.", model="claude-haiku-5-5", input_tokens=200,
        output_tokens=80, cache_read_input_tokens=6000, ttft_ms=350, duration_ms=1500,
        request_id="req_" + name)
    if rating:
        Feedback.objects.create(message=reply, rating=rating, reason="gave_answer")
    when = timezone.now() - timedelta(days=days)
    Conversation.objects.filter(pk=conv.pk).update(created_at=when, updated_at=when)
make("recent_down", 2, "down", "Which choice is right in question 3?")
make("old_down", 30, "down", "An old complaint")
make("recent_up", 1, "up", "Thanks!")
"""


@pytest.fixture(scope="module")
def review_data(server_env, site_url):
    subprocess.run([sys.executable, "-c", SEED], cwd=ROOT, env=server_env, check=True)


def test_an_admin_reviews_and_exports_last_weeks_thumbs_down(page: Page, review_data, tmp_path):
    page.goto("/admin/")
    page.get_by_label("Username").fill("reviewer")
    page.get_by_label("Password").fill("a long pass phrase")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Conversations").first.click()

    page.get_by_role("link", name="Thumbs down").click()
    page.get_by_role("link", name="Past 7 days").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("recent_down")
    expect(rows.first).to_contain_text(
        "$0.0001"
    )  # 200 × $0.10 + 6000 × $0.01 + 80 × $0.50 per MTok

    rows.first.get_by_role("link", name="recent_down").click()
    expect(page.get_by_role("heading", name="Review conversation")).to_be_visible()
    expect(page.get_by_text("Which choice is right in question 3?")).to_be_visible()
    expect(page.get_by_text("It gave the answer away")).to_be_visible()
    expect(page.get_by_text("cost $0.000120")).to_be_visible()
    page.get_by_label("Tags").fill("gave-answer")
    page.get_by_label("Reviewer note").fill("Socratic mode should have held back the letter.")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("was changed successfully")).to_be_visible()

    page.get_by_role("link", name="Thumbs down").click()
    page.get_by_role("link", name="Past 7 days").click()
    page.locator("#action-toggle").check()
    page.get_by_label("Action:").select_option("mark_reviewed")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_text("Marked 1 conversation(s) as reviewed.")).to_be_visible()
    expect(page.locator("#result_list tbody tr").first).to_contain_text("Reviewed")

    page.locator("#action-toggle").check()
    page.get_by_label("Action:").select_option("export_json")
    with page.expect_download() as download:
        page.get_by_role("button", name="Go").click()
    path = tmp_path / "export.json"
    download.value.save_as(path)
    exported = json.loads(path.read_text())["conversations"]
    assert [c["learner"] for c in exported] == ["recent_down"]
    assert exported[0]["tags"] == "gave-answer" and exported[0]["review_state"] == "reviewed"

    page.get_by_role("link", name="Summary by lesson").click()
    expect(page.get_by_role("heading", name="Tutor summary by lesson")).to_be_visible()
    expect(page.locator("#summary")).to_contain_text("The Messages API")
