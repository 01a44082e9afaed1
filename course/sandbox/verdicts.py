"""An exercise run's verdict: graded by its checks, or not graded when no answer came back.

A run this site refused (its own rules and limits, policy.py) or that got no answer at all is
not a try: it is shown as "Not graded", uses no hint and stays out of the attempt statistics.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DatabaseError

from course.sandbox import grader, guards
from course.sandbox.exercises import Exercise, same_json
from course.sandbox.models import HintTrack

logger = logging.getLogger(__name__)


def not_graded_reason(error: dict | None) -> str | None:
    """Why a run cannot be graded: this site refused it (its own rules and limits, see
    policy.py) or no answer came back at all. None when an answer, even an error, is there."""
    if error and (error.get("source") == "sandbox" or error.get("type") == "api_connection_error"):
        return str(error.get("message") or "")
    return None


def answered_by(error: dict | None, answerer: str) -> str:
    """Who answered the run: the site, nobody, or the answerer the run went to."""
    if error and error.get("source") == "sandbox":
        return "site"
    if error and error.get("type") == "api_connection_error":
        return "nobody"
    return answerer


async def grade_run(
    exercise: Exercise,
    learner,
    lesson_slug: str,
    *,
    body_text: str,
    body: Any,
    result: dict[str, Any],
    events: list[dict[str, Any]],
) -> dict[str, Any]:
    """The verdict: passed, or the first failing check with its part, its field and the next
    hint. An error the API answered with leads; running the starter unchanged uses no hint."""
    request = body if isinstance(body, dict) else None
    data = {"request": request, "response": result["response"], "error": result["error"]}
    verdict = grader.grade(exercise.checks, data | {"events": events})
    if verdict.passed:
        return {
            "graded": True,
            "passed": True,
            "message": verdict.message,
            "hint": None,
            "explanation_html": exercise.explanation_html,
        }
    error = result["error"] or {}
    refusal = error if 400 <= error.get("status", 0) < 500 else None
    # The verdict leads with the API's error, so the field that error names comes first.
    field = (grader.error_field(error.get("message", "")) if refusal else None) or verdict.field
    starter = same_json(body_text, exercise.starter)
    shown = None
    if not starter:
        try:  # a long lock costs the learner this run's hint, not the run's answer
            shown = await sync_to_async(guards.impatient(HintTrack.reveal_next))(
                learner, lesson_slug, exercise.id, len(exercise.hints)
            )
        except DatabaseError:
            logger.warning("the next hint could not be revealed", exc_info=True)
    return {
        "graded": True,
        "passed": False,
        "message": verdict.message,
        "api_error": refusal,
        "check": None if verdict.failed_check is None else verdict.failed_check + 1,
        "checks": len(exercise.checks),
        "part": verdict.part,
        "field": field,
        "field_missing": bool(field) and not grader.field_in(request, field),
        "starter": starter,
        "hint": exercise.hints[shown - 1] if shown else None,
        "hints_shown": shown,
    }
