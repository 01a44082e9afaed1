"""Where a learner's progress lives: their account, or their session until they sign up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest

from course.models import LessonCompletion, QuizAnswer

if TYPE_CHECKING:
    from course.lessons import Lesson

SESSION_KEY = "progress"


@dataclass(frozen=True)
class Answer:
    choice: str
    correct: bool


class SessionProgress:
    """Progress of an anonymous visitor, kept in their session."""

    def __init__(self, session: SessionBase) -> None:
        self.session = session

    def _data(self) -> dict:
        data = self.session.get(SESSION_KEY) or {}
        return {
            "completed": list(data.get("completed", [])),
            "answers": dict(data.get("answers", {})),
        }

    def _save(self, data: dict) -> None:
        self.session[SESSION_KEY] = data

    def completed(self) -> set[str]:
        return set(self._data()["completed"])

    def set_complete(self, slug: str, complete: bool) -> None:
        data = self._data()
        done = set(data["completed"])
        done = done | {slug} if complete else done - {slug}
        data["completed"] = sorted(done)
        self._save(data)

    def answers(self, slug: str) -> dict[str, Answer]:
        stored = self._data()["answers"].get(slug, {})
        return {key: Answer(choice, correct) for key, (choice, correct) in stored.items()}

    def all_answers(self) -> dict[str, dict[str, Answer]]:
        return {slug: self.answers(slug) for slug in self._data()["answers"]}

    def record_answer(self, slug: str, question_key: str, choice: str, correct: bool) -> None:
        data = self._data()
        lesson_answers = dict(data["answers"].get(slug, {}))
        lesson_answers[question_key] = [choice, correct]
        data["answers"][slug] = lesson_answers
        self._save(data)

    def clear(self) -> None:
        self.session.pop(SESSION_KEY, None)

    def exercises_passed(self, lesson) -> set[str]:
        return set()  # running the sandbox needs an account, so a visitor has passed none


class AccountProgress:
    """Progress of a signed-in learner, kept in the database."""

    def __init__(self, user: AbstractBaseUser) -> None:
        self.user = user

    def completed(self) -> set[str]:
        return set(
            LessonCompletion.objects.filter(user=self.user).values_list("lesson_slug", flat=True)
        )

    def set_complete(self, slug: str, complete: bool) -> None:
        if complete:
            LessonCompletion.objects.get_or_create(user=self.user, lesson_slug=slug)
        else:
            LessonCompletion.objects.filter(user=self.user, lesson_slug=slug).delete()

    def answers(self, slug: str) -> dict[str, Answer]:
        rows = QuizAnswer.objects.filter(user=self.user, lesson_slug=slug)
        return {row.question_key: Answer(row.choice, row.correct) for row in rows}

    def all_answers(self) -> dict[str, dict[str, Answer]]:
        result: dict[str, dict[str, Answer]] = {}
        for row in QuizAnswer.objects.filter(user=self.user):
            result.setdefault(row.lesson_slug, {})[row.question_key] = Answer(
                row.choice, row.correct
            )
        return result

    def exercises_passed(self, lesson) -> set[str]:
        """Ids of the lesson's current exercises this learner has passed at least once."""
        from course.sandbox.models import Attempt

        passed = Attempt.objects.passed_ids(self.user).get(lesson.slug, set())
        return passed & {exercise.id for exercise in lesson.exercises}

    def record_answer(self, slug: str, question_key: str, choice: str, correct: bool) -> None:
        QuizAnswer.objects.update_or_create(
            user=self.user,
            lesson_slug=slug,
            question_key=question_key,
            defaults={"choice": choice, "correct": correct},
        )


def progress_for(request: HttpRequest) -> SessionProgress | AccountProgress:
    if request.user.is_authenticated:
        return AccountProgress(request.user)
    return SessionProgress(request.session)


def exercises_passed(request_or_user, lesson) -> set[str]:
    """The lesson's exercises a learner has passed, from a request or a user."""
    user = getattr(request_or_user, "user", request_or_user)
    if not user.is_authenticated:
        return set()
    return AccountProgress(user).exercises_passed(lesson)


def carry_over(session: SessionBase, user: AbstractBaseUser) -> None:
    """Move an anonymous visitor's progress into the account they just signed up or logged in to.

    The account's own answers win over the session's, so logging in on a shared computer never
    overwrites what the learner did before.
    """
    anonymous = SessionProgress(session)
    account = AccountProgress(user)
    for slug in anonymous.completed():
        account.set_complete(slug, True)
    existing = account.all_answers()
    for slug, answers in anonymous.all_answers().items():
        for key, answer in answers.items():
            if key not in existing.get(slug, {}):
                account.record_answer(slug, key, answer.choice, answer.correct)
    anonymous.clear()


def quiz_tally(lesson: Lesson, answers: dict[str, Answer]) -> dict[str, int]:
    """How much of a lesson's knowledge check is answered, counting only its current questions."""
    current = [answers[q.key] for q in lesson.quiz if q.key in answers]
    return {
        "answered": len(current),
        "right": sum(a.correct for a in current),
        "total": len(lesson.quiz),
    }


def current_exercise(lesson: Lesson, passed: set[str]):
    """The exercise a learner is on: the first not passed yet, else the first one."""
    exercises = list(lesson.exercises)
    return next((e for e in exercises if e.id not in passed), exercises[0] if exercises else None)


def course_overview(progress: SessionProgress | AccountProgress, lessons: list[Lesson]) -> dict:
    """The home page's progress: a card per lesson, and the course's steps done.

    A step is a lesson marked complete or an exercise passed, so practice counts as progress
    and as having started, even before a lesson is marked complete.
    """
    completed = progress.completed()
    answers = progress.all_answers()
    cards = [
        {
            "lesson": lesson,
            "complete": lesson.slug in completed,
            "right": sum(a.correct for a in answers.get(lesson.slug, {}).values()),
            "answered": len(answers.get(lesson.slug, {}).keys() & {q.key for q in lesson.quiz}),
            "exercises_passed": len(progress.exercises_passed(lesson)),
        }
        for lesson in lessons
    ]
    done = sum(card["complete"] for card in cards)
    passed = sum(card["exercises_passed"] for card in cards)
    exercises = sum(len(lesson.exercises) for lesson in lessons)
    return {
        "cards": cards,
        "done": done,
        "total": len(cards),
        "exercises_passed": passed,
        "exercises_total": exercises,
        "steps_done": done + passed,
        "steps_total": len(cards) + exercises,
        "started": bool(done or passed or any(card["answered"] for card in cards)),
        # Where "Start"/"Continue" leads: the first lesson not yet complete.
        "resume": next((card["lesson"] for card in cards if not card["complete"]), None),
    }
