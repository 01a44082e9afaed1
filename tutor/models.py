from __future__ import annotations

import hashlib
from collections.abc import Collection
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Case, Count, F, OuterRef, Q, Subquery, TextField, Value, When
from django.db.models.functions import Concat
from django.utils import timezone

from course.allowance import learner_lock
from course.model_catalogue import TOKEN_COUNTS, ModelInfo


class PromptVersion(models.Model):
    """One exact system prompt the tutor sent; turns point here instead of copying it."""

    sha256 = models.CharField(max_length=64, unique=True)
    lesson_slug = models.SlugField(max_length=100)
    text = models.TextField()  # the system blocks as JSON, byte for byte what was sent
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        permissions = [("preview_lessons", "Can preview lessons and the tutor prompt they produce")]

    def __str__(self) -> str:
        return f"{self.lesson_slug} prompt {self.sha256[:10]}"

    @classmethod
    def for_text(cls, lesson_slug: str, text: str) -> PromptVersion:
        digest = hashlib.sha256(text.encode()).hexdigest()
        version, _ = cls.objects.get_or_create(
            sha256=digest, defaults={"lesson_slug": lesson_slug, "text": text}
        )
        return version

    @classmethod
    def id_for(cls, lesson_slug: str, text: str) -> int:
        """`for_text(…).pk`, without reading the prompt's text back on every turn."""
        digest = hashlib.sha256(text.encode()).hexdigest()
        found = cls.objects.filter(sha256=digest).values_list("pk", flat=True).first()
        return found if found is not None else cls.for_text(lesson_slug, text).pk


class Archived(Exception):
    """The conversation was closed (a new one started, or an old one reopened) in another tab."""


class Busy(Exception):
    """A reply is already being written in this conversation."""


class Duplicate(Exception):
    """This client message id was already received (a flaky connection re-sent it)."""


class ConversationQuerySet(models.QuerySet):
    def current_for(self, user, lesson_slug: str) -> Conversation:
        """The learner's current conversation of a lesson, created if there is none.

        Only asking creates one (tutor/turn_starts.py): a conversation starts with its first
        question, so the review queue never fills with conversations nobody said anything in.
        """
        # get_or_create retries the get when a concurrent create wins the unique constraint.
        conversation, _ = self.get_or_create(user=user, lesson_slug=lesson_slug, archived=False)
        return conversation

    def touch_open(self, pks: set[int]) -> set[int]:
        """`touch` for many conversations at once: lock them (in order, on PostgreSQL), note
        activity, and return those still open (the others were archived in another tab)."""
        rows = self.filter(pk__in=pks).order_by("pk").select_for_update()
        still_open = {pk for pk, archived in rows.values_list("pk", "archived") if not archived}
        if still_open:
            self.filter(pk__in=still_open).update(updated_at=timezone.now())
        return still_open

    def current_or_none(self, user, lesson_slug: str) -> Conversation | None:
        """The current conversation, if the learner has asked anything since the last new one."""
        return self.filter(user=user, lesson_slug=lesson_slug, archived=False).first()

    def start_new_within_limit(self, user, lesson_slug: str) -> bool:
        """Archive the current conversation, unless the hourly limit is hit; the next question
        starts the new one."""
        with learner_lock(user):  # concurrent requests cannot both take the last slot
            since = timezone.now() - timedelta(hours=1)
            started = self.filter(user=user, created_at__gte=since).count()
            if started >= settings.TUTOR_NEW_CONVERSATIONS_PER_HOUR:
                return False
            current = self.current_or_none(user, lesson_slug)
            if current is not None:
                current.archive()
            return True

    def past_for(self, user, lesson_slug: str, limit: int) -> list[Conversation]:
        """This learner's archived conversations of a lesson that say something, newest first.

        Each carries `first_question` and `shown_count` (the messages the panel would show).
        """
        first_question = Message.objects.filter(
            conversation=OuterRef("pk"), role=Message.Role.USER
        ).order_by("pk")
        return list(
            self.filter(user=user, lesson_slug=lesson_slug, archived=True)
            .annotate(
                first_question=Subquery(first_question.values("text")[:1]),
                shown_count=Count("messages", filter=Q(messages__superseded=False)),
            )
            .filter(shown_count__gt=0)
            .order_by("-updated_at", "-pk")[:limit]
        )


class Conversation(models.Model):
    """A learner's conversation with one lesson's tutor."""

    class Review(models.TextChoices):
        NEW = "new", "New"
        REVIEWED = "reviewed", "Reviewed"
        FOLLOW_UP = "follow_up", "Needs follow-up"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    lesson_slug = models.SlugField(max_length=100, db_index=True)
    archived = models.BooleanField(default=False)  # "new conversation" archives the current one
    created_at = models.DateTimeField("started", auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField("last activity", auto_now=True)
    # Staff review of the transcript; the transcript itself is never edited.
    review_state = models.CharField(max_length=12, choices=Review.choices, default=Review.NEW)
    flagged = models.BooleanField(default=False)
    tags = models.CharField(
        max_length=200, blank=True, help_text="Comma-separated, e.g. gave-answer, wrong-fact"
    )
    reviewer_note = models.TextField(blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "lesson_slug"],
                condition=models.Q(archived=False),
                name="one_current_conversation_per_lesson",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.lesson_slug} · {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def group_name(self) -> str:
        return f"tutor.conversation.{self.pk}"

    @staticmethod
    def starting_group_name(user_id: int, lesson_slug: str) -> str:
        """The group of a learner's sockets on a lesson that has no current conversation yet."""
        return f"tutor.starting.{user_id}.{lesson_slug}"

    @property
    def control_group_name(self) -> str:
        return f"tutor.control.{self.pk}"

    def archive(self) -> None:
        """Move this conversation to the past ones; the next question starts a new one."""
        Conversation.objects.filter(pk=self.pk).update(archived=True)
        self.archived = True

    def reopen(self, live: Collection[int]) -> None:
        """Make this archived conversation the current one again, archiving the current one.

        Refused with Busy while the current conversation is still being answered: its reply
        would go on streaming into a conversation that has left the panel. `live`: the replies
        this process is writing (see Message).
        """
        with learner_lock(self.user):  # a transaction, serialized with a first question's create
            current = (
                Conversation.objects.select_for_update()
                .filter(user=self.user, lesson_slug=self.lesson_slug, archived=False)
                .first()
            )
            if current is not None and current.pk != self.pk:
                current.refuse_if_busy(live)
                # Archive first: the unique constraint allows one current conversation.
                Conversation.objects.filter(pk=current.pk).update(archived=True)
            Conversation.objects.filter(pk=self.pk).update(archived=False)
        self.archived = False

    def shown_messages(self) -> models.QuerySet[Message]:
        """The messages the learner sees: a regenerated reply gives way to its replacement."""
        return self.messages.filter(superseded=False).select_related("feedback")

    def touch(self) -> None:
        """Note activity at the start of a turn; on PostgreSQL this also locks the row, so two
        processes cannot both start a reply. Raise Archived if another tab closed it."""
        if not Conversation.objects.filter(pk=self.pk, archived=False).update(
            updated_at=timezone.now()
        ):
            raise Archived()

    def last_reply(self) -> Message | None:
        return self.shown_messages().filter(role=Message.Role.ASSISTANT).last()

    def streaming_reply(self) -> Message | None:
        """The reply being written, if any: one whose writer died is one until someone saves it
        interrupted (`messages.interrupt_stale`)."""
        return self.messages.streaming().first()

    def refuse_if_busy(self, live: Collection[int]) -> None:
        """Raise Busy while a reply is being written here, after interrupting any whose writer
        died."""
        self.messages.interrupt_stale(live)
        if self.streaming_reply():
            raise Busy()

    def retry_turn(self, failed: Message, reply: dict, live: Collection[int]) -> Message:
        with transaction.atomic():
            self.touch()
            self.refuse_if_busy(live)
            if not failed.take_retry():
                raise Duplicate(failed.pk)
            return self.messages.start_reply(reply_to=failed.reply_to, **reply)

    def regenerate_turn(self, old: Message, reply: dict, live: Collection[int]) -> Message:
        """Answer `old`'s question again; `old` stays in the transcript, marked superseded."""
        with transaction.atomic():
            self.touch()
            self.refuse_if_busy(live)
            latest = self.last_reply()
            if latest is None or latest.pk != old.pk or latest.status not in Message.REGENERABLE:
                raise Duplicate(old.pk)  # a second click, or a reply that is no longer the last
            old.supersede()
            return self.messages.start_reply(reply_to_id=old.reply_to_id, **reply)

    def history_before(self, reply: Message) -> list[Message]:
        """The turns sent upstream for `reply`: everything up to the question it answers."""
        rows = self.messages.filter(pk__lte=reply.reply_to_id, superseded=False).order_by("pk")
        return Message.sent_upstream(rows)


def _stale_before() -> datetime:
    """A streaming reply not saved since then has lost its writer (see Message)."""
    return timezone.now() - timedelta(seconds=settings.TUTOR_STALE_SECONDS)


class MessageQuerySet(models.QuerySet):
    def streaming(self) -> MessageQuerySet:
        return self.filter(role=Message.Role.ASSISTANT, status=Message.Status.STREAMING)

    def stale(self, live: Collection[int]) -> MessageQuerySet:
        """Streaming replies whose writer stopped saving them: it died with its process.

        Replies this process is writing (`live`) are alive whatever the database says: their
        saves may be waiting for a lock.
        """
        return self.streaming().filter(updated_at__lt=_stale_before()).exclude(pk__in=list(live))

    def append(self, pending: dict[int, str]) -> list[int]:
        """Append each streaming reply's new text (reply id: text) and note that its writer
        lives; return the replies saved.

        Rows locked by someone else are skipped (PostgreSQL) until the writer's next save: a
        slow row delays only its own reply.
        """
        with transaction.atomic():
            rows = self.filter(pk__in=pending, status=Message.Status.STREAMING)
            if connection.features.has_select_for_update_skip_locked:
                rows = rows.select_for_update(skip_locked=True)
            saved = list(rows.values_list("pk", flat=True))
            text = TextField()
            appends = [
                When(pk=pk, then=Concat(F("text"), Value(pending[pk]), output_field=text))
                for pk in saved
                if pending[pk]
            ]
            changes = {"updated_at": timezone.now()}
            if appends:
                changes["text"] = Case(*appends, default=F("text"), output_field=text)
            self.filter(pk__in=saved).update(**changes)
        return saved

    def interrupt_stale(self, live: Collection[int]) -> int:
        """Save the stale replies among these as interrupted, to be retried; return how many.

        Looks before it writes: nearly always there is none, and an UPDATE that matches nothing
        still waits for SQLite's write lock (a page view must not wait out someone's lock).
        """
        stale = self.stale(live)
        if not stale.exists():
            return 0
        return stale.update(
            status=Message.Status.INTERRUPTED, retryable=True, updated_at=timezone.now()
        )


class MessageManager(models.Manager.from_queryset(MessageQuerySet)):
    # On the manager, not the QuerySet: `conversation.messages.start_reply()` must go through
    # the related manager's create(), which sets the conversation.
    def start_reply(self, **fields) -> Message:
        """Save a new, empty reply, streaming: its writer starts now."""
        return self.create(role=Message.Role.ASSISTANT, status=Message.Status.STREAMING, **fields)

    def start_replies(self, replies: list[dict]) -> list[Message]:
        """`start_reply` for several conversations' replies (each with its `conversation`), in
        one statement: questions asked together (tutor/turn_starts.py)."""
        return self.bulk_create(
            [
                Message(role=Message.Role.ASSISTANT, status=Message.Status.STREAMING, **fields)
                for fields in replies
            ]
        )


class Message(models.Model):
    """A learner's question, or a tutor reply with the API call behind it.

    A question is saved `complete`. A reply moves through these states, and only these ways:

        start_reply()          -> streaming     its writer (tutor/generation.py) calls the model
                                                (start_replies(): several, asked together)
        append()               streaming        the writer saves the text so far, every quarter
                                                second; each save is also its heartbeat
        finish(status)         streaming -> complete | stopped | failed | interrupted
                                                the writer saves how it ended (stopped: the
                                                learner pressed Stop; interrupted: the server
                                                shut down mid-reply; failed: the call failed)
        interrupt_stale(live)  streaming -> interrupted
                                                anyone who notices that the writer died (no save
                                                for TUTOR_STALE_SECONDS: `is_stale`, `stale`)

    `live` is the set of replies this process is writing (`generation.live_writers()`), passed
    in by the caller: those are alive whatever the database says. Interrupted and failed replies
    may be retried once (`retryable`, `take_retry`); a regenerated reply is `superseded` by its
    replacement. Nothing moves a reply out of an ended state, except its own writer's finish()
    when it was taken for dead while its saves waited for a lock.
    """

    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        STREAMING = "streaming"
        COMPLETE = "complete"
        STOPPED = "stopped"
        INTERRUPTED = "interrupted"
        FAILED = "failed"

    ENDED = (Status.COMPLETE, Status.STOPPED, Status.FAILED, Status.INTERRUPTED)
    REGENERABLE = (Status.COMPLETE, Status.STOPPED)

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    text = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.COMPLETE)
    client_id = models.CharField(max_length=64, blank=True)  # the browser's id for a question
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    # What the API call behind a reply did (assistant messages only).
    model = models.CharField(max_length=100, blank=True)
    prompt = models.ForeignKey(PromptVersion, null=True, blank=True, on_delete=models.PROTECT)
    first_context_id = models.BigIntegerField(
        null=True, blank=True
    )  # oldest turn sent after trimming
    max_tokens = models.PositiveIntegerField(null=True, blank=True)
    stop_reason = models.CharField(max_length=40, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cache_creation_input_tokens = models.PositiveIntegerField(default=0)
    # Of those, the one-hour writes, priced higher (usage.cache_creation.ephemeral_1h_...)
    cache_creation_1h_input_tokens = models.PositiveIntegerField(default=0)
    cache_read_input_tokens = models.PositiveIntegerField(default=0)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    request_id = models.CharField(max_length=100, blank=True)
    # The response's `id` (msg_...), which the next turn names in `diagnostics`, and the
    # response's cache `diagnostics` (null: not asked, or no divergence found).
    api_message_id = models.CharField(max_length=100, blank=True)
    diagnostics = models.JSONField(null=True, blank=True)
    error_type = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)
    retryable = models.BooleanField(default=False)
    # Regenerated: a new reply took this one's place. Kept for the staff transcript; the panel
    # and the history sent upstream skip it.
    superseded = models.BooleanField(default=False)

    objects = MessageManager()

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=~models.Q(client_id=""),
                name="one_message_per_client_id",
            )
        ]

    def __str__(self) -> str:
        return f"{self.role} #{self.pk} ({self.status})"

    @staticmethod
    def sent_upstream(rows) -> list[Message]:
        """Of a conversation's messages in order, those a request carries: every question, and
        the replies that ended with text."""
        kept = (Message.Status.COMPLETE, Message.Status.STOPPED)
        return [m for m in rows if m.role == Message.Role.USER or (m.status in kept and m.text)]

    @property
    def is_assistant(self) -> bool:
        return self.role == self.Role.ASSISTANT

    @property
    def is_streaming(self) -> bool:
        return self.status == self.Status.STREAMING

    def is_stale(self, live: Collection[int]) -> bool:
        """Whether this reply's writer died: streaming, not ours, and unsaved for too long."""
        return self.is_streaming and self.pk not in live and self.updated_at < _stale_before()

    def finish(self, status: str, **fields) -> None:
        """Save how the reply ended: its final status, full text, usage and any error."""
        if status not in self.ENDED:
            raise ValueError(f"a reply cannot end {status!r}")
        if status == self.Status.INTERRUPTED:
            fields.setdefault("retryable", True)
        fields["status"] = status
        for name, value in fields.items():
            setattr(self, name, value)
        self.save(update_fields=[*fields, "updated_at"])

    def take_retry(self) -> bool:
        """Use up this failed reply's one retry; False if it was used already."""
        taken = Message.objects.filter(pk=self.pk, retryable=True).update(retryable=False)
        self.retryable = False
        return bool(taken)

    def supersede(self) -> None:
        """A regenerated reply gives way to its replacement (kept for the staff transcript)."""
        Message.objects.filter(pk=self.pk).update(superseded=True)
        self.superseded = True

    def save_first_context(self, first_context_id: int) -> None:
        """Note the oldest turn sent upstream for this reply, once the history is trimmed."""
        Message.objects.filter(pk=self.pk).update(first_context_id=first_context_id)
        self.first_context_id = first_context_id

    @property
    def is_offline(self) -> bool:
        return self.model == "offline"

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
        )

    def cost(self, model: ModelInfo | None) -> Decimal | None:
        """US dollars for this call, from the model data file; None when the model is unknown."""
        if model is None:
            return None
        return model.cost({name: getattr(self, name) for name in TOKEN_COUNTS})


class Feedback(models.Model):
    """A learner's thumbs up or down on one tutor reply."""

    class Rating(models.TextChoices):
        UP = "up", "Helpful"
        DOWN = "down", "Not helpful"

    class Reason(models.TextChoices):
        WRONG = "wrong", "It was wrong"
        UNHELPFUL = "unhelpful", "It didn't help"
        GAVE_ANSWER = "gave_answer", "It gave the answer away"
        OFF_TOPIC = "off_topic", "It went off-topic"
        OTHER = "other", "Something else"

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="feedback")
    rating = models.CharField(max_length=4, choices=Rating.choices)
    reason = models.CharField(max_length=12, choices=Reason.choices, blank=True)
    comment = models.TextField(blank=True, max_length=1000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.get_rating_display()} on reply #{self.message_id}"
