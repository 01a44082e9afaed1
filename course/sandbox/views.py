"""The sandbox's endpoints: run a request (streamed as NDJSON, or a plain form POST), get code."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve, reverse
from django.views.decorators.http import require_POST

from course.lesson_page import lesson_context, lesson_or_404
from course.lessons import Lesson
from course.sandbox import codegen, guards, parsing, partials, runner
from course.sandbox.exercises import FAULTS, Exercise

NDJSON = "application/x-ndjson"
SIGN_IN = "Sign in to run requests. Your draft stays in the editor."
HINT_NOT_SAVED = "The next hint could not be shown (the database is busy). Ask again in a moment."


def _exercise_or_404(lesson: Lesson, exercise_id: str) -> Exercise | None:
    if not exercise_id:
        return None  # the free-form sandbox at the end of the lesson
    exercise = next((e for e in lesson.exercises if e.id == exercise_id), None)
    if exercise is None:
        raise Http404("This lesson has no such exercise.")
    return exercise


def _fault(request: HttpRequest) -> str | None:
    fault = request.POST.get("fault", "")
    return fault if fault in FAULTS else None


def _run(request: HttpRequest, lesson: Lesson, exercise: Exercise | None, user) -> AsyncIterator:
    return runner.run(
        user=user,
        lesson=lesson,
        exercise=exercise,
        body_text=request.POST.get("body", ""),
        model=request.POST.get("model") or None,
        fault=_fault(request),
    )


async def _ndjson(
    request: HttpRequest, lesson: Lesson, exercise: Exercise | None, items: AsyncIterator[dict]
) -> AsyncIterator[str]:
    # Each line carries the data and its HTML, rendered once here from the widget's partials.
    async for item in items:
        if item["kind"] == "event":
            extra = {"html": partials.render_event(item)}
        else:
            html = await sync_to_async(partials.render_result)(item, request, lesson, exercise)
            extra = {"html": html}
            if (item.get("verdict") or {}).get("passed"):
                extra["score_html"] = await sync_to_async(partials.render_score)(request, lesson)
            if item.get("mode") == "live":
                extra["allowance_html"] = await sync_to_async(partials.render_allowance)(request)
        yield json.dumps(item | extra, default=str) + "\n"


@require_POST
async def sandbox_stream(request: HttpRequest, slug: str) -> HttpResponse:
    user = await request.auser()
    _, lesson = lesson_or_404(slug)
    if not user.is_authenticated:
        login = f"{reverse('login')}?next={reverse('lesson', args=[slug])}"
        error = {"type": "permission_error", "message": SIGN_IN, "login_url": login}
        return JsonResponse({"kind": "refused", "error": error}, status=403)
    exercise = _exercise_or_404(lesson, request.POST.get("exercise", ""))
    response = StreamingHttpResponse(
        _ndjson(request, lesson, exercise, _run(request, lesson, exercise, user)),
        content_type=NDJSON,
    )
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # let a proxy pass each line on as it comes
    return response


async def _collect(items: AsyncIterator[dict]) -> list[dict]:
    return [item async for item in items]


def _state(request: HttpRequest) -> partials.SandboxState:
    return partials.SandboxState(
        body=request.POST.get("body", ""),
        model=request.POST.get("model", ""),
        fault=_fault(request) or "",
    )


def _code(body_text: str) -> dict:
    body, error = parsing.parse_body(body_text)
    if error is not None:
        return {"error": error.message}
    if not isinstance(body, dict):
        return {"error": "The request body must be a JSON object: { ... }."}
    snippets = codegen.snippets(body)
    return {
        "python_html": partials.highlight(snippets.python, "python"),
        "curl_html": partials.highlight(snippets.curl, "bash"),
    }


@require_POST
def sandbox_run(request: HttpRequest, slug: str) -> HttpResponse:
    """The sandbox without JavaScript: every button posts here and gets the lesson page back."""
    lessons, lesson = lesson_or_404(slug)
    exercise = _exercise_or_404(lesson, request.POST.get("exercise", ""))
    state = _state(request)
    action = request.POST.get("action", "run")
    status = 200
    if action == "reset":
        state.body = partials.starter(exercise)  # the hints seen stay seen
    elif action == "hint" and exercise:
        try:  # a long lock gets a sentence within seconds, not a 500 after 20 s
            guards.impatient(partials.reveal_hint)(request, lesson, exercise)
        except DatabaseError:
            state.notice = HINT_NOT_SAVED
    elif action == "code":
        state.code = _code(state.body)
    elif not request.user.is_authenticated:
        state.notice, state.signin_needed, status = SIGN_IN, True, 403
    else:
        items = async_to_sync(_collect)(_run(request, lesson, exercise, request.user))
        state.events = [item for item in items if item["kind"] == "event"]
        state.result = items[-1]
    states = {exercise.id if exercise else "": state}
    context = lesson_context(request, lessons, lesson, sandboxes=states)
    return render(request, "course/lesson.html", context, status=status)


@require_POST
def sandbox_hint(request: HttpRequest, slug: str) -> HttpResponse:
    """ "Show a hint" with htmx: the hints so far plus the next one, counted for the learner."""
    _, lesson = lesson_or_404(slug)
    exercise = _exercise_or_404(lesson, request.POST.get("exercise", ""))
    if exercise is None:
        raise Http404("The free-form sandbox has no hints.")
    shown = partials.reveal_hint(request, lesson, exercise)
    return HttpResponse(partials.render_hints(request, lesson, exercise, shown))


@require_POST
def sandbox_code(request: HttpRequest, slug: str) -> HttpResponse:
    """ "Get code" with htmx: the code region of one sandbox."""
    lesson_or_404(slug)
    return render(
        request, f"{partials.TEMPLATE}#code", {"code": _code(request.POST.get("body", ""))}
    )


def body_limit_middleware(get_response: Callable[[HttpRequest], HttpResponse]):
    """Answer a sandbox POST too big for Django to read in the sandbox's own format (413).

    Django refuses a body over DATA_UPLOAD_MAX_MEMORY_SIZE when the CSRF check first reads
    request.POST, with a bare "Bad Request (400)"; this runs before that check.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        if request.method == "POST":
            try:
                match = resolve(request.path_info)
            except Resolver404:
                return get_response(request)
            if match.url_name in SANDBOX_ENDPOINTS:
                try:
                    request.POST  # noqa: B018 - read it here, where a refusal can be explained
                except (RequestDataTooBig, TooManyFieldsSent):
                    return _too_large(request, match.url_name, match.kwargs["slug"])
        return get_response(request)

    return middleware


SANDBOX_ENDPOINTS = ("sandbox_run", "sandbox_stream", "sandbox_code")


def _too_large(request: HttpRequest, endpoint: str, slug: str) -> HttpResponse:
    message = (
        f"The request is too large: this sandbox accepts request bodies up to "
        f"{settings.SANDBOX_MAX_BODY_BYTES:,} bytes. Nothing was run; shorten the body and "
        "run it again."
    )
    if endpoint == "sandbox_stream":
        error = {"type": "request_too_large", "message": message}
        return JsonResponse({"kind": "refused", "error": error}, status=413)
    if endpoint == "sandbox_code":  # htmx swaps a 422 in (base.html's responseHandling), not 413
        return render(
            request, f"{partials.TEMPLATE}#code", {"code": {"error": message}}, status=422
        )
    context = {"message": message, "lesson_url": reverse("lesson", args=[slug])}
    return render(request, "sandbox/too_large.html", context, status=413)
