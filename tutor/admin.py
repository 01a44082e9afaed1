from __future__ import annotations

import datetime as dt

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html

from course.lessons import catalogue
from course.model_catalogue import model_data
from course.sandbox.stats import exercise_summary
from tutor import review
from tutor.models import Conversation, Feedback
from tutor.review import lesson_title


class WorstStatusFilter(admin.SimpleListFilter):
    title = "worst status"
    parameter_name = "worst"

    def lookups(self, request, model_admin):
        return [
            ("failed", "Failed"),
            ("interrupted", "Interrupted"),
            ("stopped", "Stopped"),
            ("ok", "All complete"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "ok":
            return queryset.filter(worst_rank=0)
        if self.value() in review.STATUS_RANK:
            return queryset.filter(worst_rank=review.STATUS_RANK[self.value()])
        return queryset


class FeedbackFilter(admin.SimpleListFilter):
    title = "feedback"
    parameter_name = "feedback"

    def lookups(self, request, model_admin):
        return [("down", "Thumbs down"), ("up", "Thumbs up"), ("none", "No feedback")]

    def queryset(self, request, queryset):
        if self.value() == "down":
            return queryset.filter(thumbs_down__gt=0)
        if self.value() == "up":
            return queryset.filter(thumbs_up__gt=0)
        if self.value() == "none":
            return queryset.filter(thumbs_up=0, thumbs_down=0)
        return queryset


class LessonFilter(admin.SimpleListFilter):
    title = "lesson"
    parameter_name = "lesson"

    def lookups(self, request, model_admin):
        return [(lesson.slug, f"{lesson.order}. {lesson.title}") for lesson in catalogue().lessons]

    def queryset(self, request, queryset):
        return queryset.filter(lesson_slug=self.value()) if self.value() else queryset


# The review queue needs the width more than a second copy of the app list.
admin.site.enable_nav_sidebar = False
admin.site.site_header = "Learn the Claude API · administration"
admin.site.site_title = "Course admin"


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """The transcript review queue: read-only transcripts, editable review fields."""

    # Eleven columns fit at 1440 px: short headings, the lesson's title, one date.
    list_display = [
        "learner",
        "lesson",
        "activity",
        "turns_shown",
        "tokens_shown",
        "cost_shown",
        "worst_status",
        "feedback_shown",
        "review_shown",
        "flagged_shown",
    ]
    list_display_links = ["learner"]
    list_filter = [
        LessonFilter,
        ("updated_at", admin.DateFieldListFilter),
        WorstStatusFilter,
        FeedbackFilter,
        "flagged",
        "review_state",
    ]
    list_select_related = ["user"]
    search_fields = ["tags"]  # the real search, over the turns' text, is get_search_results
    search_help_text = "Searches the text of every turn, the learner's username and the tags."
    list_per_page = 50
    ordering = ["-updated_at"]
    actions = ["mark_reviewed", "mark_follow_up", "export_json", "export_csv"]
    fields = ["review_state", "flagged", "tags", "reviewer_note"]
    change_form_template = "admin/tutor/conversation/change_form.html"
    change_list_template = "admin/tutor/conversation/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        return review.with_figures(super().get_queryset(request))

    def get_search_results(self, request, queryset, search_term):
        if not search_term:
            return queryset, False
        return review.matching(queryset, search_term), False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # conversations come from learners, never from the admin

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # transcripts leave only through the retention command

    @admin.display(description="learner", ordering="user__username")
    def learner(self, conversation: Conversation) -> str:
        return conversation.user.get_username()

    @admin.display(description="lesson", ordering="lesson_slug")
    def lesson(self, conversation: Conversation) -> str:
        return lesson_title(conversation.lesson_slug)

    @admin.display(description="last activity", ordering="updated_at")
    def activity(self, conversation: Conversation) -> str:
        when = timezone.localtime(conversation.updated_at)
        same_year = when.year == timezone.localdate().year
        return formats.date_format(when, "j M, H:i" if same_year else "j M Y, H:i")

    @admin.display(description="review", ordering="review_state")
    def review_shown(self, conversation: Conversation) -> str:
        return conversation.get_review_state_display()

    @admin.display(description="flag", boolean=True, ordering="flagged")
    def flagged_shown(self, conversation: Conversation) -> bool:
        return conversation.flagged

    @admin.display(description="turns", ordering="turns")
    def turns_shown(self, conversation: Conversation) -> int:
        return conversation.turns

    @admin.display(description="tokens (cache read / write)")
    def tokens_shown(self, conversation: Conversation) -> str:
        total = (
            conversation.input_total
            + conversation.output_total
            + conversation.cache_write_total
            + conversation.cache_read_total
        )
        return format_html(
            '{} <span class="quiet">({} / {})</span>',
            f"{total:,}",
            f"{conversation.cache_read_total:,}",
            f"{conversation.cache_write_total:,}",
        )

    @admin.display(description="cost", ordering="cost")
    def cost_shown(self, conversation: Conversation) -> str:
        return f"${conversation.cost:.4f}"

    @admin.display(description="worst", ordering="worst_rank")
    def worst_status(self, conversation: Conversation) -> str:
        return review.RANK_STATUS.get(conversation.worst_rank, "complete")

    @admin.display(description="feedback")
    def feedback_shown(self, conversation: Conversation) -> str:
        if not (conversation.thumbs_up or conversation.thumbs_down):
            return "—"
        return format_html("{} up · {} down", conversation.thumbs_up, conversation.thumbs_down)

    def save_model(self, request, obj: Conversation, form, change) -> None:
        if "review_state" in form.changed_data and obj.review_state != Conversation.Review.NEW:
            obj.reviewed_at, obj.reviewed_by = timezone.now(), request.user
        # Only the review fields are saved: the transcript and its activity time stay as they were.
        Conversation.objects.filter(pk=obj.pk).update(
            **{field: getattr(obj, field) for field in [*self.fields, "reviewed_at", "reviewed_by"]}
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        conversation = self.get_object(request, object_id)
        context = {"title": "Review conversation", **(extra_context or {})}
        if conversation is not None:
            replies = conversation.messages.select_related("feedback").order_by("pk")
            context["transcript"] = [
                {
                    "message": m,
                    "cost": m.cost(model_data().get(m.model)) if m.is_assistant else None,
                }
                for m in replies
            ]
            context["lesson"] = catalogue().get(conversation.lesson_slug)
            context["next_in_queue"] = review.next_in_queue(conversation)
        return super().change_view(request, object_id, form_url, context)

    @admin.action(description="Mark selected conversations as reviewed")
    def mark_reviewed(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        self._set_review(request, queryset, Conversation.Review.REVIEWED)

    @admin.action(description="Mark selected conversations as needing follow-up")
    def mark_follow_up(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        self._set_review(request, queryset, Conversation.Review.FOLLOW_UP)

    def _set_review(self, request: HttpRequest, queryset: QuerySet, state: str) -> None:
        count = Conversation.objects.filter(pk__in=queryset.values("pk")).update(
            review_state=state, reviewed_at=timezone.now(), reviewed_by=request.user
        )
        label = Conversation.Review(state).label.lower()
        self.message_user(request, f"Marked {count} conversation(s) as {label}.", messages.SUCCESS)

    @admin.action(description="Export selected conversations as JSON")
    def export_json(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> HttpResponse:
        return _download(review.export_json(queryset), "application/json", "json")

    @admin.action(description="Export selected conversations as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> HttpResponse:
        return _download(review.export_csv(queryset), "text/csv; charset=utf-8", "csv")

    def get_urls(self):
        summary = path(
            "summary/", self.admin_site.admin_view(self.summary_view), name="tutor_summary"
        )
        return [summary, *super().get_urls()]

    def summary_view(self, request: HttpRequest) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        today = timezone.localdate()
        start, end, error = _period_from(request.GET, today)
        lessons = catalogue().lessons
        rows = review.lesson_summary(start, end) if not error else []
        exercises = [] if error else exercise_summary(*review.period(start, end), lessons)
        context = {
            **self.admin_site.each_context(request),
            "title": "Tutor summary by lesson",
            "opts": self.model._meta,
            "rows": rows,
            "exercises": exercises,
            "start": start,
            "end": end,
            "error": error,
            "presets": [
                (label, today - dt.timedelta(days=days - 1), today)
                for label, days in [("Last 7 days", 7), ("Last 30 days", 30), ("Last 90 days", 90)]
            ],
            "changelist_url": reverse("admin:tutor_conversation_changelist"),
        }
        return TemplateResponse(
            request, "admin/tutor/summary.html", context, status=400 if error else 200
        )


def _period_from(query, today: dt.date) -> tuple[dt.date, dt.date, str]:
    try:
        start = dt.date.fromisoformat(query.get("start") or str(today - dt.timedelta(days=6)))
        end = dt.date.fromisoformat(query.get("end") or str(today))
    except ValueError:
        return today - dt.timedelta(days=6), today, "Dates must look like 2026-11-24."
    if not (EARLIEST <= start <= LATEST and EARLIEST <= end <= LATEST):
        return (
            today - dt.timedelta(days=6),
            today,
            f"Dates must fall between {EARLIEST.isoformat()} and {LATEST.isoformat()}.",
        )
    if start > end:
        return start, end, "The start date must be on or before the end date."
    return start, end, ""


# Far wider than the course's life, and far from the calendar's ends (where a day more overflows).
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2999, 12, 31)


def _download(content: str, content_type: str, extension: str) -> HttpResponse:
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = (
        f'attachment; filename="tutor-conversations-{stamp}.{extension}"'
    )
    return response


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ["rating", "reason", "comment", "learner", "lesson", "transcript", "created_at"]
    list_filter = ["rating", "reason", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["message__conversation__user"]
    readonly_fields = ["message", "rating", "reason", "comment", "created_at", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="learner", ordering="message__conversation__user__username")
    def learner(self, feedback: Feedback) -> str:
        return feedback.message.conversation.user.get_username()

    @admin.display(description="lesson", ordering="message__conversation__lesson_slug")
    def lesson(self, feedback: Feedback) -> str:
        return lesson_title(feedback.message.conversation.lesson_slug)

    @admin.display(description="reply")
    def transcript(self, feedback: Feedback) -> str:
        url = reverse("admin:tutor_conversation_change", args=[feedback.message.conversation_id])
        return format_html('<a href="{}#turn-{}">Read in transcript</a>', url, feedback.message_id)
