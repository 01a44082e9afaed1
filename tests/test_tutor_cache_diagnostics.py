"""The tutor asks the API why its prompt cache missed, and the API-call dialog shows the answer."""

from __future__ import annotations

import html

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from tests.fake_anthropic import Reply
from tests.tutor_client import ask, connect, learner, until
from tutor.markup import FINAL
from tutor.models import Message

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("tutor_cleanup"),
]

MISS = {"cache_miss_reason": {"type": "system_changed", "cache_missed_input_tokens": 9784}}


@sync_to_async
def replies() -> list[Message]:
    return list(Message.objects.filter(role="assistant").order_by("pk"))


async def test_each_turn_names_the_previous_response_and_the_dialog_shows_the_reason(online):
    online.enqueue(Reply(text="First answer."), Reply(text="Second answer.", diagnostics=MISS))
    user, cookie = await learner()
    tutor = await connect(cookie)
    await ask(tutor, "What is a token?")
    await until(tutor, FINAL)
    await ask(tutor, "And a context window?")
    await until(tutor, FINAL)
    await tutor.disconnect()

    first, second = online.requests
    assert first.body["diagnostics"] == {"previous_message_id": None}  # opts in on turn one
    earlier, latest = await replies()
    assert earlier.api_message_id.startswith("msg_") and earlier.diagnostics is None
    assert second.body["diagnostics"] == {"previous_message_id": earlier.api_message_id}
    assert latest.diagnostics == MISS

    client = AsyncClient()
    await client.aforce_login(user)
    dialog = html.unescape(
        (await client.get(f"/tutor/replies/{latest.pk}/api-call/")).content.decode()
    )
    assert "Cache miss reason, from the API's diagnostics" in dialog
    assert "system_changed, about 9,784 input tokens not read from the cache" in dialog
    assert f'"previous_message_id": "{earlier.api_message_id}"' in dialog  # the body as sent
    first_dialog = (await client.get(f"/tutor/replies/{earlier.pk}/api-call/")).content.decode()
    assert "Cache miss reason" not in first_dialog
