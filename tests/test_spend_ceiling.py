"""The site's daily ceiling on live spending: priced from lessons/models.yaml, shared by the tutor
and the sandbox, shown to admins, and a fall back to offline modes once reached."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from course import allowance, claude, model_catalogue
from course.model_catalogue import model_data
from course.models import ApiCharge
from course.sandbox import runner
from tests.tutor_client import ask, connect, final_reply, learner, until
from tests.users import make_user
from tutor.markup import FINAL
from tutor.models import Message

LESSON = SimpleNamespace(slug="messages-api")
HELLO = '{"model": "claude-haiku-5-5", "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}'


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    yield
    cache.clear()


def spend(user, dollars: str, source: str = "tutor") -> None:
    ApiCharge.objects.create(
        user=user, source=source, produced=True, cost=Decimal(dollars), settled_at=timezone.now()
    )


async def run(user) -> dict:
    items = [i async for i in runner.run(user=user, lesson=LESSON, exercise=None, body_text=HELLO)]
    return items[-1]


def test_one_hour_cache_writes_are_priced_at_their_own_rate() -> None:
    haiku = model_data().get("claude-haiku-5-5")
    usage = {
        "input_tokens": 1_000_000,
        "output_tokens": 1_000_000,
        "cache_read_input_tokens": 1_000_000,
        "cache_creation_input_tokens": 3_000_000,
        "cache_creation": {"ephemeral_1h_input_tokens": 1_000_000},
    }
    expected = (
        haiku.input + haiku.output + haiku.cache_read + 2 * haiku.cache_write_5m
    ) + haiku.cache_write_1h
    assert model_catalogue.cost(usage, "claude-haiku-5-5") == expected
    assert haiku.cache_write_1h != haiku.cache_write_5m
    assert model_catalogue.cost(usage, "no-such-model") == 0
    assert (
        model_catalogue.cost({"input_tokens": "lots", "output_tokens": -5}, "claude-haiku-5-5") == 0
    )


@pytest.mark.asyncio
async def test_the_tutor_records_one_hour_cache_writes_and_prices_them_at_that_rate(online) -> None:
    haiku = model_data().get("claude-haiku-5-5")
    hour = {"type": "ephemeral", "ttl": "1h"}
    system = [{"type": "text", "text": "Lesson text. " * 400, "cache_control": hour}]
    call = claude.Call(model=haiku.id, max_tokens=64)
    await claude.stream_reply(
        model=haiku.id,
        max_tokens=64,
        system=system,
        messages=[{"role": "user", "content": "Hi"}],
        on_text=lambda text: None,
        call=call,
    )
    await claude.aclose()
    counts = call.counts  # what the tutor saves on the reply
    assert counts["cache_creation_1h_input_tokens"] == counts["cache_creation_input_tokens"] > 0
    reply = Message(role="assistant", model=haiku.id, **counts)
    expected = (
        counts["input_tokens"] * haiku.input
        + counts["output_tokens"] * haiku.output
        + counts["cache_creation_input_tokens"] * haiku.cache_write_1h
    ) / 1_000_000
    assert reply.cost(haiku) == expected == model_catalogue.cost(call.usage, haiku.id)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_live_run_records_what_it_cost(online, settings) -> None:
    settings.SANDBOX_MODE = "live"
    user = await sync_to_async(make_user)()
    result = await run(user)
    await claude.aclose()
    charge = await ApiCharge.objects.aget(user=user)
    assert charge.cost == model_catalogue.cost(result["usage"], "claude-haiku-5-5") > 0
    assert await sync_to_async(allowance.spent_today)() == charge.cost


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_once_the_site_spent_its_ceiling_live_runs_fall_back_to_the_simulator(
    online, settings
) -> None:
    settings.SANDBOX_MODE = "live"
    settings.SITE_DAILY_SPEND_LIMIT = Decimal("5")
    someone, user = await sync_to_async(make_user)("big-spender"), await sync_to_async(make_user)()
    await sync_to_async(spend)(someone, "3.00")
    await sync_to_async(spend)(someone, "2.00", "sandbox")
    result = await run(user)
    assert result["status"] == 200 and result["mode"] == "simulator"
    assert "spent today's budget" in result["notice"] and "midnight UTC" in result["notice"]
    assert online.requests == []
    assert not await ApiCharge.objects.filter(user=user).aexists()


@pytest.mark.django_db
def test_the_ceiling_refuses_a_reservation_and_below_it_one_goes_through(settings) -> None:
    settings.SITE_DAILY_SPEND_LIMIT = Decimal("1")
    user = make_user()
    spend(user, "0.999999")
    allowance.reserve(user, "sandbox")
    spend(user, "0.000001")
    with pytest.raises(allowance.CeilingReached):
        allowance.reserve(user, "tutor")
    settings.SITE_DAILY_SPEND_LIMIT = None  # "off"
    allowance.reserve(user, "tutor")


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("tutor_cleanup")
async def test_once_the_ceiling_is_reached_the_tutor_answers_offline_for_free(
    online, settings
) -> None:
    settings.SITE_DAILY_SPEND_LIMIT = Decimal("1")
    user, cookie = await learner()
    await sync_to_async(spend)(user, "1.50")
    tutor = await connect(cookie)
    await ask(tutor, "What does max_tokens do?")
    frames = await until(tutor, FINAL)
    assert final_reply(frames)
    assert online.requests == []
    assert await ApiCharge.objects.filter(user=user).acount() == 1  # only the earlier spend
    await tutor.disconnect()
    page = await sync_to_async(signed_in_page)(user)
    assert "Offline mode" in page and "spent today&#x27;s budget" in page


def signed_in_page(user) -> str:
    client = Client()
    client.force_login(user)
    return client.get("/lessons/messages-api/").content.decode()


@pytest.mark.django_db
def test_the_admin_index_shows_todays_spend_against_the_ceiling(settings) -> None:
    settings.SITE_DAILY_SPEND_LIMIT = Decimal("20")
    admin = get_user_model().objects.create_superuser("root", password="a long pass phrase")
    spend(admin, "1.25")
    spend(admin, "0.0042", "sandbox")
    client = Client()
    client.force_login(admin)
    page = client.get("/admin/").content.decode()
    assert "Spent on Claude today (UTC): <strong>$1.2542</strong>" in page
    assert "daily ceiling of $20" in page
    spend(admin, "19")
    assert (
        "reached, so the tutor and the sandbox run offline"
        in client.get("/admin/").content.decode()
    )
