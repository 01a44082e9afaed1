"""Admins see sandbox attempts read-only, and the lesson summary's exercise figures."""

from __future__ import annotations

import pytest

from course.sandbox.models import Attempt
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    admin = make_user("root")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    return admin


def attempt(username: str, passed: bool | None, exercise: str = "first-request") -> Attempt:
    from django.contrib.auth import get_user_model

    learner = get_user_model().objects.filter(username=username).first() or make_user(username)
    return Attempt.objects.create(
        learner=learner,
        lesson_slug="messages-api",
        exercise_id=exercise,
        request_text='{"model": "claude-haiku-5-5"}',
        mode="simulator",
        status=200,
        passed=passed,
    )


def test_the_summary_shows_attempts_pass_rate_and_median_tries_per_exercise(client, staff):
    for passed in (False, False, True, False):  # the run after the pass does not count
        attempt("ada", passed)
    attempt("grace", True)
    attempt("linus", False)
    attempt("linus", None, exercise="")
    response = client.get("/admin/tutor/conversation/summary/")
    html = response.content.decode()
    assert response.status_code == 200
    table = html[html.index('id="exercise-summary"') :]
    row = table[table.index("<code>first-request</code>") :].split("</tr>")[0]
    cells = [c.split(">", 1)[1] for c in row.split("<td")[1:]]
    assert [c.strip().removesuffix("</td>") for c in cells] == ["6", "3", "2", "67%", "2"]
    assert "Free-form playground" in table


def test_attempts_are_read_only_in_the_admin(client, staff):
    record = attempt("ada", False)
    listing = client.get("/admin/sandbox/attempt/")
    assert listing.status_code == 200 and "messages-api" in listing.content.decode()
    assert client.get("/admin/sandbox/attempt/add/").status_code == 403
    page = client.get(f"/admin/sandbox/attempt/{record.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    assert client.post(f"/admin/sandbox/attempt/{record.pk}/delete/").status_code == 403
