"""The single-process channel layer sweeps expired messages once a second, not on every frame."""

from __future__ import annotations

import pytest
from channels.layers import InMemoryChannelLayer

from tutor import layers
from tutor.layers import SweptInMemoryChannelLayer

pytestmark = pytest.mark.asyncio


async def test_a_burst_of_frames_sweeps_once_and_the_next_second_sweeps_again(monkeypatch):
    sweeps = []
    sweep = InMemoryChannelLayer._clean_expired
    monkeypatch.setattr(
        InMemoryChannelLayer, "_clean_expired", lambda self: sweeps.append(1) or sweep(self)
    )
    clock = [100.0]
    monkeypatch.setattr(layers.time, "monotonic", lambda: clock[0])
    layer = SweptInMemoryChannelLayer()
    channel = await layer.new_channel()
    await layer.group_add("class", channel)
    for n in range(50):
        await layer.group_send("class", {"type": "tutor.delta", "n": n})
        assert (await layer.receive(channel))["n"] == n
    assert len(sweeps) == 1
    clock[0] += 1.0
    await layer.group_send("class", {"type": "tutor.delta", "n": 50})
    assert len(sweeps) == 2


async def test_expired_messages_and_their_channels_still_go(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(layers.time, "monotonic", lambda: clock[0])
    layer = SweptInMemoryChannelLayer(expiry=-1)  # every message is already past its expiry
    gone = await layer.new_channel()
    await layer.group_add("class", gone)
    await layer.send(gone, {"type": "tutor.delta"})
    clock[0] += 1.0
    await layer.group_send("another-class", {"type": "tutor.delta"})  # sweeps
    assert gone not in layer.channels and gone not in layer.groups.get("class", {})
