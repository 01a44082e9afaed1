"""Per-learner limits that protect learners and the bill.

A burst rate, a daily number of questions, and a daily token budget (cache reads, at a tenth of
the price or less, do not count against it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Sum
from django.utils import timezone

from tutor.models import Message


@dataclass(frozen=True)
class Allowance:
    messages_left: int
    tokens_left: int
    refused: str = ""  # why the learner may not ask now; empty when they may


def _start_of_day():
    return timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)


def allowance(user) -> Allowance:
    questions = Message.objects.filter(conversation__user=user, role=Message.Role.USER)
    now = timezone.now()
    last_minute = questions.filter(created_at__gte=now - timedelta(minutes=1)).count()
    today = questions.filter(created_at__gte=_start_of_day()).count()
    used = (
        Message.objects.filter(
            conversation__user=user, role=Message.Role.ASSISTANT, created_at__gte=_start_of_day()
        ).aggregate(
            total=Sum(F("input_tokens") + F("output_tokens") + F("cache_creation_input_tokens"))
        )["total"]
        or 0
    )
    messages_left = max(0, settings.TUTOR_MESSAGES_PER_DAY - today)
    tokens_left = max(0, settings.TUTOR_TOKENS_PER_DAY - used)
    refused = ""
    if last_minute >= settings.TUTOR_BURST_PER_MINUTE:
        refused = (
            f"That's {settings.TUTOR_BURST_PER_MINUTE} questions in a minute, the most the tutor "
            "takes. Give it a moment, then ask again."
        )
    elif messages_left == 0:
        refused = (
            f"You've asked {settings.TUTOR_MESSAGES_PER_DAY} questions today, the daily limit. "
            "It resets at midnight UTC."
        )
    elif tokens_left == 0:
        refused = "You've used today's tutor budget. It resets at midnight UTC."
    return Allowance(messages_left, tokens_left, refused)
