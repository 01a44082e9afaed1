from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from tests import tutor_client
from tests.users import make_user
from tutor import fragments
from tutor.markup import FINAL
from tutor.models import Conversation, Feedback, Message

pytestmark = pytest.mark.django_db

LESSON = "messages-api"


def reply_for(user, lesson: str = LESSON, **fields) -> Message:
    conversation = Conversation.objects.current_for(user, lesson)
    question = conversation.messages.create(role="user", text="What is a token?")
    defaults = {"role": "assistant", "reply_to": question, "text": "A piece of text."}
    return conversation.messages.create(**(defaults | fields))


def url(message: Message) -> str:
    return f"/tutor/replies/{message.pk}/feedback/"


def htmx_post(client, message: Message, data: dict):
    return client.post(url(message), data, HTTP_HX_REQUEST="true")


@pytest.fixture
def learner(client):
    user = make_user()
    client.force_login(user)
    return user


def test_a_thumbs_up_is_saved_and_the_widget_comes_back_pressed(client, learner):
    reply = reply_for(learner)
    response = htmx_post(client, reply, {"rating": "up"})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.strip().startswith(f'<div id="feedback-{reply.pk}"')
    assert "<html" not in html
    assert 'aria-label="Helpful"' in html and 'aria-label="Not helpful"' in html
    assert 'value="up" aria-label="Helpful" title="Helpful" aria-pressed="true"' in html
    assert 'value="down" aria-label="Not helpful" title="Not helpful" aria-pressed="false"' in html
    assert 'name="reason"' not in html
    assert Feedback.objects.get(message=reply).rating == "up"


def test_a_thumbs_down_offers_the_optional_reason_form(client, learner):
    reply = reply_for(learner)
    html = htmx_post(client, reply, {"rating": "down"}).content.decode()
    assert 'aria-label="Not helpful" title="Not helpful" aria-pressed="true"' in html
    assert '<details class="feedback-reason" open>' in html
    assert '<input type="hidden" name="rating" value="down">' in html
    for value, label in Feedback.Reason.choices:
        assert f'name="reason" value="{value}"' in html and escape(label) in html
    assert 'name="comment" rows="2" maxlength="1000"' in html
    assert f'hx-post="/tutor/replies/{reply.pk}/feedback/"' in html
    assert f'action="/tutor/replies/{reply.pk}/feedback/"' in html
    assert Feedback.objects.get(message=reply).rating == "down"


def test_the_reason_form_saves_the_reason_and_comment(client, learner):
    reply = reply_for(learner)
    htmx_post(client, reply, {"rating": "down"})
    data = {"rating": "down", "reason": "other", "comment": "It used an old model name."}
    html = htmx_post(client, reply, data).content.decode()
    feedback = Feedback.objects.get(message=reply)
    assert (feedback.rating, feedback.reason, feedback.comment) == (
        "down",
        "other",
        "It used an old model name.",
    )
    assert 'value="other" checked' in html and "It used an old model name.</textarea>" in html
    assert "Change what went wrong" in html and '<details class="feedback-reason">' in html


def test_a_second_thumbs_down_keeps_the_reason_already_given(client, learner):
    reply = reply_for(learner)
    htmx_post(client, reply, {"rating": "down", "reason": "wrong", "comment": ""})
    htmx_post(client, reply, {"rating": "down"})
    assert Feedback.objects.get(message=reply).reason == "wrong"


def test_the_learner_can_change_their_rating(client, learner):
    reply = reply_for(learner)
    htmx_post(client, reply, {"rating": "down", "reason": "gave_answer", "comment": "Too much."})
    html = htmx_post(client, reply, {"rating": "up"}).content.decode()
    assert 'aria-label="Helpful" title="Helpful" aria-pressed="true"' in html
    feedback = Feedback.objects.get(message=reply)
    assert (feedback.rating, feedback.reason, feedback.comment) == ("up", "", "")
    htmx_post(client, reply, {"rating": "down"})
    assert Feedback.objects.get(message=reply).rating == "down"
    assert Feedback.objects.count() == 1


def test_without_javascript_it_redirects_back_to_the_reply(client, learner):
    reply = reply_for(learner)
    response = client.post(url(reply), {"rating": "up"})
    assert response.status_code == 302
    assert response["Location"] == f"/lessons/{LESSON}/#msg-{reply.pk}"
    assert Feedback.objects.get(message=reply).rating == "up"


def test_another_learners_reply_is_404_and_nothing_is_stored(client, learner):
    reply = reply_for(make_user("grace"))
    assert htmx_post(client, reply, {"rating": "down"}).status_code == 404
    assert client.post(url(reply), {"rating": "up"}).status_code == 404
    assert not Feedback.objects.exists()


def test_anonymous_visitors_are_sent_to_log_in(client):
    reply = reply_for(make_user())
    response = client.post(url(reply), {"rating": "up"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert not Feedback.objects.exists()


def test_a_learners_own_message_is_404(client, learner):
    question = reply_for(learner).reply_to
    assert htmx_post(client, question, {"rating": "up"}).status_code == 404
    assert not Feedback.objects.exists()


def test_a_reply_still_streaming_is_404(client, learner):
    reply = reply_for(learner, status="streaming", text="A pie")
    assert htmx_post(client, reply, {"rating": "up"}).status_code == 404
    assert not Feedback.objects.exists()


def test_a_missing_reply_is_404(client, learner):
    assert client.post("/tutor/replies/999999/feedback/", {"rating": "up"}).status_code == 404


def test_only_post_is_allowed(client, learner):
    assert client.get(url(reply_for(learner))).status_code == 405


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "Choose Helpful or Not helpful."),
        ({"rating": "meh"}, "That is not a rating: choose Helpful or Not helpful."),
        (
            {"rating": "down", "reason": "because", "comment": ""},
            "That is not one of the reasons: pick one from the list.",
        ),
        (
            {"rating": "down", "reason": "other", "comment": "x" * 1001},
            "Keep the comment to 1000 characters (it has 1001).",
        ),
    ],
)
def test_a_malformed_post_is_422_with_a_message_and_stores_nothing(client, learner, data, error):
    reply = reply_for(learner)
    response = htmx_post(client, reply, data)
    assert response.status_code == 422
    html = response.content.decode()
    assert f'<p class="form-error" role="alert">{error}</p>' in html
    assert html.strip().startswith(f'<div id="feedback-{reply.pk}"')
    assert not Feedback.objects.exists()


def test_a_refused_post_keeps_the_saved_rating_and_what_was_typed(client, learner):
    reply = reply_for(learner)
    htmx_post(client, reply, {"rating": "down"})
    data = {"rating": "down", "reason": "other", "comment": "y" * 1001}
    html = htmx_post(client, reply, data).content.decode()
    assert 'aria-label="Not helpful" title="Not helpful" aria-pressed="true"' in html
    assert '<details class="feedback-reason" open>' in html and "y" * 1001 in html
    assert Feedback.objects.get(message=reply).comment == ""


def test_without_javascript_a_malformed_post_shows_a_page_with_the_message(client, learner):
    reply = reply_for(learner)
    response = client.post(url(reply), {"rating": "meh"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "Your feedback was not saved" in html and "That is not a rating" in html
    assert f'href="/lessons/{LESSON}/#msg-{reply.pk}"' in html
    assert 'name="csrfmiddlewaretoken"' in html  # the widget's forms work from this page too
    assert not Feedback.objects.exists()


def test_the_lesson_page_shows_the_saved_state(client, learner):
    rated = reply_for(learner)
    Feedback.objects.create(message=rated, rating="down", reason="wrong")
    unrated = rated.conversation.messages.create(role="assistant", text="Another reply.")
    html = client.get(f"/lessons/{LESSON}/").content.decode()
    assert f'id="feedback-{rated.pk}-down" class="thumb"' in html
    assert 'aria-label="Not helpful" title="Not helpful" aria-pressed="true"' in html
    assert 'value="wrong" checked' in html and "Change what went wrong" in html
    assert f'id="feedback-{unrated.pk}"' in html
    assert html.count('aria-pressed="true"') == 1
    assert html.count('name="csrfmiddlewaretoken"') >= 3  # no-JS forms carry the token


def test_the_lesson_page_reads_feedback_without_a_query_per_reply(client, learner):
    def rate_and_count_queries(replies: int) -> int:
        for _ in range(replies):
            Feedback.objects.create(message=reply_for(learner), rating="up")
        with CaptureQueriesContext(connection) as queries:
            client.get(f"/lessons/{LESSON}/")
        return len(queries)

    client.get(f"/lessons/{LESSON}/")  # warm the lesson cache and the session
    assert rate_and_count_queries(1) == rate_and_count_queries(4)


def test_replies_without_text_or_still_streaming_show_no_widget(client, learner):
    streaming = reply_for(learner, status="streaming")
    failed = streaming.conversation.messages.create(
        role="assistant", status="failed", error_message="Overloaded."
    )
    html = client.get(f"/lessons/{LESSON}/").content.decode()
    assert f'id="feedback-{streaming.pk}"' not in html
    assert f'id="feedback-{failed.pk}"' not in html


def test_a_reply_sent_over_the_socket_carries_the_widget_without_a_query(
    learner, django_assert_num_queries
):
    # As the consumer loads it: with its feedback, so rendering in the event loop runs no query.
    reply = Message.objects.select_related("feedback").get(pk=reply_for(learner).pk)
    with django_assert_num_queries(0):
        html = fragments.message(reply, oob="outerHTML")
    assert f'hx-post="/tutor/replies/{reply.pk}/feedback/"' in html
    assert 'aria-pressed="true"' not in html and "csrfmiddlewaretoken" not in html


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("tutor_cleanup")
async def test_a_reply_finished_over_the_socket_arrives_with_the_widget():
    _, cookie = await tutor_client.learner()
    tutor = await tutor_client.connect(cookie)
    await tutor_client.ask(tutor, "What is a token?")
    frames = await tutor_client.until(tutor, FINAL)
    finished = frames[-1]
    assert 'class="reply-feedback"' in finished and 'aria-label="Helpful"' in finished
    assert 'hx-post="/tutor/replies/' in finished
    await tutor.disconnect()
