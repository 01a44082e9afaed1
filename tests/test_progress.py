from __future__ import annotations

import pytest

from course.lessons import catalogue
from course.models import LessonCompletion, QuizAnswer
from tests.users import make_user

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def answer_first_question(client):
    question = catalogue().get("messages-api").quiz[0]
    client.post("/lessons/messages-api/quiz/1/", {"choice": question.answer}, **HX)
    return question


def test_an_anonymous_learner_can_complete_a_lesson_in_their_session(client):
    response = client.post("/lessons/messages-api/complete/", {"complete": "1"}, **HX)
    assert response.status_code == 200
    assert "You completed this lesson." in response.content.decode()
    assert "1 of 4 lessons complete" in client.get("/").content.decode()
    assert LessonCompletion.objects.count() == 0


def test_completion_can_be_undone(client):
    client.post("/lessons/messages-api/complete/", {"complete": "1"}, **HX)
    response = client.post("/lessons/messages-api/complete/", {"complete": "0"}, **HX)
    assert "Mark as complete" in response.content.decode()
    assert "0 of 4 lessons complete" in client.get("/").content.decode()


def test_completion_without_javascript_redirects(client):
    response = client.post("/lessons/messages-api/complete/", {"complete": "1"})
    assert response.status_code == 302
    assert response["Location"] == "/lessons/messages-api/#completion"


def test_completing_an_unknown_lesson_is_404(client):
    assert client.post("/lessons/nope/complete/", {"complete": "1"}).status_code == 404


def test_a_signed_in_learner_keeps_progress_in_the_database(client):
    user = make_user()
    client.force_login(user)
    client.post("/lessons/streaming-and-errors/complete/", {"complete": "1"}, **HX)
    question = answer_first_question(client)
    assert LessonCompletion.objects.filter(user=user, lesson_slug="streaming-and-errors").exists()
    assert QuizAnswer.objects.get(user=user, question_key=question.key).correct
    html = client.get("/").content.decode()
    assert "1 of 4 lessons complete" in html and "Quiz 1/5 right" in html


def test_progress_is_per_account(client):
    client.force_login(make_user("ada"))
    client.post("/lessons/messages-api/complete/", {"complete": "1"}, **HX)
    client.logout()
    client.force_login(make_user("grace"))
    assert "0 of 4 lessons complete" in client.get("/").content.decode()


def test_sign_up_carries_anonymous_progress_over(client):
    client.post("/lessons/messages-api/complete/", {"complete": "1"}, **HX)
    question = answer_first_question(client)
    response = client.post(
        "/accounts/signup/",
        {
            "username": "newbie",
            "password1": "a long pass phrase",
            "password2": "a long pass phrase",
        },
    )
    assert response.status_code == 302
    assert LessonCompletion.objects.filter(
        user__username="newbie", lesson_slug="messages-api"
    ).exists()
    assert QuizAnswer.objects.get(user__username="newbie", question_key=question.key).correct
    assert "1 of 4 lessons complete" in client.get("/").content.decode()


def test_logging_in_carries_progress_over_without_overwriting_the_account(client):
    user = make_user()
    question = catalogue().get("messages-api").quiz[0]
    QuizAnswer.objects.create(
        user=user,
        lesson_slug="messages-api",
        question_key=question.key,
        choice=question.answer,
        correct=True,
    )
    wrong = next(key for key in question.choices if key != question.answer)
    client.post("/lessons/messages-api/quiz/1/", {"choice": wrong}, **HX)
    client.post("/lessons/models-tokens-and-sampling/complete/", {"complete": "1"}, **HX)
    client.post("/accounts/login/", {"username": "ada", "password": "correct horse battery"})
    assert QuizAnswer.objects.get(user=user, question_key=question.key).correct
    assert LessonCompletion.objects.filter(
        user=user, lesson_slug="models-tokens-and-sampling"
    ).exists()


@pytest.mark.django_db
def test_progress_counts_the_lessons_exercises_a_learner_has_passed(rf) -> None:
    from django.contrib.auth.models import AnonymousUser

    from course.lessons import load_catalogue
    from course.progress import exercises_passed
    from course.sandbox.models import Attempt

    lesson = load_catalogue().get("messages-api")
    ada, grace = make_user("ada"), make_user("grace")
    first, second = (exercise.id for exercise in lesson.exercises[:2])
    for exercise_id, passed in [(first, False), (first, True), (second, False), ("gone", True)]:
        Attempt.objects.create(
            learner=ada,
            lesson_slug=lesson.slug,
            exercise_id=exercise_id,
            request_text="{}",
            mode="simulator",
            status=200,
            passed=passed,
        )
    request = rf.get("/")
    request.user = ada
    assert exercises_passed(request, lesson) == {first}  # an exercise no longer in the lesson: no
    assert exercises_passed(grace, lesson) == set()
    assert exercises_passed(AnonymousUser(), lesson) == set()
