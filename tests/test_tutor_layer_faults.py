"""A question is never dropped without a word when the channel layer fails (Redis restarting:
each pooled connection fails once before it reconnects) just after the question was saved."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from tests.tutor_client import ask, connect, final_reply, learner, until
from tutor import relay
from tutor.layers import SweptInMemoryChannelLayer
from tutor.markup import FINAL
from tutor.models import Message

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("tutor_cleanup"),
]


@sync_to_async
def saved() -> list[tuple[str, str]]:
    return list(Message.objects.order_by("pk").values_list("role", "status"))


@pytest.mark.parametrize("failing", ["tutor.conversation_started", "tutor.started"])
async def test_a_turn_the_layer_fails_to_pass_on_is_shown_and_answered_all_the_same(
    online, monkeypatch, failing
) -> None:
    failed = []
    group_send = SweptInMemoryChannelLayer.group_send

    async def restarting(self, group: str, message: dict) -> None:
        kind = message.get("event", message)["type"]  # relayed to other processes, or not
        if kind == failing and not failed:
            failed.append(group)
            raise ConnectionError("Connection closed by server.")
        await group_send(self, group, message)

    monkeypatch.setattr(SweptInMemoryChannelLayer, "group_send", restarting)
    # The layer as several processes share it (Redis): a started turn goes to this process's
    # sockets directly and to the others' through the layer, which is what fails here.
    monkeypatch.setattr(relay, "InMemoryChannelLayer", type("NotShared", (), {}))
    _, cookie = await learner()
    tutor = await connect(cookie)
    await ask(tutor, "What does max_tokens do?", "layer-1")
    frames = await until(tutor, FINAL)
    await tutor.disconnect()
    assert failed, "the layer never failed: the test tested nothing"
    shown = "".join(frames)
    assert "Something went wrong" not in shown
    assert "What does max_tokens do?" in shown  # the question, shown as asked
    assert "You asked about: What does max_tokens do?" in final_reply(frames)
    assert await saved() == [("user", "complete"), ("assistant", "complete")]
