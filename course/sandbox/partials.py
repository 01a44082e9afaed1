"""What the lesson page needs to draw its sandboxes, and the result of a run as HTML fragments."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe
from pygments import highlight as highlight_code
from pygments.formatters import HtmlFormatter
from pygments.lexers import JsonLexer, get_lexer_by_name

from course import allowance, claude, progress
from course.allowance import Allowance
from course.lessons import Lesson
from course.sandbox import runner
from course.sandbox.exercises import Exercise
from course.sandbox.models import Attempt, HintTrack
from course.sandbox.validator import error_body

TEMPLATE = "sandbox/_sandbox.html"
PLAYGROUND = "playground"
# Where each exercise block stood, the lesson HTML holds this element (see exercises.py).
SLOT_RE = re.compile(r'<div class="exercise-slot" data-exercise="([a-z0-9-]+)"></div>')
FAULTS = (
    ("", "None: run normally"),
    ("429", "429 rate_limit_error, with retry-after"),
    ("529", "529 overloaded_error"),
    ("500", "500 api_error"),
    ("stream_error", "An error event mid-stream"),
)
CACHE_LABELS = {
    "write": "Written to the cache",
    "read": "Read from the cache",
    "read+write": "Read, then written further",
    "none": "Not cached",
}
ANSWERED_BY = {
    "site": "This site, which refused it",
    "site-api": "This site, by the API's rules",  # live: not sent to Claude
    "simulator": "The simulator",
    "fault": "The simulator (failure on purpose)",
    "claude": "Claude (live)",
    "nobody": "No one: no answer came back",
}
HINTS_SESSION_KEY = "sandbox-hints"  # a visitor's hints, until they sign in
_FORMATTER = HtmlFormatter(nowrap=True)


@dataclass
class SandboxState:
    """What a learner sent with the no-JavaScript form, drawn back into their sandbox."""

    body: str
    model: str = ""
    fault: str = ""
    result: dict | None = None
    code: dict | None = None
    notice: str = ""
    signin_needed: bool = False
    json_error: str = ""
    events: list[dict] = field(default_factory=list)


def anchor(exercise: Exercise | None) -> str:
    return f"exercise-{exercise.id}" if exercise else "sandbox"


def playground_starter() -> str:
    body = {
        "model": runner.allowed_models()[0]["id"],
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "Hello, Claude. What can you help me with?"}],
    }
    return json.dumps(body, indent=2) + "\n"


def starter(exercise: Exercise | None) -> str:
    return exercise.starter if exercise else playground_starter()


def _body_model(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return ""
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else ""


def highlight(code: str, language: str) -> SafeString:
    """Code as the lesson's own code blocks show it (Pygments escapes every token)."""
    return mark_safe(highlight_code(code, get_lexer_by_name(language), _FORMATTER))  # noqa: S308


def highlight_json(value: Any) -> SafeString:
    # Pygments escapes every token, so the API's (or the model's) text cannot inject markup.
    return mark_safe(
        highlight_code(json.dumps(value, indent=2, ensure_ascii=False), JsonLexer(), _FORMATTER)
    )  # noqa: S308


def event_view(item: dict) -> dict:
    """One streamed event as the timeline shows it: its name, when it arrived, what it carried."""
    name = str(item.get("event", ""))
    data = item.get("data") or {}
    summary = ""
    if name == "message_start":
        message = data.get("message") or {}
        tokens = (message.get("usage") or {}).get("input_tokens", 0)
        summary = f"{message.get('id', '')} · {tokens} input tokens"
    elif name == "content_block_start":
        summary = (
            f"block {data.get('index', 0)}: {(data.get('content_block') or {}).get('type', '')}"
        )
    elif name == "content_block_delta":
        delta = data.get("delta") or {}
        summary = delta.get("text") or delta.get("partial_json") or delta.get("thinking") or ""
        summary = json.dumps(summary, ensure_ascii=False)
    elif name == "content_block_stop":
        summary = f"block {data.get('index', 0)}"
    elif name == "message_delta":
        delta = data.get("delta") or {}
        usage = data.get("usage") or {}
        tokens = usage.get("output_tokens", 0)
        summary = f"stop_reason {delta.get('stop_reason')} · {tokens} output tokens"
    elif name == "error":
        error = data.get("error") or {}
        summary = f"{error.get('type', '')}: {error.get('message', '')}"
    kind = (
        name
        if name in {"message_start", "message_delta", "message_stop", "error", "ping"}
        else "block"
    )
    return {
        "event": name,
        "ms": item.get("ms", 0),
        "summary": summary,
        "kind_class": kind.replace("_", "-"),
    }


def result_view(result: dict) -> dict:
    body = result.get("response")
    error = result.get("error")
    if error:
        keep = {k: v for k, v in error.items() if k not in ("status", "source")}
        body = error_body(keep)
    who = result.get("answered_by") or ("claude" if result.get("mode") == "live" else "simulator")
    if who == "site" and not (error or {}).get("source"):
        who = "site-api"  # live: the API's rules, checked here before any call
    return result | {
        "body_html": highlight_json(body) if body is not None else "",
        "cache_label": CACHE_LABELS.get(str(result.get("cache")), str(result.get("cache") or "")),
        "diagnosis": claude.diagnosis((result.get("response") or {}).get("diagnostics")),
        "answered_by_label": ANSWERED_BY.get(who, who),
    }


def render_event(item: dict) -> str:
    return render_to_string(f"{TEMPLATE}#event", {"event": event_view(item)})


def render_result(
    result: dict, request: HttpRequest, lesson: Lesson, exercise: Exercise | None
) -> dict[str, str]:
    """The result, the verdict and (after a hint) the hints regions, as sandbox.js swaps them."""
    view = result_view(result)
    verdict = result.get("verdict") or {}
    context = {"result": view, "verdict": verdict, "notice": notice_for(result)}
    html = {
        "result": render_to_string(f"{TEMPLATE}#result", {"result": view}),
        "verdict": render_to_string(f"{TEMPLATE}#verdict", context | {"anchor": anchor(exercise)}),
    }
    if exercise is not None and verdict.get("hints_shown"):
        html["hints"] = render_hints(request, lesson, exercise, verdict["hints_shown"])
    return html


def render_hints(request: HttpRequest, lesson: Lesson, exercise: Exercise, shown: int) -> str:
    """The revealed hints, and the hint button (out of band) that says if one is left."""
    sandbox = {"exercise": exercise, "anchor": anchor(exercise), "hints_shown": shown}
    context = {"sandbox": sandbox, "lesson": lesson, "oob": True}
    return render_to_string(f"{TEMPLATE}#hints", context, request=request)


def hints_shown(request: HttpRequest, lesson: Lesson) -> dict[str, int]:
    """How many hints of each exercise in the lesson this learner (or visitor) has seen."""
    if request.user.is_authenticated:
        return HintTrack.objects.shown(request.user, lesson.slug)
    saved = request.session.get(HINTS_SESSION_KEY, {})
    prefix = f"{lesson.slug}/"
    return {key.removeprefix(prefix): n for key, n in saved.items() if key.startswith(prefix)}


def reveal_hint(request: HttpRequest, lesson: Lesson, exercise: Exercise) -> int:
    """Show one more hint (learners keep the count in the database, visitors in the session)."""
    total = len(exercise.hints)
    if request.user.is_authenticated:
        return HintTrack.reveal_next(request.user, lesson.slug, exercise.id, total)
    saved = dict(request.session.get(HINTS_SESSION_KEY, {}))
    key = f"{lesson.slug}/{exercise.id}"
    saved[key] = min(saved.get(key, 0) + 1, total)
    request.session[HINTS_SESSION_KEY] = saved
    return saved[key]


def notice_for(result: dict) -> str:
    """What the status region says after a run that has no verdict (the free-form sandbox)."""
    if result.get("error"):
        error = result["error"]
        if error.get("source") == "sandbox":
            return f"Refused by this site, never sent: {result.get('status')} {error.get('type')}."
        return f"Finished with an error: {result.get('status')} {error.get('type', '')}."
    stop = (result.get("response") or {}).get("stop_reason")
    return f"Finished: {result.get('status')}, stop reason {stop}." if stop else "Finished."


def _allowance(user) -> Allowance | None:
    """What is left of the learner's daily allowance; only live runs spend it."""
    if runner.mode() != "live" or not user.is_authenticated:
        return None
    return allowance.remaining(user)


def render_allowance(request: HttpRequest) -> str:
    context = {"allowance": _allowance(request.user)}
    return render_to_string(f"{TEMPLATE}#allowance", context, request=request)


def render_score(request: HttpRequest, lesson: Lesson) -> str:
    context = {
        "lesson": lesson,
        "exercises_passed": len(progress.exercises_passed(request, lesson)),
    }
    return render_to_string("sandbox/_score.html", context, request=request)


def _latest_bodies(user, lesson: Lesson) -> dict[str, str]:
    """Each sandbox's last request, so a learner without JavaScript finds their work again."""
    if not user.is_authenticated:
        return {}
    latest: dict[str, str] = {}
    rows = Attempt.objects.of(user).filter(lesson_slug=lesson.slug).order_by("-created_at")
    for exercise_id, body in rows.values_list("exercise_id", "request_text")[:200]:
        latest.setdefault(exercise_id, body)
    return latest


def sandbox_context(
    request: HttpRequest,
    lesson: Lesson,
    exercise: Exercise | None,
    *,
    state: SandboxState | None,
    passed: set[str],
    latest: dict[str, str],
    hints: dict[str, int],
) -> dict:
    key = exercise.id if exercise else ""
    first = starter(exercise)
    body = state.body if state else latest.get(key, first)
    allowed = runner.allowed_models()
    model = state.model if state else _body_model(body)
    if model not in {m["id"] for m in allowed}:
        model = ""
    fault = state.fault if state else ((exercise.fault or "") if exercise else "")
    sandbox = {
        "exercise": exercise,
        "anchor": anchor(exercise),
        "starter": first,
        "starter_id": f"{anchor(exercise)}-starter",
        "body": body,
        "rows": min(max(body.count("\n") + 2, 8), 24),
        "models": allowed,
        "model": model,
        "faults": FAULTS,
        "fault": str(fault),
        "hints_shown": hints.get(key, 0),
        "passed": key in passed,
        "mode": runner.mode(),
        "events": [event_view(e) for e in state.events] if state else [],
        "result": result_view(state.result) if state and state.result else None,
        "signin_needed": bool(state and state.signin_needed),
        "json_error": state.json_error if state else "",
    }
    result = state.result if state else None
    return {
        "sandbox": sandbox,
        "lesson": lesson,
        "result": sandbox["result"],
        "verdict": (result or {}).get("verdict"),
        "anchor": sandbox["anchor"],
        "allowance": _allowance(request.user),
        "notice": (state.notice if state else "") or (notice_for(result) if result else ""),
        "code": state.code if state else None,
    }


def lesson_html(
    request: HttpRequest, lesson: Lesson, states: dict[str, SandboxState] | None = None
) -> tuple[SafeString, SafeString]:
    """The lesson's HTML with a sandbox in each exercise slot, and the free-form sandbox."""
    states = states or {}
    passed = progress.exercises_passed(request, lesson)
    latest = _latest_bodies(request.user, lesson)
    hints = hints_shown(request, lesson)
    exercises = {exercise.id: exercise for exercise in lesson.exercises}

    def draw(exercise: Exercise | None) -> str:
        key = exercise.id if exercise else ""
        context = sandbox_context(
            request,
            lesson,
            exercise,
            state=states.get(key),
            passed=passed,
            latest=latest,
            hints=hints,
        )
        return render_to_string(TEMPLATE, context, request=request)

    def replace(match: re.Match) -> str:
        exercise = exercises.get(match.group(1))
        return draw(exercise) if exercise else ""

    html = SLOT_RE.sub(replace, lesson.html)
    return mark_safe(html), mark_safe(draw(None))  # noqa: S308
