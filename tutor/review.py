"""Queries and exports behind the admin's transcript review queue."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import (
    Case,
    Count,
    F,
    FloatField,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from course.lessons import catalogue
from course.model_catalogue import MILLION, TOKEN_COUNTS, model_data
from tutor.models import Conversation, Feedback, Message

STATUS_RANK = {"failed": 3, "interrupted": 2, "stopped": 1}
RANK_STATUS = {rank: status for status, rank in STATUS_RANK.items()}


def _rate(count: str) -> Case:
    """Each model's price per million of `count` (one of TOKEN_COUNTS), as SQL."""
    return Case(
        *[When(model=m.id, then=Value(float(m.rates()[count]))) for m in model_data().models],
        default=Value(0.0),
        output_field=FloatField(),
    )


def cost_expression():
    """Dollars for a set of messages, as `ModelInfo.cost` prices each one, in SQL."""
    priced = [F(count) * _rate(count) for count in TOKEN_COUNTS]
    return sum(priced[1:], priced[0]) / Value(float(MILLION))


def _per_conversation(aggregate, output_field=None, **filters) -> Coalesce:
    # A subquery per figure: joining messages and feedback in one query would multiply rows.
    rows = (
        Message.objects.filter(conversation=OuterRef("pk"), **filters)
        .order_by()
        .values("conversation")
        .annotate(value=aggregate)
        .values("value")
    )
    field = output_field or IntegerField()
    return Coalesce(Subquery(rows, output_field=field), Value(0, output_field=field))


def _feedback_count(rating: str) -> Coalesce:
    rows = (
        Feedback.objects.filter(message__conversation=OuterRef("pk"), rating=rating)
        .order_by()
        .values("message__conversation")
        .annotate(value=Count("pk"))
        .values("value")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))


def with_figures(conversations: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """Annotate the numbers a reviewer sorts and filters by."""
    rank = Case(
        *[When(status=status, then=Value(value)) for status, value in STATUS_RANK.items()],
        default=Value(0),
        output_field=IntegerField(),
    )
    return conversations.annotate(
        turns=_per_conversation(Count("pk"), role=Message.Role.USER),
        input_total=_per_conversation(Sum("input_tokens")),
        output_total=_per_conversation(Sum("output_tokens")),
        cache_write_total=_per_conversation(Sum("cache_creation_input_tokens")),
        cache_read_total=_per_conversation(Sum("cache_read_input_tokens")),
        cost=_per_conversation(Sum(cost_expression()), FloatField()),
        worst_rank=_per_conversation(Max(rank), role=Message.Role.ASSISTANT),
        thumbs_up=_feedback_count(Feedback.Rating.UP),
        thumbs_down=_feedback_count(Feedback.Rating.DOWN),
    )


def matching(conversations: QuerySet[Conversation], term: str) -> QuerySet[Conversation]:
    """Conversations whose turns, learner or tags contain `term` (no duplicate rows)."""
    in_text = Message.objects.filter(text__icontains=term).values("conversation")
    return conversations.filter(
        Q(pk__in=in_text) | Q(user__username__icontains=term) | Q(tags__icontains=term)
    )


# Exports: what a reviewer takes away. Never the API key: it is not stored anywhere.


def _message_record(message: Message) -> dict:
    model = model_data().get(message.model)
    feedback = getattr(message, "feedback", None)  # a reply without feedback raises AttributeError
    cost = message.cost(model) if message.is_assistant and not message.is_offline else None
    return {
        "id": message.pk,
        "role": message.role,
        "created_at": message.created_at.isoformat(),
        "text": message.text,
        "status": message.status,
        **(
            {
                "model": message.model,
                "stop_reason": message.stop_reason,
                "usage": {field: getattr(message, field) for field in TOKEN_COUNTS},
                "cost_usd": float(cost) if cost is not None else None,
                "ttft_ms": message.ttft_ms,
                "duration_ms": message.duration_ms,
                "request_id": message.request_id,
                "error_type": message.error_type,
                "superseded": message.superseded,  # the learner regenerated it
                "feedback": (
                    {
                        "rating": feedback.rating,
                        "reason": feedback.reason,
                        "comment": feedback.comment,
                    }
                    if feedback
                    else None
                ),
            }
            if message.is_assistant
            else {}
        ),
    }


def conversation_record(conversation: Conversation) -> dict:
    messages = conversation.messages.select_related("feedback").order_by("pk")
    return {
        "id": conversation.pk,
        "lesson": conversation.lesson_slug,
        "learner": conversation.user.get_username(),
        "started": conversation.created_at.isoformat(),
        "last_activity": conversation.updated_at.isoformat(),
        "review_state": conversation.review_state,
        "flagged": conversation.flagged,
        "tags": conversation.tags,
        "reviewer_note": conversation.reviewer_note,
        "messages": [_message_record(m) for m in messages],
    }


def export_json(conversations: QuerySet[Conversation]) -> str:
    records = [conversation_record(c) for c in conversations.select_related("user").order_by("pk")]
    return json.dumps({"conversations": records}, indent=2, ensure_ascii=False)


CSV_COLUMNS = [
    "conversation_id",
    "lesson",
    "learner",
    "review_state",
    "flagged",
    "tags",
    "message_id",
    "role",
    "created_at",
    "status",
    "model",
    "stop_reason",
    *TOKEN_COUNTS,
    "cost_usd",
    "ttft_ms",
    "duration_ms",
    "request_id",
    "error_type",
    "feedback",
    "feedback_reason",
    "feedback_comment",
    "reviewer_note",
    "text",
]


def _cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: never a formula (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_csv(conversations: QuerySet[Conversation]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for conversation in conversations.select_related("user").order_by("pk"):
        record = conversation_record(conversation)
        for message in record["messages"]:
            usage = message.get("usage") or {}
            feedback = message.get("feedback") or {}
            row = [
                record["id"],
                record["lesson"],
                record["learner"],
                record["review_state"],
                record["flagged"],
                record["tags"],
                message["id"],
                message["role"],
                message["created_at"],
                message["status"],
                message.get("model", ""),
                message.get("stop_reason", ""),
                *(usage.get(f, "") for f in TOKEN_COUNTS),
                message.get("cost_usd", ""),
                message.get("ttft_ms", ""),
                message.get("duration_ms", ""),
                message.get("request_id", ""),
                message.get("error_type", ""),
                feedback.get("rating", ""),
                feedback.get("reason", ""),
                feedback.get("comment", ""),
                record["reviewer_note"],
                message["text"],
            ]
            writer.writerow([_cell(value) for value in row])
    return buffer.getvalue()


def period(start: date, end: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    return datetime.combine(start, time.min, tz), datetime.combine(
        end + timedelta(days=1), time.min, tz
    )


@dataclass(frozen=True)
class Usage:
    """What a lesson's replies used: tokens of each kind and their cost in dollars."""

    input: int = 0  # sent fresh, neither written to nor read from the cache
    cache_write: int = 0
    cache_read: int = 0
    output: int = 0
    cost: float = 0.0

    @property
    def all_input(self) -> int:
        return self.input + self.cache_write + self.cache_read


@dataclass(frozen=True)
class LessonSummary:
    """One lesson's row in the admin summary, over the conversations active in a period."""

    lesson: str
    conversations: int
    turns: int
    thumbs_up: int
    thumbs_down: int
    usage: Usage
    errors: tuple[tuple[str, int], ...]  # (error type, replies), most frequent first

    @property
    def title(self) -> str:
        return lesson_title(self.lesson)

    @property
    def feedback_ratio(self) -> float | None:
        rated = self.thumbs_up + self.thumbs_down
        return self.thumbs_up / rated if rated else None

    @property
    def cache_read_share(self) -> float | None:
        total = self.usage.all_input
        return self.usage.cache_read / total if total else None

    # The summary table's columns, by the names the template reads.

    @property
    def input_tokens(self) -> int:
        return self.usage.all_input

    @property
    def output_tokens(self) -> int:
        return self.usage.output

    @property
    def cost(self) -> float:
        return self.usage.cost

    @property
    def cost_per_conversation(self) -> float:
        return self.usage.cost / self.conversations


def lesson_title(slug: str) -> str:
    """ "3. Models, tokens and sampling" for a slug; the slug itself for a lesson since removed."""
    lesson = catalogue().get(slug)
    return f"{lesson.order}. {lesson.title}" if lesson else slug


def _usage_by_lesson(replies: QuerySet[Message]) -> dict[str, Usage]:
    rows = replies.values(lesson=F("conversation__lesson_slug")).annotate(
        input=Sum("input_tokens"),
        cache_write=Sum("cache_creation_input_tokens"),
        cache_read=Sum("cache_read_input_tokens"),
        output=Sum("output_tokens"),
        cost=Sum(cost_expression()),
    )
    return {row.pop("lesson"): Usage(**row) for row in rows}


def _feedback_by_lesson(conversations: QuerySet[Conversation]) -> dict[str, Counter[str]]:
    rows = (
        Feedback.objects.filter(message__conversation__in=conversations)
        .values_list("message__conversation__lesson_slug", "rating")
        .annotate(n=Count("pk"))
    )
    ratings: dict[str, Counter[str]] = defaultdict(Counter)
    for lesson, rating, n in rows:
        ratings[lesson][rating] = n
    return ratings


def _errors_by_lesson(replies: QuerySet[Message]) -> dict[str, list[tuple[str, int]]]:
    rows = (
        replies.exclude(error_type="")
        .values_list("conversation__lesson_slug", "error_type")
        .annotate(n=Count("pk"))
        .order_by("-n")
    )
    errors: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for lesson, error_type, n in rows:
        errors[lesson].append((error_type, n))
    return errors


def lesson_summary(start: date, end: date) -> list[LessonSummary]:
    """Per lesson, over conversations active in [start, end]: usage, feedback, cost, errors."""
    since, until = period(start, end)
    conversations = Conversation.objects.filter(updated_at__gte=since, updated_at__lt=until)
    messages = Message.objects.filter(conversation__in=conversations)
    replies = messages.filter(role=Message.Role.ASSISTANT).exclude(model="offline")
    counts = conversations.values_list("lesson_slug").annotate(n=Count("pk"))
    turns = dict(
        messages.filter(role=Message.Role.USER)
        .values_list("conversation__lesson_slug")
        .annotate(n=Count("pk"))
    )
    usage = _usage_by_lesson(replies)
    feedback = _feedback_by_lesson(conversations)
    errors = _errors_by_lesson(replies)
    rows = [
        LessonSummary(
            lesson=lesson,
            conversations=n,
            turns=turns.get(lesson, 0),
            thumbs_up=feedback[lesson][Feedback.Rating.UP],
            thumbs_down=feedback[lesson][Feedback.Rating.DOWN],
            usage=usage.get(lesson, Usage()),
            errors=tuple(errors[lesson]),
        )
        for lesson, n in counts
    ]
    order = {lesson.slug: lesson.order for lesson in catalogue().lessons}
    # Lessons in course order; a lesson no longer in the catalogue goes last.
    return sorted(rows, key=lambda row: (order.get(row.lesson, len(order) + 1), row.lesson))


def next_in_queue(conversation: Conversation) -> Conversation | None:
    """The unreviewed conversation after this one in the queue's order (newest activity first)."""
    waiting = Conversation.objects.filter(review_state=Conversation.Review.NEW).exclude(
        pk=conversation.pk
    )
    older = waiting.filter(updated_at__lte=conversation.updated_at).order_by("-updated_at", "-pk")
    return older.first() or waiting.order_by("-updated_at", "-pk").first()
