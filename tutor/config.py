"""The tutor's settings, resolved once per call so tests can change them."""

from __future__ import annotations

from django.conf import settings

from course import allowance
from course.models_data import model_data


def model_id() -> str:
    return settings.TUTOR_MODEL or model_data().tutor_default


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
