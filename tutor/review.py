"""Queries and exports behind the admin's transcript review queue."""

from __future__ import annotations

import csv
import io
import json
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
from course.models_data import model_data
from tutor.models import Conversation, Feedback, Message

STATUS_RANK = {"failed": 3, "interrupted": 2, "stopped": 1}
RANK_STATUS = {rank: status for status, rank in STATUS_RANK.items()}
TOKEN_FIELDS = [
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
]


def _price(field: str) -> Case:
    """A model's price per million tokens for `field`, as SQL, from lessons/models.yaml."""
    return Case(
        *[When(model=m.id, then=Value(float(getattr(m, field)))) for m in model_data().models],
        default=Value(0.0),
        output_field=FloatField(),
    )


def cost_expression():
    """Dollars for a set of messages: each token kind at its model's price."""
    return (
        F("input_tokens") * _price("input")
        + F("cache_creation_input_tokens") * _price("cache_write_5m")
        + F("cache_read_input_tokens") * _price("cache_read")
        + F("output_tokens") * _price("output")
    ) / Value(1_000_000.0)


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
                "usage": {field: getattr(message, field) for field in TOKEN_FIELDS},
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
    *TOKEN_FIELDS,
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
                *(usage.get(f, "") for f in TOKEN_FIELDS),
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


def lesson_summary(start: date, end: date) -> list[dict]:
    """Per lesson, over conversations active in [start, end]: usage, feedback, cost, errors."""
    since, until = period(start, end)
    conversations = Conversation.objects.filter(updated_at__gte=since, updated_at__lt=until)
    replies = Message.objects.filter(
        conversation__in=conversations, role=Message.Role.ASSISTANT
    ).exclude(model="offline")
    rows: dict[str, dict] = {}
    for row in conversations.values("lesson_slug").annotate(conversations=Count("pk")):
        rows[row["lesson_slug"]] = {
            "lesson": row["lesson_slug"],
            "conversations": row["conversations"],
        }
    for row in (
        Message.objects.filter(conversation__in=conversations, role=Message.Role.USER)
        .values("conversation__lesson_slug")
        .annotate(turns=Count("pk"))
    ):
        rows[row["conversation__lesson_slug"]]["turns"] = row["turns"]
    for row in replies.values("conversation__lesson_slug").annotate(
        input=Sum("input_tokens"),
        write=Sum("cache_creation_input_tokens"),
        read=Sum("cache_read_input_tokens"),
        output=Sum("output_tokens"),
        cost=Sum(cost_expression()),
    ):
        rows[row["conversation__lesson_slug"]].update(row)
    for row in (
        Feedback.objects.filter(message__conversation__in=conversations)
        .values("message__conversation__lesson_slug", "rating")
        .annotate(n=Count("pk"))
    ):
        rows[row["message__conversation__lesson_slug"]][row["rating"]] = row["n"]
    for row in (
        replies.exclude(error_type="")
        .values("conversation__lesson_slug", "error_type")
        .annotate(n=Count("pk"))
        .order_by("-n")
    ):
        rows[row["conversation__lesson_slug"]].setdefault("errors", []).append(
            (row["error_type"], row["n"])
        )
    result = []
    for row in rows.values():
        total_input = (row.get("input") or 0) + (row.get("write") or 0) + (row.get("read") or 0)
        up, down = row.get("up", 0), row.get("down", 0)
        cost = row.get("cost") or 0.0
        result.append(
            {
                "lesson": row["lesson"],
                "conversations": row["conversations"],
                "turns": row.get("turns", 0),
                "thumbs_up": up,
                "thumbs_down": down,
                "feedback_ratio": up / (up + down) if up + down else None,
                "cache_read_share": (row.get("read") or 0) / total_input if total_input else None,
                "input_tokens": total_input,
                "output_tokens": row.get("output") or 0,
                "cost": cost,
                "cost_per_conversation": cost / row["conversations"],
                "errors": row.get("errors", []),
            }
        )
    order = {lesson.slug: lesson.order for lesson in catalogue().lessons}
    # Lessons in course order; a lesson no longer in the catalogue goes last.
    return sorted(result, key=lambda row: (order.get(row["lesson"], len(order) + 1), row["lesson"]))


def next_in_queue(conversation: Conversation) -> Conversation | None:
    """The unreviewed conversation after this one in the queue's order (newest activity first)."""
    waiting = Conversation.objects.filter(review_state=Conversation.Review.NEW).exclude(
        pk=conversation.pk
    )
    older = waiting.filter(updated_at__lte=conversation.updated_at).order_by("-updated_at", "-pk")
    return older.first() or waiting.order_by("-updated_at", "-pk").first()
