"""SIGTERM drains the tutor: replies in flight finish, or are saved as interrupted with their text.

Daphne cancels every open socket as soon as it is asked to stop (`Server.kill_all_applications`,
a "before shutdown" trigger of its Twisted reactor). The sockets are what shows a reply finishing
and what tells a learner asking during the drain to try again, so they are cancelled only after
the drain: the trigger is wrapped to wait for `drain()` first.
"""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings

from tutor import generation

logger = logging.getLogger(__name__)


async def drain() -> None:
    """Refuse new questions, give the replies being written time to end, then interrupt them."""
    generation.draining = True
    replies = [g.task for g in list(generation.running.values()) if g.task]
    if not replies:
        return
    logger.warning("shutting down: waiting for %d tutor replies", len(replies))
    _, late = await asyncio.wait(replies, timeout=settings.TUTOR_DRAIN_SECONDS)
    for task in late:
        task.cancel()  # saved as interrupted, with the text so far
    if late:
        await asyncio.wait(late, timeout=10)


def install() -> None:
    """Make daphne drain before it cancels the sockets (a no-op under any other server)."""
    try:
        from daphne.server import Server
        from twisted.internet import defer
    except ImportError:
        return
    kill = Server.kill_all_applications
    if getattr(kill, "drains_tutor", False):
        return

    def drain_then_kill(server: Server) -> defer.Deferred:
        drained = defer.Deferred.fromFuture(asyncio.ensure_future(drain()))
        drained.addErrback(lambda failure: logger.error("draining failed: %s", failure.value))
        return drained.addCallback(lambda _: kill(server))

    drain_then_kill.drains_tutor = True
    Server.kill_all_applications = drain_then_kill
