"""What the instructor preview shows: a lesson's tutor prompt, its size, its cost, its changes."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from asgiref.sync import async_to_sync
from django.db import DatabaseError

from course import claude
from course.lessons import Lesson, catalogue
from course.model_catalogue import ModelInfo, model_data
from course.sandbox import solutions
from tutor import config
from tutor.models import Message
from tutor.prompt_diff import PromptDiff, prompt_diff
from tutor.prompts import cache_verdict, prompt_tokens, system_blocks, system_json

logger = logging.getLogger(__name__)

COUNT_MESSAGES = [{"role": "user", "content": "Hi"}]  # the endpoint needs one message
MILLION = Decimal(1_000_000)
MICRODOLLAR = Decimal("0.000001")  # the precision of the API call panel's costs


@dataclass(frozen=True)
class TokenCount:
    tokens: int
    counted: bool  # by the API; otherwise estimated
    why_estimate: str = ""


def token_count(lesson: Lesson, model_id: str) -> TokenCount:
    """The API's count when a key is set, else (or when the API fails) the estimate."""
    if not config.online():
        return TokenCount(prompt_tokens(lesson), False, "no API key set")
    try:
        tokens = async_to_sync(claude.count_tokens)(
            model=model_id, system=system_blocks(lesson), messages=COUNT_MESSAGES
        )
    except claude.TutorError as error:
        status = f" (HTTP {error.status} {error.kind})" if error.status else ""
        why = f"the API could not count it: {error.message}{status}"
        return TokenCount(prompt_tokens(lesson), False, why)
    except Exception:
        # A preview must still render; the estimate is good enough to read while we look.
        logger.exception("counting the %s tutor prompt failed", lesson.slug)
        why = "the API count failed unexpectedly (see the server log)"
        return TokenCount(prompt_tokens(lesson), False, why)
    return TokenCount(tokens, True)


@dataclass(frozen=True)
class PrefixCosts:
    write_5m: Decimal
    read: Decimal
    uncached: Decimal
    break_even: str  # one line on when caching starts to pay


def prefix_costs(tokens: int, model: ModelInfo) -> PrefixCosts:
    """US dollars to write, read or skip caching a prefix of `tokens`, from models.yaml."""

    def dollars(price_per_million: Decimal) -> Decimal:
        return (tokens * price_per_million / MILLION).quantize(MICRODOLLAR)

    return PrefixCosts(
        write_5m=dollars(model.cache_write_5m),
        read=dollars(model.cache_read),
        uncached=dollars(model.input),
        break_even=_break_even(model, dollars),
    )


def _break_even(model: ModelInfo, dollars: Callable[[Decimal], Decimal]) -> str:
    # One write then n - 1 reads beats n uncached sends once n > (write - read) / (input - read).
    saving = model.input - model.cache_read
    if saving <= 0:
        return "Break-even: never; a cache read costs this model as much as uncached input."
    n = int((model.cache_write_5m - model.cache_read) / saving) + 1
    reads = "1 read" if n == 2 else f"{n - 1} reads"
    cached = dollars(model.cache_write_5m + (n - 1) * model.cache_read)
    write_x = (model.cache_write_5m / model.input).normalize()
    read_x = (model.cache_read / model.input).normalize()
    return (
        f"Break-even: a write costs {write_x:f}× the input price and a read {read_x:f}×, so once "
        f"{n} questions arrive less than 5 minutes apart, one write plus {reads} (${cached}) "
        f"cost less than {n} uncached sends (${dollars(n * model.input)})."
    )


def price(per_million: Decimal) -> str:
    """A price as lessons/models.yaml means it: $0.10, $0.125, $5.00 per million tokens."""
    places = max(2, -per_million.normalize().as_tuple().exponent)
    return f"${per_million:.{places}f}"


def cost_rows(costs: PrefixCosts, model: ModelInfo) -> list[tuple[str, Decimal, str]]:
    return [
        ("One cache write (5-minute lifetime)", costs.write_5m, price(model.cache_write_5m)),
        ("One cache read", costs.read, price(model.cache_read)),
        ("Sent uncached", costs.uncached, price(model.input)),
    ]


def last_use(lesson_slug: str) -> Message | None:
    """The newest reply of this lesson's conversations that recorded the prompt it sent."""
    return (
        Message.objects.filter(
            role=Message.Role.ASSISTANT,
            conversation__lesson_slug=lesson_slug,
            prompt__isnull=False,
        )
        .select_related("prompt")
        .order_by("-created_at", "-pk")
        .first()
    )


@dataclass(frozen=True)
class PromptChange:
    last_used: datetime | None  # None: no conversation has used this lesson's tutor yet
    diff: PromptDiff | None = None  # None: the prompt is byte for byte what was last sent

    @property
    def changed(self) -> bool:
        return self.diff is not None


def prompt_change(lesson_slug: str, blocks: list[dict]) -> PromptChange:
    reply = last_use(lesson_slug)
    if reply is None:
        return PromptChange(None)
    if reply.prompt.text == system_json(blocks):
        return PromptChange(reply.created_at)
    return PromptChange(reply.created_at, prompt_diff(json.loads(reply.prompt.text), blocks))


def preview(lesson: Lesson) -> dict:
    model_id = config.model_id()
    model = model_data().get(model_id)
    blocks = system_blocks(lesson)
    count = token_count(lesson, model_id)
    cacheable, why = cache_verdict(count.tokens, model)
    costs = prefix_costs(count.tokens, model) if model else None
    problems = [p for p in catalogue().problems if p.path == lesson.path]
    return {
        "lesson": lesson,
        "blocks": [
            {
                "text": block["text"],
                "cache_control": json.dumps(block["cache_control"])
                if "cache_control" in block
                else "",
            }
            for block in blocks
        ],
        "model_id": model_id,
        "model": model,
        "count": count,
        "cacheable": cacheable,
        "why": why,
        "costs": costs,
        "cost_rows": cost_rows(costs, model) if costs else [],
        "change": prompt_change(lesson.slug, blocks),
        "exercises": [solutions.review(exercise, problems) for exercise in lesson.exercises],
        "problems": problems,
    }


def overview(lessons: tuple[Lesson, ...]) -> dict:
    """Every lesson at a glance: estimates only, so the index makes no API calls."""
    model_id = config.model_id()
    model = model_data().get(model_id)
    rows = []
    for lesson in lessons:
        tokens = prompt_tokens(lesson)
        cacheable, why = cache_verdict(tokens, model)
        change = prompt_change(lesson.slug, system_blocks(lesson))
        rows.append(
            {
                "lesson": lesson,
                "tokens": tokens,
                "cacheable": cacheable,
                "why": why,
                "change": change,
            }
        )
    return {"rows": rows, "model_id": model_id, "model": model}


def _per_model(tokens: int) -> str:
    """Which usable models could cache a prefix of `tokens` (one count stands in for all)."""
    verdicts: dict[bool | None, list[str]] = {True: [], False: [], None: []}
    for model in model_data().models:
        if model.usable:
            verdicts[cache_verdict(tokens, model)[0]].append(model.id)
    if verdicts[False]:
        parts = [f"too short to cache on {', '.join(verdicts[False])}"]
    else:
        parts = [f"cacheable on all {len(verdicts[True])} models with a published minimum"]
    if verdicts[None]:
        parts.append(f"unknown for {', '.join(verdicts[None])} (no published minimum)")
    return "; ".join(parts)


def _change_line(lesson: Lesson) -> str:
    try:
        change = prompt_change(lesson.slug, system_blocks(lesson))
    except DatabaseError:
        return "prompt history unknown: the database is not set up (run migrate)"
    if change.last_used is None:
        return "no conversation has used this tutor yet"
    when = f"{change.last_used:%Y-%m-%d %H:%M} UTC"
    if change.changed:
        return (
            f"prompt CHANGED since the last conversation ({when}): the next question writes "
            "a new cache entry"
        )
    return f"prompt unchanged since the last conversation ({when})"


def lesson_report(lesson: Lesson) -> list[str]:
    """Lines for `check_lessons`: what this lesson does to the tutor's cached prompt."""
    if not lesson.tutor.enabled:
        return ["tutor: switched off for this lesson (tutor.enabled: false)"]
    model_id = config.model_id()
    count = token_count(lesson, model_id)
    how = (
        f"counted by the API for {model_id}" if count.counted else f"estimate: {count.why_estimate}"
    )
    cacheable, why = cache_verdict(count.tokens, model_data().get(model_id))
    mark = {True: "cacheable", False: "NOT cacheable", None: "cacheability unknown"}[cacheable]
    if cacheable is False:
        logger.warning("lesson %s: tutor prompt %s", lesson.slug, why)
    return [
        f"tutor: {lesson.tutor.mode} mode, cached prompt {count.tokens:,} tokens ({how})",
        f"tutor: {mark} with {model_id}: {why}",
        f"tutor: {_per_model(count.tokens)}",
        f"tutor: {_change_line(lesson)}",
    ]
