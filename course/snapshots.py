"""Keep each lesson's last good source in the database, to serve it after a restart."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def remember(path: Path, source: str) -> None:
    """Store `source` as the last good version of `path` (skipped when it is already stored)."""
    from course.models import LessonSnapshot

    digest = hashlib.sha256(source.encode()).hexdigest()
    try:
        if not LessonSnapshot.objects.filter(file_name=path.name, sha256=digest).exists():
            LessonSnapshot.objects.update_or_create(
                file_name=path.name, defaults={"sha256": digest, "source": source}
            )
    except Exception as error:  # no database yet (before migrate), or an async caller
        logger.debug("could not keep a snapshot of %s: %s", path.name, error)


def recall(path: Path) -> str | None:
    """The last good source of `path` that any process stored, if there is one."""
    from course.models import LessonSnapshot

    try:
        snapshot = LessonSnapshot.objects.filter(file_name=path.name).first()
    except Exception as error:
        logger.debug("could not read the snapshot of %s: %s", path.name, error)
        return None
    return snapshot.source if snapshot else None
