"""A conversation's frames to every socket showing it: this process's directly, others' once each.

The writer renders each frame once (tutor/generation.py). Channels' way, a group of sockets on the
channel layer, cost a layer message and a dispatch per socket per frame, and the single-process
deployment paid it too. Here the sockets of the writer's process get the frame straight from the
writer, and with several processes (REDIS_URL) each process joins the conversation's group once,
on behalf of all its sockets: a frame crosses Redis once per process, not once per socket.

Redis forgets its groups when it restarts: the process joins them all again after a failed
receive and every TUTOR_REJOIN_SECONDS, as the writer does its control group.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Protocol

from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from django.conf import settings

logger = logging.getLogger(__name__)


class Socket(Protocol):
    async def dispatch(self, message: dict) -> None: ...


class Relay:
    """This process's sockets, by the conversation group they follow."""

    def __init__(self, layer: BaseChannelLayer, loop: asyncio.AbstractEventLoop) -> None:
        self.layer = layer
        self.loop = loop
        self.shared = not isinstance(layer, InMemoryChannelLayer)  # several processes
        self.sockets: dict[str, set[Socket]] = defaultdict(set)
        self.channel: str | None = None  # where other processes' frames arrive (shared only)
        self.tasks: list[asyncio.Task] = []

    async def join(self, group: str, socket: Socket) -> None:
        """Have `socket` receive `group`'s frames from now on."""
        self.sockets[group].add(socket)
        if self.shared:
            await self.layer.group_add(group, await self._channel())

    async def leave(self, group: str, socket: Socket) -> None:
        members = self.sockets.get(group)
        if members is None:
            return
        members.discard(socket)
        if not members:
            del self.sockets[group]
            if self.shared and self.channel is not None:
                await self.layer.group_discard(group, self.channel)

    async def leave_all(self, socket: Socket) -> None:
        """However a socket ended (closed, or crashed): it gets no more frames."""
        for group, members in list(self.sockets.items()):
            if socket in members:
                await self.leave(group, socket)

    async def publish(self, group: str, event: dict) -> None:
        """Hand `event` to this process's sockets on `group`, then to the other processes'.

        A frame the layer loses (Redis restarting) shows there as a gap, and their sockets ask
        the writer for a snapshot: the publisher is not told.
        """
        await self.deliver(group, event)
        if self.shared:
            relayed = {"type": "tutor.relayed", "group": group, "origin": self.channel}
            try:
                await self.layer.group_send(group, relayed | {"event": event})
            except Exception:
                logger.warning("tutor relay: %s to %s failed", event["type"], group, exc_info=True)

    async def deliver(self, group: str, event: dict) -> None:
        for socket in list(self.sockets.get(group, ())):
            try:
                await socket.dispatch(event)
            except Exception:  # a socket that failed must not keep the others from the frame
                logger.warning(
                    "tutor: a socket failed on %s; dropped", event["type"], exc_info=True
                )
                self.sockets.get(group, set()).discard(socket)

    async def _channel(self) -> str:
        if self.channel is None:
            channel = await self.layer.new_channel()
            if self.channel is None:  # another join may have set it meanwhile
                self.channel = channel
                self.tasks = [
                    self.loop.create_task(self._listen(), name="tutor-relay"),
                    self.loop.create_task(self._rejoin(), name="tutor-relay-rejoin"),
                ]
        return self.channel

    async def _listen(self) -> None:
        failed = False
        while True:
            if failed:
                await self._join_all()
            try:
                message = await self.layer.receive(self.channel)
            except Exception:
                logger.warning("tutor relay: channel layer failed; retrying")
                failed = True
                await asyncio.sleep(0.5)
                continue
            failed = False
            if message.get("origin") != self.channel:  # this process's sockets have it already
                await self.deliver(message["group"], message["event"])

    async def _rejoin(self) -> None:
        while True:
            await asyncio.sleep(settings.TUTOR_REJOIN_SECONDS)
            await self._join_all()

    async def _join_all(self) -> None:
        for group in list(self.sockets):
            try:
                await self.layer.group_add(group, self.channel)
            except Exception:
                logger.warning("tutor relay: joining %s again failed", group)
                return


_relay: Relay | None = None


def relay() -> Relay:
    """This process's relay (one per event loop and channel layer: the tests make several)."""
    global _relay
    loop, layer = asyncio.get_running_loop(), get_channel_layer()
    if _relay is None or _relay.loop is not loop or _relay.layer is not layer:
        if _relay is not None and _relay.loop is loop:
            for task in _relay.tasks:
                task.cancel()
        _relay = Relay(layer, loop)
    return _relay
