"""Run one sandbox request: parse, validate, apply the site's limits, answer, grade, record."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError

from course import claude, pricing
from course.models_data import ModelData, model_data
from course.sandbox import allowance_hookup, faults, grader, policy, simulator, validator
from course.sandbox.exercises import Exercise
from course.sandbox.models import Attempt
from course.sandbox.validator import ApiError

logger = logging.getLogger(__name__)
LOCK_KEY = "sandbox-running:{}"
LOCK_SECONDS = 15  # a run's lock outlives its process by at most this long (see RunLock)
NOT_SAVED = "This run could not be saved (the database is busy): it is not in your history."
T = TypeVar("T")
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
            "cost": pricing.dollars(pricing.cost(usage, _model_of(self.body))),
            "ttft_ms": ttft,
            "total_ms": self.ms(),
            "mode": self.mode,
            "verdict": None,
            "attempt_id": None,
            "notice": self.notice,
        }

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


MAX_DEPTH = 64  # deeper than any request the API takes, shallow enough for every reader


class _Unstorable(ValueError):
    """A value JSON allows but the API and the database do not: NaN, Infinity."""


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise _Unstorable(f"the number {text[:40]} is too large to be a JSON number the API reads")
    return number


def _constant(name: str) -> float:
    raise _Unstorable(f"{name} is not valid JSON (JSON has no NaN or Infinity)")


def parse_body(text: str) -> tuple[Any, ApiError | None]:
    """The learner's JSON, or the error saying why it cannot be run (nor stored).

    Total: whatever the bytes, this returns. It refuses what JSON allows but the API, or the
    database the attempt is saved in, does not: NaN and Infinity, lone surrogates, NUL (which
    PostgreSQL refuses in text and jsonb), nesting deeper than any request needs.
    """
    if problem := _unstorable_text(text):
        return None, policy.refused(f"The request body cannot be sent: {problem}.")
    try:
        body = json.loads(text, parse_constant=_constant, parse_float=_finite)
    except json.JSONDecodeError as error:
        return None, policy.refused(
            f"The request body is not valid JSON: {error.msg} at line {error.lineno}, "
            f"column {error.colno}."
        )
    except _Unstorable as error:
        return None, policy.refused(f"The request body cannot be sent: {error}.")
    except RecursionError:
        return None, _too_deep()
    except ValueError:  # an integer of thousands of digits
        return None, policy.refused(
            "The request body cannot be sent: a number in it has too many digits."
        )
    if problem := _unstorable_value(body):
        return None, problem
    return body, None


def _unstorable_text(text: str) -> str:
    if "\x00" in text:
        return "it contains a NUL character (U+0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return f"it contains a lone surrogate at character {error.start + 1}, which is not text"
    return ""


def _too_deep() -> ApiError:
    return policy.refused(
        f"The request body cannot be sent: it nests more than {MAX_DEPTH} levels deep."
    )


def _unstorable_value(body: Any) -> ApiError | None:
    """Walk the parsed body (without recursion) for what its text did not show: escapes such
    as \\u0000 or a lone \\ud800, and depth."""
    pending: list[tuple[Any, int]] = [(body, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            return _too_deep()
        if isinstance(value, dict):
            pending.extend((key, depth) for key in value)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and _unstorable_text(value):
            return policy.refused(
                "The request body cannot be sent: a string in it holds an escaped NUL (\\u0000) "
                "or a lone surrogate (such as \\ud800), which is not text."
            )
    return None


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
        if isinstance(error, StoreDown | DatabaseBusy):
            logger.warning("sandbox run failed (request %s): %r", state.request_id, error)
        else:
            logger.exception("sandbox run failed (request %s)", state.request_id)
        if not ended:
            yield await _unrecorded(state, _outage(error, state))


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
    state.body, error = parse_body(state.body_text)
    if error is None and isinstance(state.body, dict) and model and "model" not in state.body:
        state.body["model"] = model
    if error is None and fault not in (None, "", *faults.FAULTS):
        error = policy.refused(f"Unknown fault {fault!r}.")
    if error is not None:
        if _unstorable_text(state.body_text):
            state.body_text = _storable(state.body_text)
        yield await _finish(state, state.refusal(error))
        return
    async with RunLock(state.user.pk) as held:
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


def _storable(text: str) -> str:
    """The text with what the database refuses made visible: NUL and lone surrogates."""
    text = text.replace("\x00", "\\u0000")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class RunLock:
    """One run at a time per learner, held only while the run lives.

    The lock expires a few seconds after its last renewal, so a run whose process died stops
    blocking the learner's next run within seconds; a living run renews it in the background.
    """

    def __init__(self, user_pk: int) -> None:
        self.key = LOCK_KEY.format(user_pk)
        self.token = simulator.new_id("run_")
        self.renewal: asyncio.Task | None = None

    async def __aenter__(self) -> bool:
        held = await _store(cache.aadd(self.key, self.token, timeout=LOCK_SECONDS))
        if held:
            self.renewal = asyncio.create_task(self._renew())
        return held

    async def _renew(self) -> None:
        ends = time.monotonic() + settings.SANDBOX_RUN_SECONDS
        while time.monotonic() < ends:
            await asyncio.sleep(LOCK_SECONDS / 3)
            try:
                await _store(cache.aset(self.key, self.token, timeout=LOCK_SECONDS))
            except Exception:  # the store is down; the run ends on its own
                logger.warning("could not renew the sandbox run lock %s", self.key)

    async def __aexit__(self, *exc: object) -> None:
        if self.renewal is None:
            return
        self.renewal.cancel()
        try:
            if await _store(cache.aget(self.key)) == self.token:
                await _store(cache.adelete(self.key))
        except Exception:  # it expires by itself within LOCK_SECONDS
            logger.warning("could not release the sandbox run lock %s", self.key)


async def _store(call: Awaitable[T]) -> T:
    """A call to the shared store (Redis), which must answer within seconds or count as down."""
    try:
        return await asyncio.wait_for(call, settings.OUTAGE_SECONDS)
    except TimeoutError:
        raise StoreDown("the shared store did not answer in time") from None
    except (ConnectionError, OSError) as error:
        raise StoreDown(str(error)) from error


async def _wait(call: Awaitable[T]) -> T:
    """A database call that must answer within seconds (a long lock must not hang the run)."""
    try:
        return await asyncio.wait_for(call, settings.OUTAGE_SECONDS)
    except TimeoutError:
        raise DatabaseBusy() from None


class StoreDown(Exception):
    """Redis (the store the site's processes share) is not answering."""


class DatabaseBusy(Exception):
    """The database did not answer within OUTAGE_SECONDS (a long lock, say)."""


def _outage(error: Exception, state: _Run) -> ApiError:
    """What the learner is told when the run failed on the site's side, and why."""
    if isinstance(error, StoreDown) or _is_redis_error(error):
        what = "Redis, the store the site's processes share, is not answering"
    elif isinstance(error, DatabaseBusy | DatabaseError):
        what = "the database is busy"
    else:
        what = "something went wrong on the site's side (it has been logged)"
    sent = "" if state.sent else " Nothing was sent to Claude."
    return policy.refused(
        f"The sandbox could not run this: {what}.{sent} Your request is still here; run it "
        "again in a moment.",
        503,
        "api_error",
    )


def _is_redis_error(error: Exception) -> bool:
    return any(kind.__module__.startswith("redis") for kind in type(error).__mro__)


async def _checked_run(state: _Run, fault: str | None) -> AsyncIterator[dict[str, Any]]:
    models = await sync_to_async(model_data)()
    error = _checked(state.body, models)
    if error is not None:
        yield await _finish(state, state.refusal(error))
        return
    streamed = state.body.get("stream") is True
    if fault:
        async for item in _faulty(state, models, fault, streamed):
            yield item
        return
    if state.mode == "live" and (ceiling := await allowance_hookup.over_ceiling()):
        state.mode, state.notice = "simulator", ceiling
    if state.mode == "live":
        async for item in _live(state):
            yield item
        return
    store = simulator.DjangoCacheStore(str(state.user.pk))
    # The store may be Redis: keep its round trips off the event loop.
    outcome = await _store(
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
    # The charge is recorded before anything goes upstream; a database that cannot take it
    # refuses the run instead.
    charge = await _wait(allowance_hookup.reserve(state.user))
    if isinstance(charge, ApiError):
        yield await _finish(state, state.refusal(charge))
        return
    state.sent = True
    failed = {"type": "api_error", "message": "The run failed on the site's side.", "status": 502}
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
        await _wait(allowance_hookup.settle(charge, usage, state.events, state.body["model"]))
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
    await _store(cache.aadd(key, 0, timeout=90))
    try:
        count = await _store(cache.aincr(key))
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
    """Grade the run if it belongs to an exercise, and record it as an attempt."""
    passed = None
    if state.exercise is not None:
        data = {
            "request": state.body if isinstance(state.body, dict) else None,
            "response": result["response"],
            "error": result["error"],
            "events": state.events,
        }
        verdict = grader.grade(state.exercise.checks, data)
        passed = verdict.passed
        failures = await _wait(
            Attempt.objects.filter(
                learner=state.user,
                lesson_slug=state.lesson.slug,
                exercise_id=state.exercise.id,
                passed=False,
            ).acount()
        )
        result["verdict"] = {
            "passed": verdict.passed,
            "message": verdict.message,
            "hint": None if verdict.passed else state.exercise.hint(failures),
            "explanation_html": state.exercise.explanation_html if verdict.passed else "",
        }
    try:
        attempt = await _wait(
            allowance_hookup.own_thread(Attempt.record)(
                learner=state.user,
                lesson_slug=state.lesson.slug,
                exercise_id=state.exercise.id if state.exercise else "",
                body_text=state.body_text,
                body=state.body,
                result=result,
                passed=passed,
            )
        )
    except (DatabaseBusy, DatabaseError):
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
