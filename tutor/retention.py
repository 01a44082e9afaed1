"""How long tutor conversations are kept, and deleting them once that time is up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from tutor.models import Conversation, Message, PromptVersion


def cutoff(days: int) -> datetime:
    """The start of the day `days` days ago: whatever was last active before it is due."""
    day = timezone.localdate() - timedelta(days=days)
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def expired(before: datetime) -> QuerySet[Conversation]:
    # Last activity is the later of the conversation's own timestamp and its newest message.
    return Conversation.objects.filter(updated_at__lt=before).exclude(
        messages__created_at__gte=before
    )


def unused_prompts(
    before: datetime, without: QuerySet[Conversation] | None = None
) -> QuerySet[PromptVersion]:
    """Prompt versions that no reply uses, once the conversations `without` are gone."""
    kept = Conversation.objects.all()
    if without is not None:
        kept = kept.exclude(pk__in=without)
    # Only old ones: a new prompt version is saved a moment before the reply that uses it.
    return PromptVersion.objects.filter(created_at__lt=before).exclude(
        message__conversation__in=kept
    )


@dataclass
class Purged:
    conversations: int
    messages: int
    prompts: int


def purge(before: datetime, dry_run: bool = False) -> Purged:
    """Delete conversations last active before `before`, or with `dry_run` only count them."""
    conversations = expired(before)
    with transaction.atomic():
        purged = Purged(
            conversations=conversations.count(),
            messages=Message.objects.filter(conversation__in=conversations).count(),
            prompts=unused_prompts(before, without=conversations).count(),
        )
        if not dry_run:
            conversations.delete()
            unused_prompts(before).delete()
    return purged
