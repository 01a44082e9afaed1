"""What keeps a sandbox run bounded: one run per learner, held only while it lives, and a time
limit on every call to Redis and the database, with the message a learner gets when one fails."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection

from course.sandbox import policy, simulator
from course.sandbox.validator import ApiError

logger = logging.getLogger(__name__)
LOCK_KEY = "sandbox-running:{}"
LOCK_SECONDS = 15  # a run's lock outlives its process by at most this long (see RunLock)
T = TypeVar("T")
P = ParamSpec("P")


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
