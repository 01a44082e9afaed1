"""What the browser tests do as staff: a seeded superuser with a learner's data, and logging in."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.site_process import site_python

STAFF = "axe-admin"
PASSWORD = "a long pass phrase"

# A staff member, and a learner with a conversation, a rated reply and graded attempts, so that
# every admin list and the summary have rows to show.
SEED = f"""
import django; django.setup()
from django.contrib.auth import get_user_model
from course.sandbox.models import Attempt
from tutor.models import Conversation, Feedback
User = get_user_model()
if not User.objects.filter(username="{STAFF}").exists():
    User.objects.create_superuser("{STAFF}", "a@example.com", "{PASSWORD}")
    learner = User.objects.create_user("axe-learner", password="{PASSWORD}")
    conv = Conversation.objects.create(user=learner, lesson_slug="messages-api")
    asked = conv.messages.create(role="user", text="What does max_tokens do?")
    reply = conv.messages.create(role="assistant", reply_to=asked, status="complete",
        text="It caps the **output**.\\n\\n```python\\nprint(1)\\n```", model="claude-haiku-5-5",
        input_tokens=200, output_tokens=80, request_id="req_axe")
    Feedback.objects.create(message=reply, rating="up")
    for passed in (False, True):
        Attempt.objects.create(learner=learner, lesson_slug="messages-api", exercise_id="first-call",
            request_text="{{}}", mode="simulator", status=200, passed=passed)
"""


def seed_staff(env: dict[str, str]) -> str:
    """Create the staff member and the learner's data once per site; return the username."""
    site_python(env, SEED)
    return STAFF


def log_in_as_staff(page: Page, staff: str, site: str = "") -> None:
    """Log in at the admin of the session's site, or of `site` (a base URL) when given."""
    page.goto(f"{site}/admin/login/?next=/admin/")
    page.get_by_label("Username").fill(staff)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
