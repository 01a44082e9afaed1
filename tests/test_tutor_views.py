from __future__ import annotations

from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from tests.users import make_user
from tutor import frames, markup
from tutor.models import Conversation, Message, PromptVersion
from tutor.orphans import interrupt_orphans

pytestmark = pytest.mark.django_db


def reply_for(user, **fields) -> Message:
    conversation = Conversation.objects.current_for(user, "messages-api")
    question = conversation.messages.create(role="user", text="What is a token?")
    prompt = PromptVersion.for_text("messages-api", '[{"text": "persona", "type": "text"}]')
    defaults = {
        "role": "assistant",
        "reply_to": question,
        "text": "A **token** is a piece of text.",
        "status": "complete",
        "model": "claude-haiku-5-5",
        "prompt": prompt,
        "max_tokens": 1024,
        "first_context_id": question.pk,
        "stop_reason": "end_turn",
        "input_tokens": 12,
        "output_tokens": 30,
        "cache_read_input_tokens": 2000,
        "ttft_ms": 420,
        "duration_ms": 1800,
        "request_id": "req_123",
    }
    return conversation.messages.create(**(defaults | fields))


def test_the_lesson_page_shows_the_tutor_panel_to_a_learner(client):
    user = make_user()
    reply_for(user)
    client.force_login(user)
    html = client.get("/lessons/messages-api/").content.decode()
    assert 'ws-connect="/ws/tutor/messages-api/"' in html
    assert (
        'role="log"' in html
        and '<label for="tutor-input" class="visually-hidden">Ask the tutor</label>' in html
    )
    assert ">Send</button>" in html and ">Stop</button>" in html
    assert "What is a token?" in html and "A <strong>token</strong> is a piece of text." in html
    assert "Offline mode" in html  # no key in the test settings
    assert "course staff may read them" in html


def test_the_panel_gives_its_script_the_servers_socket_limits(client, settings):
    client.force_login(make_user())
    html = client.get("/lessons/messages-api/").content.decode()
    limits = f'{{"unauthenticated": {frames.UNAUTHENTICATED}, "max_frame_bytes": {frames.MAX_FRAME_BYTES}}}'
    assert f'<script id="tutor-limits" type="application/json">{limits}</script>' in html
    assert f'data-max="{settings.TUTOR_MAX_MESSAGE_CHARS}"' in html


def test_a_streaming_reply_is_drawn_with_the_body_its_frames_extend():
    reply = reply_for(make_user(), text="Done block.\n\nStill writ", status="streaming")
    html = render_to_string("tutor/_message.html", {"message": reply})
    assert html.count("msg-flow") == 2
    text, done, open_ = (markup.part_id(reply.pk, part) for part in ("text", "done", "open"))
    assert (
        f'<div id="{text}" class="msg-body prose"><div id="{done}" class="msg-flow"><p>Done block.</p></div>'
        in html
    )
    assert f'<div id="{open_}" class="msg-flow"><p>Still writ</p></div></div>' in html


def test_a_new_learner_sees_the_starter_questions(client):
    client.force_login(make_user())
    html = client.get("/lessons/messages-api/").content.decode()
    assert html.count('class="starter" ws-send') >= 3


def test_anonymous_visitors_are_invited_to_sign_in(client):
    html = client.get("/lessons/messages-api/").content.decode()
    assert "Sign up to ask the tutor" in html and "ws-connect" not in html


def test_the_api_call_panel_shows_the_request_usage_verdict_and_cost(client):
    user = make_user()
    reply = reply_for(user)
    client.force_login(user)
    html = client.get(f"/tutor/replies/{reply.pk}/api-call/").content.decode()
    assert "<code>claude-haiku-5-5</code>" in html and "end_turn" in html
    assert "420 ms" in html and "1800 ms" in html and "req_123" in html
    assert "Cache hit: 2,000 input tokens were read from the cache" in html
    # 12 × $0.10 + 2000 × $0.01 + 30 × $0.50, per million tokens
    assert "$0.000036" in html
    assert "&quot;max_tokens&quot;: 1024" in html and "client = anthropic.Anthropic()" in html
    assert "What is a token?" in html


def test_the_api_call_panel_needs_a_login_and_the_owner(client):
    reply = reply_for(make_user())
    assert client.get(f"/tutor/replies/{reply.pk}/api-call/").status_code == 302
    client.force_login(make_user("grace"))
    assert client.get(f"/tutor/replies/{reply.pk}/api-call/").status_code == 404


def test_new_conversation_keeps_the_old_one(client):
    user = make_user()
    reply = reply_for(user)
    old = reply.conversation
    client.force_login(user)
    response = client.post("/lessons/messages-api/tutor/new/")
    assert response.status_code == 302 and response["Location"] == "/lessons/messages-api/#tutor"
    old.refresh_from_db()
    assert old.archived and old.messages.count() == 2
    current = Conversation.objects.current_for(user, "messages-api")
    assert current.pk != old.pk and current.messages.count() == 0
    html = client.get("/lessons/messages-api/").content.decode()
    # Out of the log, into the list of past conversations.
    assert f'id="{markup.message_id(reply.pk)}"' not in html
    assert f'href="/tutor/conversations/{old.pk}/">What is a token?</a>' in html


def test_new_conversation_needs_a_post_and_a_real_lesson(client):
    client.force_login(make_user())
    assert client.get("/lessons/messages-api/tutor/new/").status_code == 405
    assert client.post("/lessons/nope/tutor/new/").status_code == 404


def test_replies_left_streaming_by_a_dead_process_become_interrupted(client, settings):
    user = make_user()
    stale = reply_for(user, status="streaming", text="half an ans")
    Message.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    fresh = reply_for(user, status="streaming")
    assert interrupt_orphans() == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, stale.text, fresh.status) == ("interrupted", "half an ans", "streaming")
    client.force_login(user)
    assert "This reply was interrupted" in client.get("/lessons/messages-api/").content.decode()
