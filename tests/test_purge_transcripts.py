from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.users import make_user
from tutor.models import Conversation, Feedback, Message, PromptVersion

pytestmark = pytest.mark.django_db


def days_ago(days: float):
    return timezone.now() - timedelta(days=days)


def conversation(user, lesson: str, age_days: float, prompt: PromptVersion | None = None):
    """A conversation with one question and one rated reply, all last active `age_days` ago."""
    chat = Conversation.objects.create(user=user, lesson_slug=lesson, archived=True)
    question = chat.messages.create(role="user", text="Why?")
    reply = chat.messages.create(
        role="assistant", reply_to=question, text="Because.", prompt=prompt
    )
    Feedback.objects.create(message=reply, rating="up")
    chat.messages.update(created_at=days_ago(age_days))
    Conversation.objects.filter(pk=chat.pk).update(updated_at=days_ago(age_days))
    return chat


def prompt(text: str, age_days: float) -> PromptVersion:
    version = PromptVersion.for_text("messages-api", text)
    PromptVersion.objects.filter(pk=version.pk).update(created_at=days_ago(age_days))
    return version


def purge(*args: str) -> str:
    out = StringIO()
    call_command("purge_transcripts", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def learner():
    return make_user()


def test_it_deletes_exactly_the_conversations_past_the_retention_period(learner, settings):
    settings.TUTOR_RETENTION_DAYS = 180
    old = conversation(learner, "messages-api", age_days=181)
    recent = conversation(learner, "streaming-and-errors", age_days=179)
    revived = conversation(learner, "prompt-caching", age_days=400)
    revived.messages.create(role="user", text="Back again")  # created now; updated_at stays old
    output = purge()
    assert set(Conversation.objects.values_list("pk", flat=True)) == {recent.pk, revived.pk}
    assert not Message.objects.filter(conversation_id=old.pk).exists()
    assert Feedback.objects.count() == 2
    cutoff = timezone.localdate() - timedelta(days=180)
    assert f"Deleted 1 conversation (2 messages) last active before {cutoff:%Y-%m-%d}." in output


def test_a_dry_run_lists_what_it_would_delete_and_deletes_nothing(learner):
    old = conversation(learner, "messages-api", age_days=200)
    conversation(learner, "prompt-caching", age_days=10)
    output = purge("--dry-run")
    assert Conversation.objects.count() == 2 and Message.objects.count() == 4
    assert f"conversation {old.pk}: ada on messages-api, 2 messages" in output
    assert "Would delete 1 conversation (2 messages)" in output


def test_days_overrides_the_setting(learner, settings):
    settings.TUTOR_RETENTION_DAYS = 180
    conversation(learner, "messages-api", age_days=40)
    kept = conversation(learner, "prompt-caching", age_days=20)
    assert "Deleted 1 conversation (2 messages)" in purge("--days", "30")
    assert list(Conversation.objects.values_list("pk", flat=True)) == [kept.pk]


def test_the_retention_setting_is_read_when_the_command_runs(learner, settings):
    settings.TUTOR_RETENTION_DAYS = 30
    conversation(learner, "messages-api", age_days=40)
    purge()
    assert not Conversation.objects.exists()


@pytest.mark.parametrize("days", ["0", "-5"])
def test_it_refuses_a_period_of_no_days(learner, days):
    conversation(learner, "messages-api", age_days=400)
    with pytest.raises(CommandError, match="at least 1 day"):
        purge("--days", days)
    assert Conversation.objects.count() == 1


def test_it_refuses_a_retention_setting_of_no_days(learner, settings):
    settings.TUTOR_RETENTION_DAYS = 0
    with pytest.raises(CommandError, match="TUTOR_RETENTION_DAYS must be at least 1 day"):
        purge()


def test_it_removes_prompt_versions_no_reply_uses_and_keeps_the_rest(learner):
    only_old = prompt("only used by an expired conversation", age_days=300)
    shared = prompt("used by both", age_days=300)
    orphan = prompt("never used", age_days=300)
    fresh = prompt("saved a moment ago, its reply not yet", age_days=0)
    conversation(learner, "messages-api", age_days=200, prompt=only_old)
    conversation(learner, "prompt-caching", age_days=250, prompt=shared)
    conversation(learner, "streaming-and-errors", age_days=5, prompt=shared)
    assert "Would delete 2 prompt versions" in purge("--dry-run")
    assert PromptVersion.objects.count() == 4
    output = purge()
    assert set(PromptVersion.objects.values_list("pk", flat=True)) == {shared.pk, fresh.pk}
    assert not PromptVersion.objects.filter(pk__in=[only_old.pk, orphan.pk]).exists()
    assert "Deleted 2 conversations (4 messages)" in output
    assert "Deleted 2 prompt versions that no reply uses any more." in output


def test_the_panel_tells_learners_how_long_conversations_are_kept(client, learner, settings):
    settings.TUTOR_RETENTION_DAYS = 90
    client.force_login(learner)
    html = client.get("/lessons/messages-api/").content.decode()
    assert "kept for 90 days after their last message" in html
