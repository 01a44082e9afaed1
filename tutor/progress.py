"""Streaming replies saved as they go: one round trip each TUTOR_FLUSH_SECONDS (a quarter second)
for every reply a process writes.

The save is also the reply's heartbeat. Another process, or a socket watching from one, takes a
reply unsaved for `TUTOR_STALE_SECONDS` for one whose writer died (models.MessageQuerySet). Text
is appended, never rewritten, and rows locked by someone else are skipped until the next tick:
a slow row delays only its own reply's save.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Case, F, TextField, Value, When
from django.db.models.functions import Concat
from django.utils import timezone

from tutor import db
from tutor.models import Message

if TYPE_CHECKING:
    from tutor.generation import Generation

logger = logging.getLogger(__name__)

_watched: dict[int, Generation] = {}
_ticker: asyncio.Task | None = None


def watch(generation: Generation) -> None:
    global _ticker
    _watched[generation.reply_id] = generation
    loop = asyncio.get_running_loop()
    if _ticker is None or _ticker.done() or _ticker.get_loop() is not loop:
        _ticker = loop.create_task(_tick(), name="tutor-progress")


def forget(generation: Generation) -> None:
    _watched.pop(generation.reply_id, None)


async def _tick() -> None:
    while _watched:
        await asyncio.sleep(settings.TUTOR_FLUSH_SECONDS)
        pending = {pk: g.text[g.saved :] for pk, g in _watched.items()}
        try:
            saved = await _save(pending)
        except DatabaseError:
            logger.warning("saving the progress of %d tutor replies failed", len(pending))
            continue
        except Exception:  # a bug must not stop the saves (and heartbeats) of every reply
            logger.exception("saving the progress of tutor replies failed")
            continue
        for pk in saved:
            if (generation := _watched.get(pk)) is not None:
                generation.saved += len(pending[pk])


@db.run
def _save(pending: dict[int, str]) -> list[int]:
    """Append each reply's new text and note that its writer lives; return the rows saved."""
    with transaction.atomic():
        rows = Message.objects.filter(pk__in=pending, status=Message.Status.STREAMING)
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True)
        saved = list(rows.values_list("pk", flat=True))
        text = TextField()
        appends = [
            When(pk=pk, then=Concat(F("text"), Value(pending[pk]), output_field=text))
            for pk in saved
            if pending[pk]
        ]
        changes = {"updated_at": timezone.now()}
        if appends:
            changes["text"] = Case(*appends, default=F("text"), output_field=text)
        Message.objects.filter(pk__in=saved).update(**changes)
    return saved
