"""The tutor's database work, on threads of its own.

Channels runs every `database_sync_to_async` call of a process on one shared thread. A turn
waiting there queued behind every other learner's, and a locked database froze them all. The
tutor's queries run on this small pool instead, and its websocket events never touch the
database (see `TutorConsumer.dispatch`): a slow row delays only the work that needs it.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection, connections

P = ParamSpec("P")
R = TypeVar("R")

_pool: ThreadPoolExecutor | None = None


def pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(threads(), thread_name_prefix="tutor-db")
    return _pool


def close() -> None:
    """Close each pool thread's database connections and stop the pool (it restarts on use).

    PostgreSQL will not drop a database that a connection is still open on: the test database
    at the end of a test run, say.
    """
    global _pool
    if _pool is None:
        return
    stopping, _pool = _pool, None
    count = stopping._max_workers
    together = threading.Barrier(count)  # holds each thread until all have one: one close each

    def close_here() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            together.wait(timeout=10)
        connections.close_all()

    for done in [stopping.submit(close_here) for _ in range(count)]:
        done.result(timeout=30)
    stopping.shutdown()


def threads() -> int:
    """PostgreSQL locks rows, so threads help; SQLite locks the whole file, and threads that
    wait for its lock sleep in growing steps (up to 100 ms), so one thread queues them instead."""
    if settings.TUTOR_DB_THREADS:
        return settings.TUTOR_DB_THREADS
    return 1 if connection.vendor == "sqlite" else 4


def run(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`func` as a coroutine function that runs on the tutor's pool, like database_sync_to_async.

    An in-memory SQLite database (the unit tests') is shared through SQLite's shared cache, whose
    table locks fail at once instead of waiting: there, every query keeps to the one thread.
    """

    @functools.wraps(func)
    def with_fresh_connections(*args: P.args, **kwargs: P.kwargs) -> R:
        close_old_connections()  # as Django does around a request: drop broken or expired ones
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    async def on_the_pool(*args: P.args, **kwargs: P.kwargs) -> R:
        if connection.vendor == "sqlite" and connection.is_in_memory_db():
            return await sync_to_async(with_fresh_connections)(*args, **kwargs)
        call = sync_to_async(with_fresh_connections, thread_sensitive=False, executor=pool())
        return await call(*args, **kwargs)

    return on_the_pool
