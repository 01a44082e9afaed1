"""Sandbox attempts in the admin: read-only, for instructors to see how exercises go."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html

from course.sandbox.guards import LOCK_SECONDS
from course.sandbox.models import Attempt

UNFINISHED = "No result was recorded: the process running it died."


class StatusFilter(admin.SimpleListFilter):
    """The HTTP statuses of finished runs (a pending run has none yet: see "pending")."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        finished = Attempt.objects.filter(pending=False).order_by("status")
        return [
            (str(status), str(status))
            for status in finished.values_list("status", flat=True).distinct()
        ]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(status=self.value(), pending=False)


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
    list_filter = ["lesson_slug", "mode", "pending", "passed", "refused_by_site", StatusFilter]
    search_fields = ["learner__username", "exercise_id", "request_id"]
    date_hierarchy = "created_at"
    list_select_related = ["learner"]

    @admin.display(description="Exercise", ordering="exercise_id")
    def exercise_label(self, attempt: Attempt) -> str:
        return attempt.exercise_id or "(playground)"

    @admin.display(description="Status", ordering="status")
    def outcome(self, attempt: Attempt) -> str:
        """The HTTP status; a live run recorded before it went upstream shows whether it is
        still running or ended without a result (its process died), in a word that keeps the
        list's column narrow, explained on hover."""
        if not attempt.pending:
            return str(attempt.status)
        longest = timedelta(seconds=settings.SANDBOX_RUN_SECONDS + LOCK_SECONDS)
        if timezone.now() - attempt.created_at < longest:
            return format_html('<span title="{}">Running…</span>', "Waiting for Claude's answer")
        return format_html('<span title="{}">Unfinished</span>', UNFINISHED)

    @admin.display(description="Request text")
    def request_as_written(self, attempt: Attempt) -> str:
        """The body as the learner wrote it, its indentation kept."""
        return format_html('<pre class="request-text">{}</pre>', attempt.request_text)

    def get_fields(self, request, obj=None) -> list[str]:
        # The page shows the status as the list does (a pending run's is 0 until it finishes).
        shown = {"status": "outcome", "request_text": "request_as_written"}
        return [shown.get(field.name, field.name) for field in self.model._meta.fields]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return self.get_fields(request, obj)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a record of what happened: never edited

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
