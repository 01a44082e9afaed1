"""Questions asked together start together (tutor/turn_starts.py): a few statements for all."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.test.utils import CaptureQueriesContext

from course import allowance
from course.lessons import catalogue
from course.models import ApiCharge
from tutor.models import Busy, Conversation, Message
from tutor.turn_starts import Question, start_together
from tutor.turns import Turn

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def online_model(settings):
    settings.ANTHROPIC_API_KEY = "sk-ant-test-key-never-shown"  # charged, not the free offline
    settings.SITE_DAILY_SPEND_LIMIT = None


def lesson():
    return catalogue().get("messages-api")


def signed_in_session() -> SessionStore:
    session = SessionStore()
    session.create()
    return session


def questions_from(names: list[str], *, conversation: bool = True) -> list[Question]:
    """One question from each new learner, in a conversation of their own when `conversation`."""
    asked = []
    for name in names:
        user = get_user_model().objects.create_user(username=name)
        current = (
            Conversation.objects.create(user=user, lesson_slug=lesson().slug)
            if conversation
            else None
        )
        text = f"What is max_tokens, {name}?"
        asked.append(Question(current, lesson(), signed_in_session(), text, f"client-{name}", user))
    return asked


def statements_to_start(questions: list[Question]) -> int:
    with CaptureQueriesContext(connection) as queries:
        outcomes = start_together(questions, ())
    assert all(isinstance(outcome, Turn) for outcome in outcomes), outcomes
    return len(queries)


def test_ten_questions_start_in_as_many_statements_as_one():
    start_together(questions_from(["warmup"]), ())  # the lesson's prompt version is saved once
    one = statements_to_start(questions_from(["ada"]))
    ten = statements_to_start(questions_from([f"learner{n}" for n in range(10)]))
    assert ten == one
    assert ten <= 25  # 22 today, savepoints included: see docs/performance.md
    assert Message.objects.filter(status=Message.Status.STREAMING).count() == 12
    assert ApiCharge.objects.count() == 12


def test_first_questions_start_their_conversations_in_as_many_statements_as_one():
    start_together(questions_from(["warmup"], conversation=False), ())
    one = statements_to_start(questions_from(["ada"], conversation=False))
    ten = statements_to_start(questions_from([f"l{n}" for n in range(10)], conversation=False))
    assert ten == one
    assert Conversation.objects.count() == 12


def test_first_questions_in_two_lessons_each_find_their_own_learners_conversation():
    ada, grace = questions_from(["ada", "grace"], conversation=False)
    streaming = catalogue().get("streaming-and-errors")
    # Ada already talks to lesson 4's tutor; Grace has no conversation anywhere yet.
    adas_lesson_four = Conversation.objects.create(user=ada.user, lesson_slug=streaming.slug)
    asked = [
        ada,
        Question(None, streaming, ada.session, "And streaming?", "ada-2", ada.user),
        Question(None, streaming, grace.session, "Why SSE?", "grace-2", grace.user),
        grace,
    ]

    turns = start_together(asked, ())

    where = [(t.conversation.user_id, t.conversation.lesson_slug) for t in turns]
    assert where == [(q.user.pk, q.lesson.slug) for q in asked]
    assert turns[1].conversation.pk == adas_lesson_four.pk
    assert Conversation.objects.count() == 4  # one per learner and lesson, none twice


def test_a_refused_learner_gets_todays_message_and_nothing_starts_for_them(settings):
    settings.TUTOR_BURST_PER_MINUTE = 2
    ada, grace = questions_from(["ada", "grace"])
    ApiCharge.objects.bulk_create(
        [ApiCharge(user=ada.user, source="tutor", attempts=1) for _ in range(2)]
    )
    expected = allowance.remaining(ada.user).refusal.message

    refused, started = start_together([ada, grace], ())

    assert isinstance(refused, allowance.Refused) and refused.message == expected
    assert not ada.conversation.messages.exists()
    assert ApiCharge.objects.filter(user=ada.user).count() == 2
    assert isinstance(started, Turn) and started.charge.pk is not None
    assert [m.role for m in grace.conversation.messages.all()] == ["user", "assistant"]


def test_a_learner_at_the_limit_gets_one_of_two_questions_asked_together(settings):
    settings.TUTOR_BURST_PER_MINUTE = 1
    (first,) = questions_from(["ada"])
    other_lesson = catalogue().get("streaming-and-errors")
    second = Question(
        None, other_lesson, first.session, "And streaming?", "client-ada-2", first.user
    )

    started, refused = start_together([first, second], ())

    assert isinstance(started, Turn)
    assert isinstance(refused, allowance.Refused) and "in a minute" in refused.message
    assert ApiCharge.objects.filter(user=first.user).count() == 1
    assert not Conversation.objects.filter(lesson_slug=other_lesson.slug).exists()


def test_two_questions_in_one_conversation_start_one_reply():
    (first,) = questions_from(["ada"])
    second = Question(
        first.conversation, first.lesson, first.session, "Again?", "client-ada-2", first.user
    )

    started, busy = start_together([first, second], ())

    assert isinstance(started, Turn) and isinstance(busy, Busy)
    assert first.conversation.messages.count() == 2
    assert ApiCharge.objects.count() == 1


def test_a_signed_out_question_starts_nothing():
    ada, grace = questions_from(["ada", "grace"])
    ada.session.delete()

    signed_out, started = start_together([ada, grace], ())

    assert type(signed_out).__name__ == "SignedOut" and isinstance(started, Turn)
    assert not ada.conversation.messages.exists()
