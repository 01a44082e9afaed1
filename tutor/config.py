"""The tutor's settings, resolved once per call so tests can change them."""

from __future__ import annotations

from django.conf import settings

from course.models_data import model_data


def model_id() -> str:
    return settings.TUTOR_MODEL or model_data().tutor_default


def online() -> bool:
    """With no API key the tutor answers offline, from the lesson itself."""
    return bool(settings.ANTHROPIC_API_KEY)


def reply_model() -> str:
    """What a new reply is written with: the configured model, or the offline tutor."""
    return model_id() if online() else "offline"
