from __future__ import annotations

import logging
from collections.abc import Collection

from django.db import DatabaseError

from tutor.models import Message

logger = logging.getLogger(__name__)


_done = False


def interrupt_orphans_once(live: Collection[int]) -> None:
    """Sweep once, when this process first serves the tutor (ASGI gives no start-up hook)."""
    global _done
    if not _done:
        _done = True
        interrupt_orphans(live)


def interrupt_orphans(live: Collection[int] = ()) -> int:
    """Mark replies left "streaming" by a process that died as interrupted (`live`: the replies
    this process is writing; none when run outside the server)."""
    try:
        count = Message.objects.interrupt_stale(live)
    except DatabaseError:  # not migrated yet: nothing to mark
        return 0
    if count:
        logger.warning(
            "marked %d tutor repl%s left streaming as interrupted",
            count,
            "y" if count == 1 else "ies",
        )
    return count
