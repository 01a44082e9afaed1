"""A writer's frames reach the sockets of its own process directly (tutor/relay.py)."""

from __future__ import annotations

import pytest
from channels.layers import get_channel_layer

from tests.fake_anthropic import Reply
from tests.tutor_client import ask, connect, final_reply, learner, shown_text, until
from tutor.markup import FINAL

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("tutor_cleanup"),
]


async def test_every_tab_gets_the_reply_without_a_channel_layer_message_per_frame(
    online, monkeypatch
):
    layer = get_channel_layer()
    sent_through_layer = []
    group_send = layer.group_send

    async def counted(group: str, message: dict) -> None:
        sent_through_layer.append(message["type"])
        await group_send(group, message)

    monkeypatch.setattr(layer, "group_send", counted)
    online.enqueue(Reply(tokens=40, rate=100))
    _, cookie = await learner()
    asking, watching = await connect(cookie), await connect(cookie)

    await ask(asking, "Tell me about tokens", client_id="relay-client-1")

    for tab in (asking, watching):
        frames = await until(tab, FINAL)
        assert "w0039" in final_reply(frames)
        assert shown_text(frames).split()[-1] == "w0039"
    # The layer carried the first question's announcement to the other tab, and no frame.
    assert "tutor.conversation_started" in sent_through_layer
    frames = {"tutor.started", "tutor.delta", "tutor.finished", "tutor.relayed"}
    assert not frames & set(sent_through_layer)
    await asking.disconnect()
    await watching.disconnect()
