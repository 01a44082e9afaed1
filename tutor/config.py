"""The tutor's settings, resolved once per call so tests can change them."""

from __future__ import annotations

import logging

from django.conf import settings

from course import allowance
from course.model_catalogue import model_data

logger = logging.getLogger(__name__)
_warned: set[tuple[str, str]] = set()


def model_id() -> str:
    """The configured model, or a usable one in its place once the configured one retires."""
    data = model_data()
    configured = settings.TUTOR_MODEL or data.tutor_default
    if data.get(configured) is None or data.usable(configured):
        return configured  # a model the file does not list is the operator's call
    chosen = data.fallback_model()
    if (configured, chosen) not in _warned:
        _warned.add((configured, chosen))
        logger.warning(
            "the tutor's model %s %s; using %s instead. Set TUTOR_MODEL or tutor_default in "
            "lessons/models.yaml to a current model.",
            configured,
            data.get(configured).lifecycle(),
            chosen,
        )
    return chosen


def online() -> bool:
    """With no API key, or once the site has spent its daily budget, the tutor answers
    offline, from the lesson itself."""
    return bool(settings.ANTHROPIC_API_KEY) and allowance.ceiling_refusal() is None


def offline_reason() -> str:
    """Why the tutor answers offline, or "" when it is online."""
    if not settings.ANTHROPIC_API_KEY:
        return "No API key is set: the tutor answers with passages from this lesson."
    ceiling = allowance.ceiling_refusal()
    return ceiling.message if ceiling else ""  # "": online


def reply_model() -> str:
    """What a new reply is written with: the configured model, or the offline tutor."""
    return model_id() if online() else "offline"
