"""Wait for a condition, with a deadline: a test never sleeps a fixed time for something to happen."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
POLL_SECONDS = 0.02  # how often to look, not how long to wait


async def eventually(check: Callable[[], T | Awaitable[T]], what: str, timeout: float = 10) -> T:
    """Call `check` (plain or async) until it returns something true, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(POLL_SECONDS)


def wait_until(check: Callable[[], T], what: str, timeout: float = 10) -> T:
    """`eventually` for tests that are not async (the browser tests drive Playwright's sync API)."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(POLL_SECONDS)
    return result
