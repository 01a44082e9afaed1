"""Questions that arrive together start together: one transaction, a few statements for all.

A turn started alone costs 13-17 statements, and a class asking at once queued behind them one
by one (docs/performance.md). Here a question that arrives while a batch is being started waits
for the next batch, and each batch is one transaction: the allowance charged
(`allowance.reserve_together`), the conversations locked and touched, the busy and duplicate
check, then the questions and the replies inserted in bulk. Its statements do not grow with its
size (until a bulk insert outgrows one statement's parameters).

Each learner's outcome is their own: a question refused, busy, a duplicate or from a closed
conversation starts nothing and gets its own exception (turns.SignedOut, allowance.Refused,
Busy, Duplicate, Archived), while the rest start. A continuation (continue_reply) is a
question too, and starts here alone.
"""

from __future__ import annotations

import asyncio
import functools
import operator
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.backends.db import SessionStore as DatabaseSession
from django.db import transaction
from django.db.models import Q

from course import allowance
from course.lessons import Lesson
from course.models import ApiCharge
from tutor import config, turns
from tutor.attempts import latest_attempt_texts
from tutor.models import Archived, Busy, Conversation, Duplicate, Message
from tutor.trimming import build_messages

MOST_AT_ONCE = 100  # questions per transaction: a longer one holds the write lock too long


@dataclass(frozen=True)
class Question:
    conversation: Conversation | None  # None: the question starts one
    lesson: Lesson
    session: SessionBase
    text: str
    client_id: str
    user: Any


Outcome = turns.Turn | Exception


class TurnStarts:
    """Group commit: the questions waiting when a batch ends are started in the next one."""

    def __init__(
        self,
        start: Callable[[list[Question], Collection[int]], Awaitable[list[Outcome]]],
        live: Callable[[], Collection[int]],
        orphaned: Callable[[turns.Turn], object],
    ) -> None:
        self.start = start  # start_together, on the tutor's database threads
        self.live = live  # the replies this process is writing, now
        self.orphaned = orphaned  # given a turn started for a socket that has closed since
        self.waiting: list[tuple[Question, asyncio.Future]] = []
        self.task: asyncio.Task | None = None

    async def ask(self, question: Question) -> turns.Turn:
        """Start `question`'s turn, with whatever else is waiting; raise what refused it."""
        loop = asyncio.get_running_loop()
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            self.waiting = []  # left by a loop that is gone (each test has its own)
            self.task = loop.create_task(self._start_waiting(), name="tutor-turn-starts")
        future = loop.create_future()
        self.waiting.append((question, future))
        return await future

    async def _start_waiting(self) -> None:
        await asyncio.sleep(0)  # let the questions that arrived in the same tick join the first
        while self.waiting:
            # A question whose asker stopped waiting (told it was not saved) is not started.
            self.waiting = [
                (question, future) for question, future in self.waiting if not future.done()
            ]
            batch, self.waiting = self.waiting[:MOST_AT_ONCE], self.waiting[MOST_AT_ONCE:]
            if not batch:
                break
            try:
                outcomes = await self.start([question for question, _ in batch], self.live())
            except Exception as error:  # the database failed the whole batch
                outcomes = [error] * len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():  # its socket closed while it waited: the reply is written
                    if not isinstance(outcome, Exception):
                        self.orphaned(outcome)
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)


def start_together(
    questions: list[Question], live: Collection[int], model: str | None = None
) -> list[Outcome]:
    """Start every question's turn that can start, in one transaction; the others' exceptions.

    `live`: the replies this process is writing (see Message). `model`: the one replying, when
    the caller has already read it (config.reply_model).
    """
    outcomes: list[Outcome | None] = [
        None if signed_in else turns.SignedOut() for signed_in in _signed_in(questions)
    ]
    model = model or config.reply_model()  # the same for everyone asking now
    lessons = {question.lesson.slug: question.lesson for question in questions}
    fields = {slug: turns.reply_fields(lesson, model) for slug, lesson in lessons.items()}
    charges: dict[int, allowance.Charge] = {}
    with transaction.atomic():
        # Charged first, as a question asked alone is: a refusal is what the learner hears.
        asking = [i for i, outcome in enumerate(outcomes) if outcome is None]
        free = model == "offline"  # an offline reply costs nothing (see turns._charge)
        requests = [allowance.Request(questions[i].user, model, free) for i in asking]
        for i, charge in zip(asking, allowance.reserve_together(requests), strict=True):
            if isinstance(charge, allowance.Refused):
                outcomes[i] = charge
            else:
                charges[i] = charge
        asking = [i for i in asking if outcomes[i] is None]
        conversations = _conversations(questions, asking)
        still_open = Conversation.objects.touch_open({c.pk for c in conversations.values()})
        clashes = _Clashes(conversations.values(), [questions[i].client_id for i in asking], live)
        for i in asking:
            question, conversation = questions[i], conversations[i]
            if conversation.pk not in still_open:
                outcomes[i] = Archived()
            elif question.client_id and (conversation.pk, question.client_id) in clashes.sent:
                outcomes[i] = Duplicate(question.client_id)
            elif clashes.busy(conversation.pk):
                outcomes[i] = Busy()
            else:  # the next question of this conversation in the batch finds it busy
                clashes.streaming[conversation.pk] = None
                clashes.sent.add((conversation.pk, question.client_id))
        if cancelled := [charges[i].pk for i in asking if outcomes[i] is not None]:
            ApiCharge.objects.filter(pk__in=[pk for pk in cancelled if pk]).delete()
        asking = [i for i in asking if outcomes[i] is None]
        asked = Message.objects.bulk_create(
            [
                Message(
                    conversation=conversations[i],
                    role=Message.Role.USER,
                    text=questions[i].text,
                    client_id=questions[i].client_id,
                )
                for i in asking
            ]
        )
        histories = _histories({conversations[i].pk for i in asking})
        sent = {}
        for i, question in zip(asking, asked, strict=True):
            history = [m for m in histories[conversations[i].pk] if m.pk <= question.pk]
            sent[i] = (history, *build_messages(history, settings.TUTOR_CONTEXT_BUDGET_TOKENS))
        replies = Message.objects.start_replies(
            [
                {
                    "conversation": conversations[i],
                    "reply_to": question,
                    "first_context_id": sent[i][2],
                    **fields[questions[i].lesson.slug],
                }
                for i, question in zip(asking, asked, strict=True)
            ]
        )
    attempts = latest_attempt_texts([(questions[i].user, questions[i].lesson) for i in asking])
    for i, question, reply in zip(asking, asked, replies, strict=True):
        lesson, conversation = questions[i].lesson, conversations[i]
        history, messages, _ = sent[i]
        attempt = attempts.get((questions[i].user.pk, lesson.slug))
        shown = [question, reply]
        turn = turns.make_turn(
            conversation, lesson, charges[i], reply, shown, history, messages, attempt
        )
        outcomes[i] = turn
    return outcomes


def _conversations(questions: list[Question], asking: list[int]) -> dict[int, Conversation]:
    """Each question's conversation; a learner's first question in a lesson starts one."""
    found = {i: questions[i].conversation for i in asking if questions[i].conversation}
    starting = {(questions[i].user.pk, questions[i].lesson.slug) for i in asking if i not in found}
    if starting:
        # One term per lesson, not per learner: a class's first questions are mostly one
        # lesson's, and a 50-term OR cost more to build than the rest of the batch's reads.
        learners: dict[str, set[int]] = defaultdict(set)
        for user_id, slug in starting:
            learners[slug].add(user_id)
        current = Conversation.objects.filter(
            functools.reduce(
                operator.or_, (Q(lesson_slug=s, user_id__in=u) for s, u in learners.items())
            ),
            archived=False,
        )
        started = {(c.user_id, c.lesson_slug): c for c in current}
        if missing := starting - started.keys():
            # Another tab or process may start the same one: the unique constraint keeps one.
            Conversation.objects.bulk_create(
                [Conversation(user_id=u, lesson_slug=s) for u, s in missing],
                ignore_conflicts=True,
            )
            started |= {(c.user_id, c.lesson_slug): c for c in current.all()}
        for i in asking:
            if i not in found:
                found[i] = started[(questions[i].user.pk, questions[i].lesson.slug)]
    for i in asking:
        found[i].user = questions[i].user  # the turn reads it; saves a query
    return found


class _Clashes:
    """The replies being written and the client ids already used, in these conversations."""

    def __init__(self, conversations, client_ids: list[str], live: Collection[int]) -> None:
        self.live = live
        self.streaming: dict[int, int | None] = {}  # conversation: its streaming reply
        self.sent: set[tuple[int, str]] = set()
        busy = Q(role=Message.Role.ASSISTANT, status=Message.Status.STREAMING)
        ids = [client_id for client_id in client_ids if client_id]
        rows = Message.objects.filter(conversation__in={c.pk for c in conversations})
        found = rows.filter(busy | Q(client_id__in=ids) if ids else busy)
        for pk, conversation, client_id, status in found.values_list(
            "pk", "conversation_id", "client_id", "status"
        ):
            if client_id:
                self.sent.add((conversation, client_id))
            if status == Message.Status.STREAMING:
                self.streaming[conversation] = pk

    def busy(self, conversation: int) -> bool:
        """A reply is being written, by a writer still alive (a dead one's is marked so)."""
        if conversation not in self.streaming:
            return False
        reply = self.streaming[conversation]
        if reply is not None and Message.objects.filter(pk=reply).interrupt_stale(self.live):
            del self.streaming[conversation]
            return False
        return True


def _histories(conversations: set[int]) -> dict[int, list[Message]]:
    """Every conversation's messages sent upstream, in order (see Message.sent_upstream)."""
    rows = Message.objects.filter(conversation__in=conversations, superseded=False).order_by("pk")
    by_conversation: dict[int, list[Message]] = defaultdict(list)
    for message in rows:
        by_conversation[message.conversation_id].append(message)
    return {pk: Message.sent_upstream(rows) for pk, rows in by_conversation.items()}


def _signed_in(questions: list[Question]) -> list[bool]:
    """Whether each question's session still exists: one query for database-backed sessions."""
    stored = [q.session for q in questions if isinstance(q.session, DatabaseSession)]
    found: set[str] = set()
    if stored:
        rows = (
            stored[0]
            .get_model_class()
            .objects.filter(session_key__in={session.session_key for session in stored})
        )
        found = set(rows.values_list("session_key", flat=True))
    return [
        q.session.session_key in found
        if isinstance(q.session, DatabaseSession)
        else q.session.exists(q.session.session_key)
        for q in questions
    ]


def continue_reply(
    conversation: Conversation,
    lesson: Lesson,
    session: SessionBase,
    message_id: int,
    model: str,
    *,
    live: Collection[int],
) -> turns.Turn:
    """Ask for the rest of a reply cut short by its length limit, as a question of its own.

    Claude 4.6 and later refuse a conversation that ends with an assistant turn (prefill), so
    the learner asks to continue; a second click on the same reply is a duplicate.
    """
    last = conversation.last_reply()
    if last is None or last.pk != message_id or last.stop_reason != "max_tokens":
        raise turns.Declined(turns.NOT_CONTINUABLE)
    asked = Question(
        conversation, lesson, session, turns.CONTINUE_TEXT, f"continue-{last.pk}", conversation.user
    )
    (started,) = start_together([asked], live, model)
    if isinstance(started, allowance.Refused):
        raise turns.Declined(started.message)
    if isinstance(started, Busy):
        raise turns.Declined(turns.STILL_ANSWERING)
    if isinstance(started, Duplicate):
        raise turns.Declined("That reply is already being continued.")
    if isinstance(started, Exception):  # signed out, or closed in another tab
        raise started
    return started


FOLLOW_UPS = {"regenerate": turns.regenerate, "continue": continue_reply}
