from __future__ import annotations

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.contrib.auth import login
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.defaults import server_error as django_server_error
from django_htmx.middleware import HtmxDetails

from course.accounts import count_signup, signup_refusal
from course.forms import SignUpForm
from course.lessons import Catalogue, Lesson, catalogue, lesson_file
from course.progress import course_overview, current_exercise, progress_for, quiz_tally
from course.sandbox import widgets
from tutor.panel import interrupt_dead_replies, panel_context


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def lesson_or_404(slug: str) -> tuple[Catalogue, Lesson]:
    lessons = catalogue()
    lesson = lessons.get(slug)
    if lesson is None:
        raise Http404("There is no lesson at this address.")
    return lessons, lesson


@require_GET
def lesson_file_download(request: HttpRequest, name: str) -> FileResponse:
    """A file the lessons' examples read, such as the long handbook lesson 2 caches."""
    path = lesson_file(name)
    if path is None:
        raise Http404("There is no such lesson file.")
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)


@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    overview = course_overview(progress_for(request), catalogue().lessons)
    return render(request, "course/home.html", overview)


def lesson_context(
    request: HttpRequest,
    lessons: Catalogue,
    lesson: Lesson,
    *,
    sandboxes: dict[str, widgets.SandboxState] | None = None,
) -> dict:
    """The lesson page; `sandboxes` holds what a sandbox form without JavaScript sent back."""
    progress = progress_for(request)
    answers = progress.answers(lesson.slug)
    passed = progress.exercises_passed(lesson)
    previous, following = lessons.neighbours(lesson)
    html, playground = widgets.lesson_html(request, lesson, sandboxes)
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


@require_GET
def lesson_detail(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    lessons, lesson = lesson_or_404(slug)
    return render(request, "course/lesson.html", lesson_context(request, lessons, lesson))


@require_POST
def quiz_answer(request: HtmxHttpRequest, slug: str, number: int) -> HttpResponse:
    lessons, lesson = lesson_or_404(slug)
    question = lesson.question(number)
    if question is None:
        raise Http404("This lesson has no such question.")
    choice = request.POST.get("choice", "")
    if choice not in question.choices:
        error = (
            "Pick one of the answers, then check it."
            if not choice
            else "That is not one of the answers."
        )
        item = {"question": question, "answer": None, "error": error}
        if request.htmx:
            return render(
                request, "course/lesson.html#question", {"lesson": lesson, "item": item}, status=422
            )
        context = lesson_context(request, lessons, lesson)
        context["questions"][number - 1] = item
        return render(request, "course/lesson.html", context, status=422)
    progress_for(request).record_answer(slug, question.key, choice, question.is_right(choice))
    if not request.htmx:
        return redirect(f"{reverse('lesson', args=[slug])}#question-{number}")
    answers = progress_for(request).answers(slug)
    item = {"question": question, "answer": answers[question.key]}
    context = {"lesson": lesson, "item": item, "quiz": quiz_tally(lesson, answers)}
    return render(request, "course/lesson.html#question", context)


@require_POST
def lesson_complete(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    _, lesson = lesson_or_404(slug)
    complete = request.POST.get("complete", "1") != "0"
    progress_for(request).set_complete(slug, complete)
    if not request.htmx:
        return redirect(f"{reverse('lesson', args=[slug])}#completion")
    return render(
        request, "course/lesson.html#completion", {"lesson": lesson, "complete": complete}
    )


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = ""
    if request.user.is_authenticated:
        return redirect(next_url or "home")
    form = SignUpForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if refusal := signup_refusal(request):
            form.add_error(None, refusal)
            context = {"form": form, "next": next_url}
            return render(request, "registration/signup.html", context, status=429)
        user = form.save()
        count_signup(request)
        # Named: log-in throttling adds a second backend. Carries the visitor's progress over.
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(next_url or "home")
    return render(request, "registration/signup.html", {"form": form, "next": next_url})


# The 500 page styles itself inline, so that it shows even when static files are what broke; it
# shows no user content, so its policy lets inline style in.
@csp_replace({"style-src": [SELF, UNSAFE_INLINE]})
def server_error(request: HttpRequest) -> HttpResponse:
    return django_server_error(request)
