"""Run one sandbox request: parse, validate, apply the site's limits, answer, grade, record."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError

from course import claude
from course.model_catalogue import ModelData, cost, dollars, model_data
from course.sandbox import (
    faults,
    guards,
    parsing,
    policy,
    simulator,
    validator,
    verdicts,
)
from course.sandbox.exercises import Exercise
from course.sandbox.models import Attempt
from course.sandbox.validator import ApiError

logger = logging.getLogger(__name__)
NOT_SAVED = "This run could not be saved (the database is busy): it is not in your history."
RATE_KEY = "sandbox-runs:{}:{}"


def mode() -> str:
    """ "live" when runs go to Claude, else "simulator"."""
    if settings.SANDBOX_MODE == "auto":
        return "live" if settings.ANTHROPIC_API_KEY else "simulator"
    return settings.SANDBOX_MODE


def allowed_models() -> list[dict[str, str]]:
    """The models the picker offers (id and name), the default first."""
    data = model_data()
    ids = policy.allowed_models(data)
    default = data.tutor_default if data.tutor_default in ids else ids[0]
    ordered = [default, *(i for i in ids if i != default)]
    return [{"id": i, "name": data.get(i).name} for i in ordered]


class _Run:
    """The state of one run, and the one result dict it ends with."""

    def __init__(self, user, lesson, exercise: Exercise | None, body_text: str) -> None:
        self.user, self.lesson, self.exercise, self.body_text = user, lesson, exercise, body_text
        self.started = time.monotonic()
        self.first_token: float | None = None
        self.body: Any = None
        self.mode = mode()
        self.request_id = simulator.new_id("req_")
        self.events: list[dict[str, Any]] = []
        self.sent = False  # whether the run went upstream (and may have been billed)
        self.notice = ""  # what the learner should know besides the result
        # Who answers: "site" (this site, before any API), "simulator", "fault" or "claude".
        self.answered_by = "site"
        self.pending: int | None = None  # the attempt recorded before a live run went upstream

    def ms(self) -> int:
        return round((time.monotonic() - self.started) * 1000)

    def event(self, event: dict[str, Any]) -> dict[str, Any]:
        if self.first_token is None and event["event"] == "content_block_delta":
            self.first_token = time.monotonic()
        self.events.append(event)
        return {"kind": "event", "event": event["event"], "data": event["data"], "ms": self.ms()}

    def result(
        self, status: int, *, response: dict | None = None, error: dict | None = None
    ) -> dict[str, Any]:
        usage = (response or {}).get("usage") or {}
        ttft = None
        if self.first_token is not None:
            ttft = round((self.first_token - self.started) * 1000)
        elif response is not None and not self.events:
            ttft = self.ms()  # not streamed: the first token arrives with the whole reply
        return {
            "kind": "result",
            "status": status,
            "response": response,
            "error": error,
            "request_id": self.request_id,
            "usage": usage,
            "cache": cache_verdict(usage),
            "cost": dollars(cost(usage, _model_of(self.body))),
            "ttft_ms": ttft,
            "total_ms": self.ms(),
            "mode": self.mode,
            "answered_by": verdicts.answered_by(error, self.answered_by),
            "verdict": self.not_graded(error),
            "attempt_id": None,
            "notice": self.notice,
        }

    def not_graded(self, error: dict | None) -> dict[str, Any] | None:
        """An exercise run's verdict when there is no answer to grade, else None (grade it)."""
        reason = verdicts.not_graded_reason(error)
        if self.exercise is None or reason is None:
            return None
        return {"graded": False, "passed": None, "message": reason, "hint": None}

    def refusal(self, error: ApiError) -> dict[str, Any]:
        return self.result(error.status, error=error.as_error())


def _model_of(body: Any) -> Any:
    return body.get("model") if isinstance(body, dict) else None


def cache_verdict(usage: dict[str, Any]) -> str:
    """ "write", "read", "read+write" or "none", from the usage the API reported."""
    wrote = (usage.get("cache_creation_input_tokens") or 0) > 0
    read = (usage.get("cache_read_input_tokens") or 0) > 0
    return {(True, True): "read+write", (True, False): "write", (False, True): "read"}.get(
        (wrote, read), "none"
    )


async def run(
    *,
    user,
    lesson,
    exercise: Exercise | None,
    body_text: str,
    model: str | None = None,
    fault: str | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Run one request; yield its SSE events as they arrive, then exactly one result dict.

    Every refusal (bad JSON, too big, unknown model, over budget, a run already going) is a
    result with the error, never an exception. `model` fills in a body that names none.
    """
    state = _Run(user, lesson, exercise, body_text)
    ended = False
    try:
        async for item in _run(state, model, fault):
            ended = item["kind"] == "result"
            yield item
    except Exception as error:  # the last resort: every run ends with a result, never a hang
        if isinstance(error, guards.StoreDown | guards.DatabaseBusy):
            logger.warning("sandbox run failed (request %s): %r", state.request_id, error)
        else:
            logger.exception("sandbox run failed (request %s)", state.request_id)
        if not ended:
            yield await _unrecorded(state, guards.outage(error, sent=state.sent))


async def _run(state: _Run, model: str | None, fault: str | None) -> AsyncIterator[dict[str, Any]]:
    if not getattr(state.user, "is_authenticated", False):
        yield state.refusal(
            policy.refused("Sign in to run requests in the sandbox.", 401, "authentication_error")
        )
        return
    size = len(state.body_text.encode("utf-8", "surrogatepass"))
    if error := policy.body_too_large(size) or await _over_limit(state):
        yield state.refusal(error)  # not recorded: storing it is what the limits prevent
        return
    state.body, error = parsing.parse_body(state.body_text)
    if error is None and isinstance(state.body, dict) and model and "model" not in state.body:
        state.body["model"] = model
    if error is None and fault not in (None, "", *faults.FAULTS):
        error = policy.refused(f"Unknown fault {fault!r}.")
    if error is not None:
        if parsing.unstorable_text(state.body_text):
            state.body_text = parsing.storable(state.body_text)
        yield await _finish(state, state.refusal(error))
        return
    async with guards.RunLock(state.user.pk) as held:
        if not held:
            conflict = policy.refused(
                "Another of your runs is still going: wait for it to finish, then run again.",
                409,
                "conflict_error",
            )
            yield state.refusal(conflict)  # not recorded: it never ran
            return
        async for item in _checked_run(state, fault or None):
            yield item


async def _checked_run(state: _Run, fault: str | None) -> AsyncIterator[dict[str, Any]]:
    models = await sync_to_async(model_data)()
    # The API's rules answer as the simulator in that mode; live, they spare Claude the call.
    state.answered_by = "simulator" if state.mode == "simulator" else "site"
    error = _checked(state.body, models)
    if error is not None:
        yield await _finish(state, state.refusal(error))
        return
    streamed = state.body.get("stream") is True
    if fault:
        state.answered_by = "fault"
        async for item in _faulty(state, models, fault, streamed):
            yield item
        return
    if state.mode == "live" and (ceiling := await guards.over_ceiling()):
        state.mode, state.notice = "simulator", ceiling
    if state.mode == "live":
        async for item in _live(state):
            yield item
        return
    store = simulator.DjangoCacheStore(str(state.user.pk))
    # The store may be Redis: keep its round trips off the event loop.
    outcome = await guards.store(
        sync_to_async(simulator.simulate)(state.body, models, store, state.request_id)
    )
    for item in outcome.events:
        await _pace(item)
        yield state.event(item)
    yield await _finish(state, state.result(200, response=outcome.response))


def _checked(body: Any, models: ModelData) -> ApiError | None:
    """The API's verdict on the body, then the site's; a checker that breaks refuses the run."""
    try:
        return validator.validate(body, models) or policy.check(body, models)
    except Exception:
        logger.exception("checking a sandbox request failed")
        return policy.refused(
            "The sandbox could not check this request body (the problem has been logged). "
            "Nothing was sent to Claude: compare each field's type with the API reference."
        )


async def _pace(event: dict[str, Any]) -> None:
    """Let the simulator's stream take a little time, so its timeline reads like the API's."""
    delay = settings.SANDBOX_SIM_DELAY_MS / 1000
    if delay:
        await asyncio.sleep(delay * (6 if event["event"] == "ping" else 1))


async def _faulty(
    state: _Run, models: ModelData, fault: str, streamed: bool
) -> AsyncIterator[dict[str, Any]]:
    if (error := faults.http_error(fault, streamed)) is not None:
        yield await _finish(state, state.refusal(error))
        return
    outcome = simulator.simulate(state.body, models, simulator.MemoryStore(), state.request_id)
    events, stream_error = faults.interrupt(outcome)
    for item in events:
        await _pace(item)
        yield state.event(item)
    yield await _finish(state, state.result(200, error=stream_error))


async def _live(state: _Run) -> AsyncIterator[dict[str, Any]]:
    # The attempt and its charge are recorded before anything goes upstream, or the run is
    # refused. A run whose process dies stays pending; its charge is settled as abandoned.
    try:
        state.pending = await guards.wait(
            guards.own_thread(guards.impatient(Attempt.start))(
                learner=state.user,
                lesson_slug=state.lesson.slug,
                exercise_id=state.exercise.id if state.exercise else "",
                body_text=state.body_text,
                body=state.body,
            )
        )
    except (guards.DatabaseBusy, DatabaseError) as error:
        logger.warning("sandbox run not recorded (request %s): %r", state.request_id, error)
        yield state.refusal(guards.outage(error, sent=False))  # nothing recorded, nothing sent
        return
    charge = await guards.wait(guards.reserve(state.user))
    if isinstance(charge, ApiError):
        yield await _finish(state, state.refusal(charge))
        return
    state.sent = True
    state.answered_by = "claude"
    failed = {
        "type": "api_error",
        "message": "The run failed on the site's side.",
        "status": 502,
        "source": "sandbox",
    }
    done = claude.RawResult(502, None, failed)
    try:
        with charge.active():  # every upstream attempt, the SDK's retries too, counts
            async for kind, item in claude.raw_messages(state.body):
                if kind == "event":
                    yield state.event(item)
                else:
                    done = item
    except Exception:  # a learner gets a result, never a traceback; the log gets the cause
        logger.exception("sandbox live run failed (request %s)", state.request_id)
    finally:
        message = done.message or accumulate(state.events)
        usage = (message or {}).get("usage") or {}
        try:
            await guards.wait(guards.settle(charge, usage, state.events, state.body["model"]))
        except guards.DatabaseBusy:  # its thread goes on, and settles once the lock clears
            logger.warning("sandbox charge %s settles late", charge.pk)
    state.request_id = done.request_id or state.request_id
    if done.error is not None:
        yield await _finish(state, state.result(done.status, error=done.error))
        return
    yield await _finish(state, state.result(200, response=message))


def accumulate(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Build the final message from a stream's events, as the SDK's helpers do."""
    message: dict[str, Any] | None = None
    for event in events:
        data = event["data"]
        if data["type"] == "message_start":
            message = {**data["message"], "content": []}
        elif message is None:
            continue
        elif data["type"] == "content_block_start":
            message["content"].append(dict(data["content_block"]))
        elif data["type"] == "content_block_delta" and data["delta"].get("type") == "text_delta":
            message["content"][data["index"]]["text"] += data["delta"]["text"]
        elif data["type"] == "message_delta":
            message.update(data["delta"])
            message["usage"] = {**message.get("usage", {}), **data.get("usage", {})}
    return message


async def _over_limit(state: _Run) -> ApiError | None:
    """The abuse guard on every run, either mode: runs per learner per minute. (Live runs are
    also charged to the shared allowance, once they pass validation.)"""
    key = RATE_KEY.format(state.user.pk, int(time.time() // 60))
    await guards.store(cache.aadd(key, 0, timeout=90))
    try:
        count = await guards.store(cache.aincr(key))
    except ValueError:  # expired between the two calls
        count = 1
    if count > settings.SANDBOX_RUNS_PER_MINUTE:
        return policy.refused(
            f"You have made {settings.SANDBOX_RUNS_PER_MINUTE} runs this minute; wait a moment "
            "and run again.",
            429,
            "rate_limit_error",
        )
    return None


async def _finish(state: _Run, result: dict[str, Any]) -> dict[str, Any]:
    """Grade the run if it belongs to an exercise and got an answer; record it as an attempt.

    A run the site refused is recorded too (the tutor and a learner without JavaScript find
    the body there), marked so that it never counts as a try.
    """
    refused = verdicts.not_graded_reason(result["error"]) is not None
    if state.exercise is not None and not refused:
        result["verdict"] = await verdicts.grade_run(
            state.exercise,
            state.user,
            state.lesson.slug,
            body_text=state.body_text,
            body=state.body,
            result=result,
            events=state.events,
        )
    try:
        attempt = await guards.wait(
            guards.own_thread(Attempt.record)(
                learner=state.user,
                lesson_slug=state.lesson.slug,
                exercise_id=state.exercise.id if state.exercise else "",
                body_text=state.body_text,
                body=state.body,
                result=result,
                passed=(result["verdict"] or {}).get("passed"),
                refused_by_site=refused,
                pending=state.pending,
            )
        )
    except (guards.DatabaseBusy, DatabaseError):
        logger.exception("sandbox attempt not saved (request %s)", state.request_id)
        result["notice"] = _join(result.get("notice"), NOT_SAVED)
        return result
    result["attempt_id"] = attempt.pk
    return result


async def _unrecorded(state: _Run, error: ApiError) -> dict[str, Any]:
    """The last-resort result: the error, saved if the database takes it within seconds."""
    result = state.refusal(error)
    try:
        return await _finish(state, result)
    except Exception:
        logger.exception("sandbox run not saved (request %s)", state.request_id)
        result["notice"] = _join(result.get("notice"), NOT_SAVED)
        return result


def _join(*notices: str | None) -> str:
    return " ".join(n for n in notices if n)
