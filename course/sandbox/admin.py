"""Sandbox attempts in the admin: read-only, for instructors to see how exercises go."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.utils import timezone

from course.sandbox.guards import LOCK_SECONDS
from course.sandbox.models import Attempt


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "learner",
        "lesson_slug",
        "exercise_label",
        "mode",
        "outcome",
        "passed",
        "refused_by_site",
        "total_ms",
    ]
    list_filter = ["lesson_slug", "mode", "pending", "passed", "refused_by_site", "status"]
    search_fields = ["learner__username", "exercise_id", "request_id"]
    date_hierarchy = "created_at"
    list_select_related = ["learner"]

    @admin.display(description="Exercise", ordering="exercise_id")
    def exercise_label(self, attempt: Attempt) -> str:
        return attempt.exercise_id or "(playground)"

    @admin.display(description="Status", ordering="status")
    def outcome(self, attempt: Attempt) -> str:
        """The HTTP status; a live run recorded before it went upstream shows whether it is
        still running or ended without a result (its process died)."""
        if not attempt.pending:
            return str(attempt.status)
        longest = timedelta(seconds=settings.SANDBOX_RUN_SECONDS + LOCK_SECONDS)
        if timezone.now() - attempt.created_at < longest:
            return "Running…"
        return "Unfinished: no result was recorded (its process died)"

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a record of what happened: never edited

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
