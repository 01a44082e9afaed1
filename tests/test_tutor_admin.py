"""The transcript review queue in the Django admin."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from course.model_catalogue import model_data
from tests.users import make_user
from tutor.models import Conversation, Feedback, Message

pytestmark = pytest.mark.django_db

LIST = "/admin/tutor/conversation/"


def conversation(
    username: str,
    lesson: str = "messages-api",
    *,
    question: str = "What is a token?",
    status: str = "complete",
    rating: str | None = None,
    days_ago: int = 0,
    error_type: str = "",
) -> Conversation:
    user = get_user_model().objects.filter(username=username).first() or make_user(username)
    conv = Conversation.objects.create(user=user, lesson_slug=lesson, archived=True)
    asked = conv.messages.create(role="user", text=question)
    reply = conv.messages.create(
        role="assistant",
        reply_to=asked,
        text="A token is a piece of *text*.",
        status=status,
        model="claude-haiku-5-5",
        input_tokens=100,
        output_tokens=50,
        cache_read_input_tokens=1000,
        cache_creation_input_tokens=0,
        ttft_ms=300,
        duration_ms=900,
        request_id=f"req_{username}",
        error_type=error_type,
    )
    if rating:
        Feedback.objects.create(
            message=reply, rating=rating, reason="gave_answer" if rating == "down" else ""
        )
    when = timezone.now() - timedelta(days=days_ago)
    Conversation.objects.filter(pk=conv.pk).update(updated_at=when, created_at=when)
    return conv


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser(
        "boss", "boss@example.com", "a long pass phrase"
    )
    client.force_login(user)
    return user


def rows(response) -> list[str]:
    return [r for r in response.content.decode().split("<tr") if 'class="action-checkbox"' in r]


def test_the_queue_lists_conversations_with_their_figures(client, staff):
    conversation("ada", rating="down", status="failed", error_type="overloaded_error")
    html = client.get(LIST).content.decode()
    assert "ada" in html and "messages-api" in html
    # total tokens (cache read / write)
    assert '1,150 <span class="quiet">(1,000 / 0)</span>' in html
    # 100 × $0.10 + 1000 × $0.01 + 50 × $0.50 per million tokens
    assert "$0.0000" in html
    assert "failed" in html and "0 up · 1 down" in html and "New" in html


def test_filters_find_last_weeks_thumbs_down(client, staff):
    wanted = conversation("ada", rating="down", days_ago=3)
    conversation("grace", rating="up", days_ago=3)
    conversation("linus", rating="down", days_ago=40)
    conversation("barbara", days_ago=1)
    # Follow the filter links a reviewer clicks: "Thumbs down", then "Past 7 days".
    page = client.get(f"{LIST}?feedback=down").content.decode()
    past_week = re.search(r'href="(\?[^"]*updated_at__gte[^"]*)"[^>]*>Past 7 days', page).group(1)
    response = client.get(LIST + html.unescape(past_week))
    assert response.status_code == 200
    found = rows(response)
    assert len(found) == 1 and f"/{wanted.pk}/change/" in found[0]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("lesson=streaming-and-errors", {"grace"}),
        ("worst=failed", {"ada"}),
        ("worst=ok", {"grace", "linus"}),
        ("feedback=none", {"linus"}),
        ("flagged__exact=1", {"linus"}),
        ("review_state__exact=reviewed", {"grace"}),
    ],
)
def test_each_filter_returns_the_right_conversations(client, staff, query, expected):
    conversation("ada", status="failed", rating="up")
    grace = conversation("grace", lesson="streaming-and-errors", rating="down")
    linus = conversation("linus")
    Conversation.objects.filter(pk=linus.pk).update(flagged=True)
    Conversation.objects.filter(pk=grace.pk).update(review_state="reviewed")
    html = "".join(rows(client.get(f"{LIST}?{query}")))
    names = {name for name in ("ada", "grace", "linus") if f">{name}<" in html}
    assert names == expected


def test_search_looks_in_the_text_of_the_turns(client, staff):
    conversation("ada", question="How does prompt caching work?")
    conversation("grace", question="What is a stop sequence?")
    html = "".join(rows(client.get(f"{LIST}?q=caching")))
    assert ">ada<" in html and ">grace<" not in html


def test_the_transcript_page_is_read_only_and_shows_each_turn(client, staff):
    conv = conversation("ada", rating="down")
    html = client.get(f"{LIST}{conv.pk}/change/").content.decode()
    assert "Review conversation" in html
    assert "What is a token?" in html and "A token is a piece of <em>text</em>." in html
    assert "cost $0.000045" in html and "first token 300 ms" in html and "req_ada" in html
    assert "It gave the answer away" in html
    assert 'name="text"' not in html  # the transcript has no form fields
    assert 'name="review_state"' in html and 'name="reviewer_note"' in html


def test_saving_a_review_changes_only_the_review_fields(client, staff):
    conv = conversation("ada")
    before = Conversation.objects.get(pk=conv.pk).updated_at
    response = client.post(
        f"{LIST}{conv.pk}/change/",
        {
            "review_state": "follow_up",
            "flagged": "on",
            "tags": "gave-answer",
            "reviewer_note": "Check lesson 1",
        },
    )
    assert response.status_code == 302
    conv.refresh_from_db()
    assert (conv.review_state, conv.flagged, conv.tags, conv.reviewed_by) == (
        "follow_up",
        True,
        "gave-answer",
        staff,
    )
    assert conv.updated_at == before  # reviewing is not learner activity
    assert Message.objects.filter(conversation=conv, text="What is a token?").exists()


def test_nobody_adds_or_deletes_transcripts_in_the_admin(client, staff):
    conv = conversation("ada")
    assert client.get(f"{LIST}add/").status_code == 403
    assert client.get(f"{LIST}{conv.pk}/delete/").status_code == 403


def test_mark_reviewed_action(client, staff):
    first, second, third = conversation("ada"), conversation("grace"), conversation("linus")
    response = client.post(
        LIST, {"action": "mark_reviewed", "_selected_action": [first.pk, second.pk]}
    )
    assert response.status_code == 302
    states = dict(Conversation.objects.values_list("pk", "review_state"))
    assert states == {first.pk: "reviewed", second.pk: "reviewed", third.pk: "new"}


def test_json_export_contains_exactly_the_selected_conversations(client, staff, settings):
    settings.ANTHROPIC_API_KEY = "sk-ant-secret-export-key"
    first, _, third = (
        conversation("ada", rating="down"),
        conversation("grace"),
        conversation("linus"),
    )
    response = client.post(
        LIST, {"action": "export_json", "_selected_action": [first.pk, third.pk]}
    )
    assert response["Content-Type"] == "application/json"
    assert "attachment;" in response["Content-Disposition"]
    data = json.loads(response.content)
    assert [c["id"] for c in data["conversations"]] == [first.pk, third.pk]
    reply = data["conversations"][0]["messages"][1]
    assert (
        reply["usage"]["cache_read_input_tokens"] == 1000 and reply["feedback"]["rating"] == "down"
    )
    assert reply["cost_usd"] == pytest.approx(0.000045)
    assert b"sk-ant-secret-export-key" not in response.content


def test_one_hour_cache_writes_cost_the_one_hour_rate_in_the_queue_and_the_export(client, staff):
    haiku = model_data().get("claude-haiku-5-5")
    conv = conversation("ada")
    conv.messages.filter(role="assistant").update(
        input_tokens=0,
        output_tokens=0,
        cache_read_input_tokens=0,
        cache_creation_input_tokens=1_000_000,
        cache_creation_1h_input_tokens=600_000,
    )
    expected = (400_000 * haiku.cache_write_5m + 600_000 * haiku.cache_write_1h) / 1_000_000
    assert haiku.cache_write_1h > haiku.cache_write_5m
    assert f"${expected:.4f}" in client.get(LIST).content.decode()  # summed in SQL
    response = client.post(LIST, {"action": "export_json", "_selected_action": [conv.pk]})
    reply = json.loads(response.content)["conversations"][0]["messages"][1]
    assert reply["cost_usd"] == pytest.approx(float(expected))  # Message.cost


def test_csv_export_is_valid_exact_and_safe_for_spreadsheets(client, staff, settings):
    settings.ANTHROPIC_API_KEY = "sk-ant-secret-export-key"
    evil = conversation("ada", question='=HYPERLINK("http://evil.example")')
    conversation("grace")
    response = client.post(LIST, {"action": "export_csv", "_selected_action": [evil.pk]})
    assert response["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {row["conversation_id"] for row in table} == {str(evil.pk)} and len(table) == 2
    assert table[0]["text"] == '\'=HYPERLINK("http://evil.example")'
    assert table[1]["cache_read_input_tokens"] == "1000"
    assert b"sk-ant-secret-export-key" not in response.content


def test_the_summary_page_reports_each_lesson(client, staff):
    conversation("ada", rating="down", status="failed", error_type="overloaded_error")
    conversation("grace", rating="up")
    conversation("linus", lesson="streaming-and-errors", days_ago=30)
    response = client.get(f"{LIST}summary/")
    html = response.content.decode()
    assert response.status_code == 200
    assert (
        "The Messages API" in html and "Streaming and error handling" not in html
    )  # outside 7 days
    assert "1 / 1 (50%)" in html  # feedback up / down
    assert "91%" in html  # cache reads: 2,000 of 2,200 input tokens
    assert "overloaded_error: 1" in html
    wide = client.get(
        f"{LIST}summary/?start={(timezone.now() - timedelta(days=60)).date()}"
    ).content.decode()
    assert "Streaming and error handling" in wide


def test_the_summary_page_explains_a_bad_period(client, staff):
    response = client.get(f"{LIST}summary/?start=yesterday")
    assert response.status_code == 400
    assert "Dates must look like 2026-11-24." in response.content.decode()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start=9999-12-31&end=9999-12-31", "Dates must fall between 2000-01-01 and 2999-12-31."),
        ("start=0001-01-01", "Dates must fall between 2000-01-01 and 2999-12-31."),
        ("end=0001-01-01", "Dates must fall between"),
        ("start=2026-02-30", "Dates must look like 2026-11-24."),
        ("start=2026-11-24%00", "Dates must look like 2026-11-24."),
        ("start=2026-11-24&end=2026-11-01", "The start date must be on or before the end date."),
    ],
)
def test_the_summary_page_answers_an_extreme_or_broken_period_with_a_message(
    client, staff, query, message
):
    response = client.get(f"{LIST}summary/?{query}")
    assert response.status_code == 400
    assert message in response.content.decode()


@pytest.mark.parametrize("path", [LIST, f"{LIST}summary/", "/admin/tutor/feedback/"])
def test_learners_never_reach_the_review_pages(client, path):
    conversation("ada", question="My private question")
    client.force_login(make_user("grace"))
    response = client.get(path)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert b"My private question" not in response.content


def test_staff_without_permission_is_refused(client):
    conv = conversation("ada", question="My private question")
    user = make_user("intern")
    user.is_staff = True
    user.save()
    client.force_login(user)
    for path in (LIST, f"{LIST}{conv.pk}/change/", f"{LIST}summary/"):
        response = client.get(path)
        assert response.status_code == 403
        assert b"My private question" not in response.content


def test_the_queue_names_lessons_by_their_titles(client, staff):
    conversation("ada", lesson="models-tokens-and-sampling")
    html = client.get(LIST).content.decode()
    assert "3. Models, tokens and sampling" in html
    assert ">models-tokens-and-sampling<" not in html


def test_csv_export_carries_the_feedback_comment_and_reviewer_note(client, staff):
    conv = conversation("ada", rating="down")
    Feedback.objects.filter(message__conversation=conv).update(comment="It just told me")
    Conversation.objects.filter(pk=conv.pk).update(reviewer_note="Prompt gives answers away")
    response = client.post(LIST, {"action": "export_csv", "_selected_action": [conv.pk]})
    question, reply = csv.DictReader(io.StringIO(response.content.decode()))
    assert reply["feedback_comment"] == "It just told me"
    assert question["feedback_comment"] == ""
    assert {question["reviewer_note"], reply["reviewer_note"]} == {"Prompt gives answers away"}


def test_feedback_rows_name_the_learner_and_lesson_and_link_to_the_transcript(client, staff):
    conv = conversation("ada", lesson="streaming-and-errors", rating="down")
    reply = conv.messages.get(role="assistant")
    html = client.get("/admin/tutor/feedback/").content.decode()
    assert "ada" in html and "4. Streaming and error handling" in html
    assert f'href="{LIST}{conv.pk}/change/#turn-{reply.pk}"' in html
    transcript = client.get(f"{LIST}{conv.pk}/change/").content.decode()
    assert f'id="turn-{reply.pk}"' in transcript


def test_the_summary_lists_lessons_in_course_order_with_thousands_separators(client, staff):
    conversation("ada", lesson="streaming-and-errors")
    big = conversation("grace", lesson="messages-api")
    big.messages.filter(role="assistant").update(input_tokens=1_234_567)
    html = client.get(f"{LIST}summary/").content.decode()
    assert html.index("The Messages API") < html.index("Streaming and error handling")
    assert "1,235,567 / 50" in html  # input + cache reads, then output


def test_a_transcript_links_to_the_next_conversation_waiting_for_review(client, staff):
    newest = conversation("ada")
    older = conversation("grace", days_ago=1)
    reviewed = conversation("linus", days_ago=2)
    Conversation.objects.filter(pk=reviewed.pk).update(review_state="reviewed")
    html = client.get(f"{LIST}{newest.pk}/change/").content.decode()
    assert f'href="{LIST}{older.pk}/change/">Next in queue: grace' in html
    # The last one waiting wraps round to the newest.
    html = client.get(f"{LIST}{older.pk}/change/").content.decode()
    assert f'href="{LIST}{newest.pk}/change/">Next in queue: ada' in html
    Conversation.objects.filter(pk=newest.pk).update(review_state="reviewed")
    html = client.get(f"{LIST}{older.pk}/change/").content.decode()
    assert "No other conversation is waiting for review." in html


def test_a_regenerated_reply_stays_in_the_transcript_and_the_export_marked_as_replaced(
    client, staff
):
    conv = conversation("ada")
    first = conv.messages.get(role="assistant")
    Message.objects.filter(pk=first.pk).update(superseded=True)
    conv.messages.create(role="assistant", reply_to=first.reply_to, text="A second try.")
    html = client.get(f"{LIST}{conv.pk}/change/").content.decode()
    assert "A token is a piece of <em>text</em>." in html and "A second try." in html
    assert html.count("regenerated by the learner") == 1
    response = client.post(LIST, {"action": "export_json", "_selected_action": [conv.pk]})
    replies = json.loads(response.content)["conversations"][0]["messages"][1:]
    assert [r["superseded"] for r in replies] == [True, False]
