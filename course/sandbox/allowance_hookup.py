"""The one place live sandbox runs meet the shared allowance (course/allowance.py)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async

from course.sandbox.policy import refused
from course.sandbox.validator import ApiError

SOURCE = "sandbox"


async def reserve(user) -> Any:
    """A charge for one live run, or the ApiError (429) that says why the learner must wait."""
    try:
        from course import allowance
    except ImportError:  # until the shared allowance lands, live runs are only rate-limited
        return None
    try:
        return await sync_to_async(allowance.reserve)(user, SOURCE)
    except allowance.Refused as refusal:
        error = refused(refusal.message, 429, "rate_limit_error")
        if refusal.retry_after:
            error.headers["retry-after"] = str(round(refusal.retry_after))
        return error


async def settle(charge: Any, usage: dict[str, Any], events: list[dict[str, Any]]) -> None:
    if charge is None or isinstance(charge, ApiError):
        return
    produced = bool(usage.get("output_tokens")) or any(
        e["event"] == "content_block_delta" for e in events
    )
    await sync_to_async(charge.settle)(usage, produced=produced)
