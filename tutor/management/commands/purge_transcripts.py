from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count, Max

from tutor import retention


class Command(BaseCommand):
    help = (
        "Delete tutor conversations (with their messages and feedback) last active more than "
        "TUTOR_RETENTION_DAYS days ago, and prompt versions no reply uses any more."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            help="Keep this many days instead of TUTOR_RETENTION_DAYS "
            f"({settings.TUTOR_RETENTION_DAYS})",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be deleted; delete nothing."
        )

    def handle(self, *args, days: int | None, dry_run: bool, **options) -> None:
        source = "--days" if days is not None else "TUTOR_RETENTION_DAYS"
        days = settings.TUTOR_RETENTION_DAYS if days is None else days
        if days < 1:
            raise CommandError(f"{source} must be at least 1 day, not {days}.")
        before = retention.cutoff(days)
        if dry_run or options["verbosity"] > 1:
            self.list_conversations(before)
        purged = retention.purge(before, dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            f"{verb} {plural(purged.conversations, 'conversation')} "
            f"({plural(purged.messages, 'message')}) last active before {before:%Y-%m-%d}."
        )
        self.stdout.write(
            f"{verb} {plural(purged.prompts, 'prompt version')} that no reply uses any more."
        )

    def list_conversations(self, before: datetime) -> None:
        rows = (
            retention.expired(before)
            .select_related("user")
            .annotate(message_count=Count("messages"), last_message=Max("messages__created_at"))
            .order_by("pk")
        )
        for conversation in rows:
            last = max(
                conversation.updated_at, conversation.last_message or conversation.updated_at
            )
            self.stdout.write(
                f"  conversation {conversation.pk}: {conversation.user} on "
                f"{conversation.lesson_slug}, {conversation.message_count} messages, "
                f"last active {last:%Y-%m-%d}"
            )


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
