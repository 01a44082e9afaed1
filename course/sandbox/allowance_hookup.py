"""Where live sandbox runs meet the allowance the tutor shares (course/allowance.py)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import connections

from course import allowance
from course.sandbox.policy import refused
from course.sandbox.validator import ApiError

SOURCE = "sandbox"
P = ParamSpec("P")
R = TypeVar("R")


def own_thread(function: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """Run a database write on a worker thread of its own, not the request's one shared thread:
    when a long lock holds it, the run gives up waiting (guards.wait) and whatever the request
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
        error = refused(refusal.message, 429, "rate_limit_error")
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
