"""Admins see sandbox attempts read-only, and the lesson summary's exercise figures."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from course.sandbox.models import Attempt
from tests.users import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    admin = make_user("root")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    return admin


def attempt(
    username: str, passed: bool | None, exercise: str = "first-request", refused: bool = False
) -> Attempt:
    from django.contrib.auth import get_user_model

    learner = get_user_model().objects.filter(username=username).first() or make_user(username)
    return Attempt.objects.create(
        learner=learner,
        lesson_slug="messages-api",
        exercise_id=exercise,
        request_text='{"model": "claude-haiku-5-5"}',
        mode="simulator",
        status=400 if refused else 200,
        passed=passed,
        refused_by_site=refused,
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


def test_runs_the_site_refused_are_left_out_of_the_figures(client, staff):
    attempt("ada", None, refused=True)  # bad JSON: never graded, no try
    attempt("ada", False)
    attempt("ada", None, refused=True)
    attempt("ada", True)
    attempt("grace", None, refused=True)  # only refused runs: not a learner who tried
    html = client.get("/admin/tutor/conversation/summary/").content.decode()
    table = html[html.index('id="exercise-summary"') :]
    row = table[table.index("<code>first-request</code>") :].split("</tr>")[0]
    cells = [c.split(">", 1)[1].strip().removesuffix("</td>") for c in row.split("<td")[1:]]
    assert cells == ["2", "1", "1", "100%", "2"]


def test_the_attempt_list_filters_runs_the_site_refused(client, staff):
    attempt("ada", None, refused=True)
    attempt("grace", False)
    page = client.get("/admin/sandbox/attempt/?refused_by_site__exact=1").content.decode()
    assert "ada" in page and "grace" not in page


def test_attempts_are_read_only_in_the_admin(client, staff):
    record = attempt("ada", False)
    listing = client.get("/admin/sandbox/attempt/")
    assert listing.status_code == 200 and "messages-api" in listing.content.decode()
    assert client.get("/admin/sandbox/attempt/add/").status_code == 403
    page = client.get(f"/admin/sandbox/attempt/{record.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    assert client.post(f"/admin/sandbox/attempt/{record.pk}/delete/").status_code == 403


def test_the_migration_marks_the_sites_earlier_refusals_as_not_graded():
    migration = importlib.import_module(
        "course.sandbox.migrations.0002_not_graded_runs_and_hint_track"
    )
    errors = {
        "bad-json": "The request body is not valid JSON: Expecting value at line 1, column 2.",
        "capped": "max_tokens: this sandbox allows at most 1,024 (you asked for 4,000).",
        "daily": "You've used today's 50 questions to Claude, the daily limit. It resets soon.",
        "api": "max_tokens: Field required",
    }
    for exercise, message in errors.items():
        record = attempt("ada", False, exercise=exercise)
        record.result = {"error": {"type": "invalid_request_error", "message": message}}
        record.save()
    attempt("ada", True, exercise="passed")
    migration.mark_site_refusals(apps, None)
    refused = dict(Attempt.objects.values_list("exercise_id", "refused_by_site"))
    assert refused == {
        "bad-json": True,
        "capped": True,
        "daily": True,
        "api": False,
        "passed": False,
    }
    assert Attempt.objects.get(exercise_id="capped").passed is None


def test_the_status_filter_lists_finished_runs_statuses_only(client, staff):
    attempt("ada", False)
    attempt("grace", None, refused=True)
    Attempt.start(
        learner=make_user("linus"),
        lesson_slug="messages-api",
        exercise_id="first-request",
        body_text="{}",
        body={},
    )
    page = client.get("/admin/sandbox/attempt/").content.decode()
    choices = page[page.index("By status") :].split("</ul>")[0]
    assert "?status=200" in choices and "?status=400" in choices
    assert "?status=0" not in choices  # a pending run has no status yet
    finished = client.get("/admin/sandbox/attempt/?status=200").content.decode()
    assert "ada" in finished and "grace" not in finished and "linus" not in finished


def test_the_request_keeps_the_learners_indentation(client, staff):
    record = attempt("ada", False)
    record.request_text = '{\n  "model": "claude-haiku-5-5"\n}'
    record.save()
    page = client.get(f"/admin/sandbox/attempt/{record.pk}/change/").content.decode()
    assert (
        '<pre class="request-text">{\n  &quot;model&quot;: &quot;claude-haiku-5-5&quot;\n}</pre>'
        in page
    )
