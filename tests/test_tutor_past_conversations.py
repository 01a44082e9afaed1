from __future__ import annotations

import pytest

from tests.users import make_user
from tutor.models import Conversation, Message

pytestmark = pytest.mark.django_db

LESSON = "/lessons/messages-api/"


def conversation_with(user, question: str, archived: bool = True, **reply) -> Conversation:
    conversation = Conversation.objects.create(
        user=user, lesson_slug="messages-api", archived=archived
    )
    asked = conversation.messages.create(role="user", text=question)
    fields = {"text": f"An answer to: {question}", "status": "complete"} | reply
    conversation.messages.create(role="assistant", reply_to=asked, **fields)
    return conversation


def test_the_panel_lists_past_conversations_newest_first_with_date_and_count(client):
    user = make_user()
    older = conversation_with(user, "What is a token?")
    newer = conversation_with(user, "How do I stream?")
    Conversation.objects.filter(pk=older.pk).update(updated_at="2026-11-01T09:30Z")
    Conversation.objects.filter(pk=newer.pk).update(updated_at="2026-11-20T14:05Z")
    Conversation.objects.create(user=user, lesson_slug="messages-api", archived=True)  # empty
    conversation_with(make_user("grace"), "Grace's own question")
    conversation_with(user, "The current one", archived=False)
    client.force_login(user)
    html = client.get(LESSON).content.decode()
    assert "Past conversations (2)" in html
    assert html.index("How do I stream?") < html.index("What is a token?")
    assert "20 Nov 2026, 14:05 UTC · 2 messages" in html and "1 Nov 2026, 09:30" in html
    assert f'href="/tutor/conversations/{older.pk}/"' in html
    assert "Grace&#x27;s own question" not in html and "Grace's own question" not in html


def test_a_learner_with_no_past_conversation_sees_no_list(client):
    user = make_user()
    conversation_with(user, "The current one", archived=False)
    client.force_login(user)
    assert "Past conversations" not in client.get(LESSON).content.decode()


def test_a_past_conversation_reads_without_its_regenerated_replies(client):
    user = make_user()
    past = conversation_with(user, "What is a token?", text="The first try")
    first_try = past.messages.get(role="assistant")
    Message.objects.filter(pk=first_try.pk).update(superseded=True)
    past.messages.create(
        role="assistant", reply_to=first_try.reply_to, text="The **second** try", status="complete"
    )
    client.force_login(user)
    response = client.get(f"/tutor/conversations/{past.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "What is a token?" in html and "The <strong>second</strong> try" in html
    assert "The first try" not in html
    assert f'action="/tutor/conversations/{past.pk}/reopen/"' in html
    assert "Reopen this conversation" in html


def test_another_learners_conversation_is_not_found(client):
    past = conversation_with(make_user(), "Private question")
    assert client.get(f"/tutor/conversations/{past.pk}/").status_code == 302  # log in first
    client.force_login(make_user("grace"))
    assert client.get(f"/tutor/conversations/{past.pk}/").status_code == 404
    assert client.post(f"/tutor/conversations/{past.pk}/reopen/").status_code == 404
    past.refresh_from_db()
    assert past.archived


def test_reopen_makes_it_current_and_archives_the_current_one(client):
    user = make_user()
    past = conversation_with(user, "What is a token?")
    current = conversation_with(user, "How do I stream?", archived=False)
    client.force_login(user)
    response = client.post(f"/tutor/conversations/{past.pk}/reopen/")
    assert response.status_code == 302 and response["Location"] == "/lessons/messages-api/#tutor"
    past.refresh_from_db()
    current.refresh_from_db()
    assert (past.archived, current.archived) == (False, True)
    assert Conversation.objects.current_for(user, "messages-api").pk == past.pk
    html = client.get(LESSON).content.decode()
    assert "Reopened your conversation from" in html
    assert 'role="log"' in html and "An answer to: What is a token?" in html
    assert f'href="/tutor/conversations/{current.pk}/">How do I stream?</a>' in html


def test_reopen_is_refused_while_the_current_conversation_is_answering(client):
    user = make_user()
    past = conversation_with(user, "What is a token?")
    current = conversation_with(user, "Still going", archived=False, status="streaming", text="")
    client.force_login(user)
    response = client.post(f"/tutor/conversations/{past.pk}/reopen/", follow=True)
    assert response.redirect_chain == [(f"/tutor/conversations/{past.pk}/", 302)]
    assert "The tutor is still answering in your current conversation" in response.content.decode()
    past.refresh_from_db()
    current.refresh_from_db()
    assert (past.archived, current.archived) == (True, False)


def test_reopen_needs_a_post(client):
    user = make_user()
    past = conversation_with(user, "What is a token?")
    client.force_login(user)
    assert client.get(f"/tutor/conversations/{past.pk}/reopen/").status_code == 405


def test_reopen_works_when_there_is_no_current_conversation(client):
    user = make_user()
    past = conversation_with(user, "What is a token?")
    client.force_login(user)
    client.post(f"/tutor/conversations/{past.pk}/reopen/")
    assert Conversation.objects.current_for(user, "messages-api").pk == past.pk


def test_a_long_history_lists_the_newest_and_says_so(client, monkeypatch):
    monkeypatch.setattr("tutor.panel.PAST_SHOWN", 2)
    user = make_user()
    for question in ["Oldest", "Middle", "Newest"]:
        conversation_with(user, question)
    client.force_login(user)
    html = client.get(LESSON).content.decode()
    assert "Past conversations (the 2 newest)" in html
    assert ">Newest</a>" in html and ">Middle</a>" in html and ">Oldest</a>" not in html
