"""Nothing is charged that is not recorded: a live run is saved as a pending attempt before it
goes upstream, completed with its result, and left visibly unfinished when its process dies.
Grading, progress, the statistics and the tutor leave pending attempts out."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.utils import timezone

from course import allowance, claude
from course.lessons import load_catalogue
from course.models import ApiCharge
from course.sandbox import runner
from course.sandbox.admin import UNFINISHED
from course.sandbox.models import Attempt
from course.sandbox.stats import exercise_summary
from tests.users import make_user
from tutor.attempts import latest_attempt_text

LESSON = SimpleNamespace(slug="messages-api")
HELLO = {
    "model": "claude-haiku-5-5",
    "max_tokens": 64,
    "stream": True,
    "messages": [{"role": "user", "content": "Hello"}],
}


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest_asyncio.fixture
async def live(online, settings):
    settings.ANTHROPIC_API_KEY = "sk-ant-pending"
    settings.SANDBOX_MODE = "live"
    yield online
    await claude.aclose()  # this loop's SDK client and its connections


def what_the_learner_has(user) -> dict:
    """Every reader of attempts a learner or an instructor meets."""
    lesson = load_catalogue().get("messages-api")
    since = timezone.now() - timedelta(days=1)
    return {
        "history": list(Attempt.objects.of(user).values_list("pk", flat=True)),
        "passed": Attempt.objects.passed_ids(user),
        "statistics": exercise_summary(since, since + timedelta(days=2), [lesson]),
        "tutor": latest_attempt_text(user, lesson),
    }


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_live_run_is_recorded_as_pending_before_it_goes_upstream(live) -> None:
    learner = await sync_to_async(make_user)()
    items = runner.run(user=learner, lesson=LESSON, exercise=None, body_text=json.dumps(HELLO))
    first = await anext(items)  # the stream's first event: the call is upstream now
    assert first["kind"] == "event" and len(live.requests) == 1
    pending = await Attempt.objects.aget(learner=learner)
    assert pending.pending is True and pending.mode == "live"
    assert pending.request == HELLO and pending.result == {}
    assert await sync_to_async(what_the_learner_has)(learner) == {
        "history": [],
        "passed": {},
        "statistics": [],
        "tutor": None,
    }
    result = [item async for item in items][-1]
    assert result["kind"] == "result" and result["status"] == 200
    assert result["attempt_id"] == pending.pk  # completed, not recorded a second time
    done = await Attempt.objects.aget(learner=learner)
    assert done.pending is False and done.status == 200
    assert done.result["stop_reason"] == "end_turn"
    seen = await sync_to_async(what_the_learner_has)(learner)
    assert seen["history"] == [done.pk] and "HTTP status: 200" in seen["tutor"]
    assert [row["attempts"] for row in seen["statistics"]] == [1]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_refused_live_run_completes_its_pending_attempt(live, settings) -> None:
    settings.TUTOR_MESSAGES_PER_DAY = 0
    learner = await sync_to_async(make_user)()
    body = json.dumps({**HELLO, "stream": False})
    items = [
        i async for i in runner.run(user=learner, lesson=LESSON, exercise=None, body_text=body)
    ]
    assert items[-1]["status"] == 429 and live.requests == []
    attempt = await Attempt.objects.aget(learner=learner)
    assert attempt.pk == items[-1]["attempt_id"]
    assert attempt.pending is False and attempt.refused_by_site is True


@pytest.mark.django_db
def test_a_run_whose_process_died_shows_unfinished_and_its_charge_is_given_back(
    client, settings
) -> None:
    learner = make_user("ada")
    charge = allowance.reserve(learner, "sandbox")
    pk = Attempt.start(
        learner=learner,
        lesson_slug="messages-api",
        exercise_id="",
        body_text=json.dumps(HELLO),
        body=HELLO,
    )
    # The process was killed mid-call: neither the attempt nor the charge was completed.
    long_ago = timezone.now() - timedelta(hours=1)
    Attempt.objects.filter(pk=pk).update(created_at=long_ago)
    ApiCharge.objects.filter(pk=charge.pk).update(created_at=long_ago)
    assert what_the_learner_has(learner)["history"] == []
    assert allowance.remaining(learner).messages_left == settings.TUTOR_MESSAGES_PER_DAY
    assert ApiCharge.objects.get(pk=charge.pk).settled_at is not None

    staff = make_user("root")
    staff.is_staff = staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    page = client.get("/admin/sandbox/attempt/").content.decode()
    assert f'<span title="{UNFINISHED}">Unfinished</span>' in page  # a word, explained on hover
    running = client.get("/admin/sandbox/attempt/?pending__exact=1").content.decode()
    assert "Unfinished" in running
    change = client.get(f"/admin/sandbox/attempt/{pk}/change/").content.decode()
    status_row = change[change.index("field-outcome") :].split("</div>\n")[0:4]
    assert ">Unfinished</span>" in "".join(status_row)  # the page says so too, not a status of 0
    assert "field-status" not in change
    Attempt.objects.filter(pk=pk).update(created_at=timezone.now())
    assert "Running…" in client.get("/admin/sandbox/attempt/").content.decode()
    assert "Running…" in client.get(f"/admin/sandbox/attempt/{pk}/change/").content.decode()
