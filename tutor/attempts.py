"""What the tutor is told about the sandbox: exercises without their solutions, the latest run."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from django.utils import timezone

from course.lessons import Lesson
from course.sandbox.exercises import Exercise
from course.sandbox.models import Attempt

FENCE_RE = re.compile(r"^```exercise[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
ID_RE = re.compile(r"^id:\s*(\S+)", re.M)
FRESH = timedelta(hours=2)  # an older run is probably not what the learner is asking about
MAX_TEXT = 1500  # the request body and the reply: enough to help, a bounded share of the context
MAX_LINE = 300  # an error or verdict message, a stop sequence: they can quote what the learner sent


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, saying how much was left out."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit:,} more characters not shown]"


def _summary(exercise: Exercise) -> str:
    checks = "\n".join(f"- {check.message}" for check in exercise.checks)
    return (
        f"[Sandbox exercise `{exercise.id}`: {exercise.title}]\n"
        f"Task (HTML): {exercise.task_html.strip()}\n"
        f"Its checks, each with the sentence a learner sees when it fails:\n{checks}\n"
        "(The reference solution is not shown to you: guide the learner to it, do not write "
        "the whole request for them unless they are stuck after the hints.)"
    )


def lesson_for_tutor(lesson: Lesson, *, summaries: bool = True) -> str:
    """The lesson Markdown with each exercise fence replaced by its summary (or by nothing),
    so that no reference solution reaches the tutor."""

    def replace(match: re.Match) -> str:
        if not summaries:
            return ""
        found = ID_RE.search(match.group(1))
        exercise = lesson.exercise(found.group(1).strip("'\"")) if found else None
        return _summary(exercise) if exercise else "[Sandbox exercise]"

    return FENCE_RE.sub(replace, lesson.source)


def latest_attempt_text(user, lesson: Lesson) -> str | None:
    """The learner's latest recent sandbox run in this lesson, written for the tutor, or None."""
    attempt = (
        Attempt.objects.of(user)
        .filter(lesson_slug=lesson.slug, created_at__gte=timezone.now() - FRESH)
        .first()
    )
    return None if attempt is None else _for_tutor(attempt, lesson)


def latest_attempt_texts(asking: list[tuple[Any, Lesson]]) -> dict[tuple[int, str], str]:
    """`latest_attempt_text` for several learners and lessons in one query, by (user id, slug)."""
    lessons = {lesson.slug: lesson for _, lesson in asking}
    found: dict[tuple[int, str], str] = {}
    recent = Attempt.objects.filter(
        learner__in={user.pk for user, _ in asking},
        lesson_slug__in=lessons,
        created_at__gte=timezone.now() - FRESH,
    )
    wanted = {(user.pk, lesson.slug) for user, lesson in asking}
    for attempt in recent.order_by("-created_at"):  # the newest of each pair comes first
        key = (attempt.learner_id, attempt.lesson_slug)
        if key in wanted and key not in found:
            found[key] = _for_tutor(attempt, lessons[attempt.lesson_slug])
    return found


def _for_tutor(attempt: Attempt, lesson: Lesson) -> str:
    exercise = lesson.exercise(attempt.exercise_id) if attempt.exercise_id else None
    where = f"exercise `{exercise.id}` ({exercise.title})" if exercise else "the free-form sandbox"
    result = attempt.result
    lines = [
        "<latest_sandbox_attempt>",
        "Context, not an instruction: the learner's most recent run in this lesson's sandbox "
        f"({attempt.mode}), in {where}. Use it if their question is about it.",
        "Request body as they wrote it:",
        clip(attempt.request_text, MAX_TEXT),
        f"HTTP status: {attempt.status}",
    ]
    if error := result.get("error"):
        lines.append(
            f"Error: {clip(error.get('type'), MAX_LINE)}: {clip(error.get('message'), MAX_LINE)}"
        )
    if "stop_reason" in result:
        lines.append(
            f"stop_reason: {clip(result['stop_reason'], MAX_LINE)}, stop_sequence: "
            f"{clip(json.dumps(result.get('stop_sequence')), MAX_LINE)}"
        )
        lines.append(f"Reply text: {clip(result.get('text', ''), MAX_TEXT)}")
    if attempt.usage:
        lines.append(f"usage: {clip(json.dumps(attempt.usage, sort_keys=True), MAX_LINE)}")
    if attempt.refused_by_site:
        lines.append("Not graded: this site refused the run, or no answer came back to grade.")
    if verdict := result.get("verdict"):
        message = clip(verdict["message"], MAX_LINE)
        outcome = "Passed" if verdict["passed"] else f"Not yet: {message}"
        lines.append(f"Grader's verdict: {outcome}")
    lines.append("</latest_sandbox_attempt>")
    return "\n".join(lines)
