"""Streaming replies saved as they go: one round trip each TUTOR_FLUSH_SECONDS (a quarter second)
for every reply a process writes.

The save is also the reply's heartbeat. Another process, or a socket watching from one, takes a
reply unsaved for `TUTOR_STALE_SECONDS` for one whose writer died (`Message.is_stale`). Text is
appended, never rewritten (`Message.objects.append`): a slow row delays only its own reply's save.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from django.conf import settings
from django.db import DatabaseError

from tutor import db
from tutor.models import Message

logger = logging.getLogger(__name__)


class Writer(Protocol):
    """A reply being written (tutor/generation.py's Generation)."""

    reply_id: int
    text: str  # everything received so far
    saved: int  # how much of it the database holds: this module moves it on


watched: dict[int, Writer] = {}  # the replies being saved, by id
_ticker: asyncio.Task | None = None


def watch(writer: Writer) -> None:
    global _ticker
    watched[writer.reply_id] = writer
    loop = asyncio.get_running_loop()
    if _ticker is None or _ticker.done() or _ticker.get_loop() is not loop:
        _ticker = loop.create_task(_tick(), name="tutor-autosave")


def forget(writer: Writer) -> None:
    watched.pop(writer.reply_id, None)


async def _tick() -> None:
    while watched:
        await asyncio.sleep(settings.TUTOR_FLUSH_SECONDS)
        pending = {pk: w.text[w.saved :] for pk, w in watched.items()}
        try:
            saved = await db.run(Message.objects.append)(pending)
        except DatabaseError:
            logger.warning("saving the progress of %d tutor replies failed", len(pending))
            continue
        except Exception:  # a bug must not stop the saves (and heartbeats) of every reply
            logger.exception("saving the progress of tutor replies failed")
            continue
        for pk in saved:
            if (writer := watched.get(pk)) is not None:
                writer.saved += len(pending[pk])
