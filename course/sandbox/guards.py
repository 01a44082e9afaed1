"""What keeps a sandbox run bounded: one run per learner, held only while it lives, a time limit
on every call to Redis and the database, with the message a learner gets when one fails, and the
allowance a live run is charged to, which it shares with the tutor (course/allowance.py)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, connections

from course import allowance
from course.sandbox import policy, simulator
from course.sandbox.validator import ApiError

logger = logging.getLogger(__name__)
LOCK_KEY = "sandbox-running:{}"
LOCK_SECONDS = 15  # a run's lock outlives its process by at most this long (see RunLock)
SOURCE = "sandbox"  # what the allowance records a live run's charge as
T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")


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
        held = await store(cache.aadd(self.key, self.token, timeout=LOCK_SECONDS))
        if held:
            self.renewal = asyncio.create_task(self._renew())
        return held

    async def _renew(self) -> None:
        ends = time.monotonic() + settings.SANDBOX_RUN_SECONDS
        while time.monotonic() < ends:
            await asyncio.sleep(LOCK_SECONDS / 3)
            try:
                await store(cache.aset(self.key, self.token, timeout=LOCK_SECONDS))
            except Exception:  # the store is down; the run ends on its own
                logger.warning("could not renew the sandbox run lock %s", self.key)

    async def __aexit__(self, *exc: object) -> None:
        if self.renewal is None:
            return
        self.renewal.cancel()
        try:
            if await store(cache.aget(self.key)) == self.token:
                await store(cache.adelete(self.key))
        except Exception:  # it expires by itself within LOCK_SECONDS
            logger.warning("could not release the sandbox run lock %s", self.key)


async def store(call: Awaitable[T]) -> T:
    """A call to the shared store (Redis), which must answer within seconds or count as down."""
    try:
        return await asyncio.wait_for(call, settings.OUTAGE_SECONDS)
    except TimeoutError:
        raise StoreDown("the shared store did not answer in time") from None
    except (ConnectionError, OSError) as error:
        raise StoreDown(str(error)) from error


async def wait(call: Awaitable[T]) -> T:
    """A database call that must answer within seconds (a long lock must not hang the run)."""
    try:
        return await asyncio.wait_for(call, settings.OUTAGE_SECONDS)
    except TimeoutError:
        raise DatabaseBusy() from None


def impatient(function: Callable[P, T]) -> Callable[P, T]:
    """Run `function` on a connection that gives up on a lock after OUTAGE_SECONDS
    (SQLite waits 20 s, a PostgreSQL row lock forever): the learner hears within seconds, and
    a write the caller stopped waiting for does not land later behind its back."""

    @functools.wraps(function)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        with bounded_lock_wait(settings.OUTAGE_SECONDS):
            return function(*args, **kwargs)

    return call


@contextlib.contextmanager
def bounded_lock_wait(seconds: float) -> Iterator[None]:
    milliseconds = int(seconds * 1000)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA busy_timeout")
            before = cursor.fetchone()[0]
            cursor.execute(f"PRAGMA busy_timeout = {milliseconds}")
        elif connection.vendor == "postgresql":
            cursor.execute(f"SET lock_timeout = '{milliseconds}ms'")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute(f"PRAGMA busy_timeout = {int(before)}")
            elif connection.vendor == "postgresql":
                cursor.execute("RESET lock_timeout")


class StoreDown(Exception):
    """Redis (the store the site's processes share) is not answering."""


class DatabaseBusy(Exception):
    """The database did not answer within OUTAGE_SECONDS (a long lock, say)."""


def outage(error: Exception, *, sent: bool) -> ApiError:
    """What the learner is told when the run failed on the site's side, and why."""
    if isinstance(error, StoreDown) or _is_redis_error(error):
        what = "Redis, the store the site's processes share, is not answering"
    elif isinstance(error, DatabaseBusy | DatabaseError):
        what = "the database is busy"
    else:
        what = "something went wrong on the site's side (it has been logged)"
    upstream = "" if sent else " Nothing was sent to Claude."
    return policy.refused(
        f"The sandbox could not run this: {what}.{upstream} Your request is still here; run it "
        "again in a moment.",
        503,
        "api_error",
    )


def _is_redis_error(error: Exception) -> bool:
    return any(kind.__module__.startswith("redis") for kind in type(error).__mro__)


def own_thread(function: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """Run a database write on a worker thread of its own, not the request's one shared thread:
    when a long lock holds it, the run gives up waiting (`wait`) and whatever the request
    does next (release its lock, render its result) does not queue behind it."""

    @functools.wraps(function)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()  # this worker thread's connections only

    return sync_to_async(call, thread_sensitive=False)


async def reserve(user) -> allowance.Charge | ApiError:
    """A charge for one live run, or the 429 that says why the learner must wait."""
    try:
        return await own_thread(allowance.reserve)(user, SOURCE)
    except allowance.Refused as refusal:
        error = policy.refused(refusal.message, 429, "rate_limit_error")
        if refusal.retry_after:
            error.headers["retry-after"] = str(round(refusal.retry_after))
        return error


async def over_ceiling() -> str:
    """Why live runs fall back to the simulator (the site's daily spend is reached), or ""."""
    ceiling = await sync_to_async(allowance.ceiling_refusal)()
    return ceiling.message if ceiling else ""


async def settle(
    charge: allowance.Charge, usage: dict[str, Any], events: list[dict], model: str
) -> None:
    """Record what the run used; a run that produced nothing gives the day's question back."""
    produced = bool(usage.get("output_tokens")) or any(
        e["event"] == "content_block_delta" for e in events
    )
    await own_thread(charge.settle)(usage, produced=produced, model=model)
