"""The per-learner allowance: limits the tutor and the sandbox share, and that cannot be walked around."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone

from course import allowance
from course.models import ApiCharge
from tests.fake_anthropic import HttpError, Reply
from tests.lesson_files import lesson_text, write
from tests.tutor_client import ask, connect, final_reply, learner, until
from tests.users import make_user
from tutor import markup
from tutor.models import Conversation, Message

# The fake server outlives a test: a test that changes its default answer uses monkeypatch.


def reply_id(frame: str) -> int:
    return markup.first_message(frame)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("tutor_cleanup")
async def test_twelve_questions_at_once_over_twelve_conversations_get_only_the_burst_limit(
    online, settings, lessons_dir
):
    settings.TUTOR_BURST_PER_MINUTE = 6
    for order in range(1, 13):
        await sync_to_async(write)(
            lessons_dir / f"{order:02}-tiny-{order}.md", lesson_text(f"tiny-{order}", order)
        )
    _, cookie = await learner()
    sockets = [await connect(cookie, slug=f"tiny-{order}") for order in range(1, 13)]
    await asyncio.gather(*(ask(s, f"Question {i}") for i, s in enumerate(sockets)))
    first_frames = await asyncio.gather(*(s.receive_from(timeout=10) for s in sockets))

    refused = [f for f in first_frames if "to Claude in a minute" in f]
    assert len(refused) == 6
    assert await sync_to_async(Message.objects.filter(role="user").count)() == 6
    for socket, frame in zip(sockets, first_frames, strict=True):
        if frame not in refused:
            await until(socket, markup.FINAL)
        await socket.disconnect()


@pytest.mark.django_db(transaction=True)
def test_reservations_from_many_threads_at_once_stop_at_the_burst_limit(settings):
    # Threads stand in for daphne processes: each has its own database connection.
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("an in-memory SQLite database cannot be shared by threads' connections")
    settings.TUTOR_BURST_PER_MINUTE = 6
    user = make_user()
    barrier = threading.Barrier(12)
    outcomes: list[str] = []

    def try_to_reserve() -> None:
        from django.db import connections

        barrier.wait()
        try:
            allowance.reserve(user, "tutor")
            outcomes.append("reserved")
        except allowance.Refused:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=try_to_reserve) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused"] * 6 + ["reserved"] * 6
    assert ApiCharge.objects.filter(user=user).count() == 6


@pytest.mark.django_db
def test_a_refusal_says_how_long_to_wait(settings):
    settings.TUTOR_BURST_PER_MINUTE = 2
    user = make_user()
    allowance.reserve(user, "tutor")
    allowance.reserve(user, "tutor")
    with pytest.raises(allowance.Refused) as refused:
        allowance.reserve(user, "tutor")
    assert 1 <= refused.value.retry_after <= 60
    assert f"Try again in {refused.value.retry_after} s." in refused.value.message
    state = allowance.remaining(user)
    assert (state.burst_left, state.burst_resets_in) == (0, refused.value.retry_after)


@pytest.mark.django_db
def test_live_sandbox_runs_have_a_per_minute_limit_of_their_own(settings):
    settings.TUTOR_BURST_PER_MINUTE = 2
    settings.SANDBOX_LIVE_RUNS_PER_MINUTE = 4
    user = make_user()
    allowance.reserve(user, "tutor")
    allowance.reserve(user, "tutor")
    for _ in range(4):  # the tutor's minute is used up; practice goes on
        allowance.reserve(user, "sandbox")
    with pytest.raises(allowance.Refused) as refused:
        allowance.reserve(user, "sandbox")
    assert "4 live sandbox runs in a minute" in refused.value.message
    with pytest.raises(allowance.Refused):
        allowance.reserve(user, "tutor")
    assert allowance.remaining(user, "sandbox").burst_left == 0


@pytest.mark.django_db
def test_a_charge_whose_process_died_is_settled_on_the_next_call(settings):
    settings.TUTOR_MESSAGES_PER_DAY = 1
    user = make_user()
    charge = allowance.reserve(user, "sandbox")  # its process dies: never settled
    with pytest.raises(allowance.Refused):
        allowance.reserve(user, "sandbox")
    ApiCharge.objects.filter(pk=charge.pk).update(
        created_at=timezone.now() - allowance.ABANDONED_AFTER - timedelta(seconds=1)
    )
    assert allowance.remaining(user).messages_left == 1
    row = ApiCharge.objects.get(pk=charge.pk)
    assert row.settled_at is not None and row.produced is False
    allowance.reserve(user, "sandbox")


@pytest.mark.django_db
def test_an_offline_answer_costs_nothing_and_uses_no_allowance(settings):
    settings.TUTOR_MESSAGES_PER_DAY = 1
    user = make_user()
    for _ in range(3):
        charge = allowance.reserve(user, "tutor", model="offline", free=True)
        charge.settle({"output_tokens": 50}, produced=True)
    assert not ApiCharge.objects.filter(user=user).exists()
    assert allowance.remaining(user).messages_left == 1


@pytest.mark.django_db
def test_the_daily_limit_counts_tutor_questions_and_sandbox_runs_together(settings):
    settings.TUTOR_MESSAGES_PER_DAY = 2
    user = make_user()
    allowance.reserve(user, "tutor").settle({"output_tokens": 5}, produced=True)
    allowance.reserve(user, "sandbox").settle({"output_tokens": 5}, produced=True)
    with pytest.raises(allowance.Refused) as refused:
        allowance.reserve(user, "tutor")
    assert "daily limit" in refused.value.message and "midnight UTC" in refused.value.message
    assert allowance.remaining(user).messages_left == 0


@pytest.mark.django_db
def test_tokens_count_against_the_budget_but_cache_reads_do_not(settings):
    settings.TUTOR_TOKENS_PER_DAY = 1000
    user = make_user()
    allowance.reserve(user, "sandbox").settle(
        {
            "input_tokens": 100,
            "output_tokens": 50,
            "cache_creation_input_tokens": 20,
            "cache_read_input_tokens": 5000,
        },
        produced=True,
    )
    assert allowance.remaining(user).tokens_left == 830


@pytest.mark.django_db
def test_an_unknown_source_is_a_programming_error():
    with pytest.raises(ValueError):
        allowance.reserve(make_user(), "cron")


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("tutor_cleanup")
async def test_a_529_costs_no_daily_question_but_each_attempt_counts_toward_the_burst(
    online, settings, monkeypatch
):
    settings.TUTOR_MAX_RETRIES = 2
    settings.TUTOR_BURST_PER_MINUTE = 10
    settings.TUTOR_MESSAGES_PER_DAY = 5
    monkeypatch.setattr(online, "default", HttpError(529, "overloaded_error", retry_after=0.01))
    user, cookie = await learner()
    tutor = await connect(cookie)
    await ask(tutor, "Are you there?")
    frames = await until(tutor, markup.FINAL)
    assert "overloaded" in final_reply(frames)
    assert len(online.requests) == 3  # the first try and the SDK's two retries

    state = await sync_to_async(allowance.remaining)(user)
    assert state.messages_left == 5
    assert state.burst_left == 10 - 3
    await tutor.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("tutor_cleanup")
async def test_an_answered_question_uses_one_question_and_its_tokens(online, settings):
    settings.TUTOR_MESSAGES_PER_DAY = 5
    online.enqueue(Reply(text="Short answer."))
    user, cookie = await learner()
    tutor = await connect(cookie)
    await ask(tutor, "Why?")
    await until(tutor, markup.FINAL)
    state = await sync_to_async(allowance.remaining)(user)
    reply = await sync_to_async(Message.objects.get)(role="assistant")
    assert state.messages_left == 4
    used = reply.input_tokens + reply.output_tokens + reply.cache_creation_input_tokens
    assert used > 0 and state.tokens_left == settings.TUTOR_TOKENS_PER_DAY - used
    await tutor.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("tutor_cleanup")
async def test_a_failed_reply_is_retried_once_however_often_retry_is_sent(
    online, settings, monkeypatch
):
    settings.TUTOR_BURST_PER_MINUTE = 100
    monkeypatch.setattr(online, "default", HttpError(500, "api_error"))
    _, cookie = await learner()
    tutor = await connect(cookie)
    await ask(tutor, "Flaky?")
    failed_id = reply_id(final_reply(await until(tutor, markup.FINAL)))
    retry = json.dumps({"action": "retry", "message_id": failed_id})
    for _ in range(8):
        await tutor.send_to(text_data=retry)
    frames = await until(tutor, markup.FINAL)
    while not await tutor.receive_nothing(timeout=0.3):
        frames.append(await tutor.receive_from())
    assert "".join(frames).count("There is nothing to retry.") == 7
    assert len(online.requests) == 2  # the question and one retry
    replies = await sync_to_async(Message.objects.filter(role="assistant").count)()
    assert replies == 2
    await tutor.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("tutor_cleanup")
async def test_repeated_retries_of_one_question_back_off(online, settings, monkeypatch):
    settings.TUTOR_BURST_PER_MINUTE = 100
    monkeypatch.setattr(online, "default", HttpError(500, "api_error"))
    _, cookie = await learner()
    tutor = await connect(cookie)
    await ask(tutor, "Flaky?")
    failed_id = reply_id(final_reply(await until(tutor, markup.FINAL)))
    await tutor.send_to(text_data=json.dumps({"action": "retry", "message_id": failed_id}))
    second_id = reply_id(final_reply(await until(tutor, markup.FINAL)))
    await tutor.send_to(text_data=json.dumps({"action": "retry", "message_id": second_id}))
    frame = await tutor.receive_from(timeout=5)
    assert re.search(r"failed several times in a row\. Try again in [12] s\.", frame)
    assert len(online.requests) == 2
    await tutor.disconnect()


@pytest.mark.django_db
def test_new_conversations_are_limited_per_hour_with_a_clear_message(client, settings):
    settings.TUTOR_NEW_CONVERSATIONS_PER_HOUR = 3
    user = make_user()
    client.force_login(user)
    client.get("/lessons/messages-api/")  # opening a lesson starts no conversation
    # A conversation starts with its first question; New conversation archives the current one.
    for n in range(3):
        conversation = Conversation.objects.current_for(user, "messages-api")
        conversation.messages.create(role="user", text=f"Question {n}")
        response = client.post("/lessons/messages-api/tutor/new/", follow=True)
        conversation.refresh_from_db()
        assert conversation.archived == (n < 2)  # the third is refused: 3 started this hour
    assert Conversation.objects.filter(user=user).count() == 3
    assert "3 new conversations in the last hour" in response.content.decode()
