"""What the lesson page shows: the lesson, its sandboxes, quiz and progress, and the tutor panel.

Its own module so that neither app's views import the other's: the course's views and the
sandbox's form fallback render the page from here.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest

from course.lessons import Catalogue, Lesson, catalogue
from course.progress import current_exercise, progress_for, quiz_tally
from course.sandbox import partials
from tutor.panel import interrupt_dead_replies, panel_context


def lesson_or_404(slug: str) -> tuple[Catalogue, Lesson]:
    lessons = catalogue()
    lesson = lessons.get(slug)
    if lesson is None:
        raise Http404("There is no lesson at this address.")
    return lessons, lesson


def lesson_context(
    request: HttpRequest,
    lessons: Catalogue,
    lesson: Lesson,
    *,
    sandboxes: dict[str, partials.SandboxState] | None = None,
) -> dict:
    """The lesson page; `sandboxes` holds what a sandbox form without JavaScript sent back."""
    progress = progress_for(request)
    answers = progress.answers(lesson.slug)
    passed = progress.exercises_passed(lesson)
    previous, following = lessons.neighbours(lesson)
    html, playground = partials.lesson_html(request, lesson, sandboxes)
    # The tutor's websocket reads the session, so make sure the visitor has one.
    request.session.setdefault("visited", True)
    interrupt_dead_replies(request, lesson)  # before the panel reads them
    return {
        "lesson": lesson,
        "lesson_html": html,
        "playground": playground,
        "exercises_passed": len(passed),
        "current_exercise": current_exercise(lesson, passed),
        "lessons": lessons.lessons,
        "previous": previous,
        "next": following,
        "complete": lesson.slug in progress.completed(),
        "questions": [{"question": q, "answer": answers.get(q.key)} for q in lesson.quiz],
        "quiz": quiz_tally(lesson, answers),
        "tutor": panel_context(request, lesson),
    }
