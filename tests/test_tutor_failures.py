"""Every upstream failure ends in a clear message in the panel, the question kept, Retry when it helps."""

from __future__ import annotations

import json
import logging

import pytest
from asgiref.sync import sync_to_async

from tests.fake_anthropic import Drop, HttpError, Reply, Stall, StreamError
from tests.tutor_client import ask, connect, final_reply, learner, until
from tutor import markup
from tutor.models import Message

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("tutor_cleanup"),
]


@sync_to_async
def last_reply() -> Message:
    return Message.objects.filter(role="assistant").latest("pk")


@sync_to_async
def questions() -> list[str]:
    return list(Message.objects.filter(role="user").values_list("text", flat=True))


async def ask_and_finish(online, *behaviours, question: str = "Why?") -> tuple[str, Message]:
    online.enqueue(*behaviours)
    _, cookie = await learner()
    tutor = await connect(cookie)
    await ask(tutor, question)
    frames = await until(tutor, markup.FINAL)
    await tutor.disconnect()
    return final_reply(frames), await last_reply()


async def test_a_429_says_when_to_retry_and_offers_retry(online):
    html, reply = await ask_and_finish(online, HttpError(429, "rate_limit_error", retry_after=30))
    assert "Try again in 30 s." in html and ">Retry</button>" in html
    assert (reply.status, reply.error_type, reply.retryable) == ("failed", "rate_limit_error", True)
    assert reply.request_id.startswith("req_")
    assert await questions() == ["Why?"]  # the learner's question is kept


async def test_a_short_retry_after_is_honoured_by_retrying(online, settings):
    settings.TUTOR_MAX_RETRIES = 2
    html, reply = await ask_and_finish(
        online, HttpError(429, "rate_limit_error", retry_after=0.05), Reply(text="Recovered.")
    )
    assert reply.status == "complete" and reply.text == "Recovered."
    assert len(online.requests) == 2


async def test_a_long_retry_after_is_not_waited_for(online, settings):
    settings.TUTOR_MAX_RETRIES = 2
    html, reply = await ask_and_finish(online, HttpError(429, "rate_limit_error", retry_after=120))
    assert len(online.requests) == 1  # the SDK did not sit out two minutes
    assert "Try again in 120 s." in html


async def test_a_long_retry_after_on_a_529_is_not_waited_for_either(online, settings):
    # SDK 2.12 honours any positive retry-after on every status it retries, not only on a 429.
    settings.TUTOR_MAX_RETRIES = 2
    html, reply = await ask_and_finish(online, HttpError(529, "overloaded_error", retry_after=600))
    assert len(online.requests) == 1
    assert reply.error_type == "overloaded_error" and ">Retry</button>" in html


async def test_a_spend_cap_429_without_retry_after_is_not_retryable(online):
    html, reply = await ask_and_finish(online, HttpError(429, "rate_limit_error"))
    assert "usage limit" in html and ">Retry</button>" not in html
    assert reply.retryable is False


async def test_529_is_retried_by_the_sdk_then_reported(online, settings):
    settings.TUTOR_MAX_RETRIES = 1
    overloaded = HttpError(529, "overloaded_error", retry_after=0.01)
    html, reply = await ask_and_finish(online, overloaded, overloaded)
    assert len(online.requests) == 2
    assert "Claude is overloaded right now." in html and ">Retry</button>" in html
    assert reply.error_type == "overloaded_error"


async def test_a_500_is_reported_with_retry(online):
    html, reply = await ask_and_finish(online, HttpError(500, "api_error"))
    assert "temporary problem" in html and ">Retry</button>" in html


async def test_an_error_event_mid_stream_keeps_the_partial_text_and_is_not_retried(
    online, settings
):
    settings.TUTOR_MAX_RETRIES = 2
    html, reply = await ask_and_finish(online, StreamError(after=3, type="overloaded_error"))
    assert len(online.requests) == 1
    assert reply.status == "failed" and reply.error_type == "overloaded_error"
    assert reply.text.startswith("You asked about")  # what streamed before the error is saved
    assert (
        "interrupted by an upstream error (overloaded_error)" in html and ">Retry</button>" in html
    )


async def test_a_dropped_connection_is_reported_with_retry(online):
    html, reply = await ask_and_finish(online, Drop(after=2))
    assert reply.status == "failed" and reply.error_type == "connection"
    assert "connection to Claude dropped" in html and ">Retry</button>" in html


async def test_a_timeout_is_reported_with_retry(online, settings):
    settings.TUTOR_TIMEOUT_SECONDS = 0.5
    html, reply = await ask_and_finish(online, Stall(seconds=5))
    assert reply.error_type == "timeout" and "took too long" in html


@pytest.mark.parametrize("status", [400, 403])
async def test_client_errors_are_not_retryable(online, status):
    kind = {400: "invalid_request_error", 403: "permission_error"}[status]
    html, reply = await ask_and_finish(online, HttpError(status, kind))
    assert reply.status == "failed" and reply.retryable is False
    assert ">Retry</button>" not in html


async def test_a_401_is_logged_loudly_without_the_key(online, caplog):
    with caplog.at_level(logging.CRITICAL, logger="course.claude"):
        html, reply = await ask_and_finish(online, HttpError(401, "authentication_error"))
    assert "configuration problem" in html and ">Retry</button>" not in html
    assert "check ANTHROPIC_API_KEY" in caplog.text
    assert "sk-ant-test-key-never-shown" not in caplog.text + html


async def test_max_tokens_marks_the_reply_as_cut_short(online):
    html, reply = await ask_and_finish(
        online, Reply(text="A long answer", stop_reason="max_tokens")
    )
    assert reply.status == "complete" and reply.stop_reason == "max_tokens"
    assert "Cut short" in html


async def test_a_refusal_is_explained(online):
    html, reply = await ask_and_finish(online, Reply(text="", stop_reason="refusal"))
    assert reply.stop_reason == "refusal" and "declined" in html


async def test_retry_answers_the_same_question_again(online):
    online.enqueue(HttpError(500, "api_error"), Reply(text="Second time lucky."))
    _, cookie = await learner()
    tutor = await connect(cookie)
    await ask(tutor, "Flaky?")
    failed = final_reply(await until(tutor, markup.FINAL))
    failed_id = markup.first_message(failed)
    await tutor.send_to(text_data=json.dumps({"action": "retry", "message_id": failed_id}))
    frames = await until(tutor, markup.FINAL)
    assert f'<div id="{markup.message_id(failed_id)}" hx-swap-oob="delete">' in "".join(frames)
    assert "Second time lucky." in final_reply(frames)
    assert await questions() == ["Flaky?"]  # answered again, not asked twice
    reply = await last_reply()
    assert reply.reply_to_id == (await sync_to_async(Message.objects.get)(pk=failed_id)).reply_to_id
    # History sent upstream holds the question once, and no failed reply.
    assert [m["role"] for m in online.requests[-1].body["messages"]] == ["user"]
    await tutor.disconnect()


async def test_retrying_a_reply_that_did_not_fail_is_refused(online):
    _, cookie = await learner()
    tutor = await connect(cookie)
    await ask(tutor, "Fine?")
    done = final_reply(await until(tutor, markup.FINAL))
    done_id = markup.first_message(done)
    await tutor.send_to(text_data=json.dumps({"action": "retry", "message_id": done_id}))
    assert "There is nothing to retry." in await tutor.receive_from(timeout=5)
    await tutor.disconnect()
