"""Failures on purpose, for the error-handling exercises: 429, 529, 500, a mid-stream error.

A fault replaces the next run's answer in both modes and never calls upstream: the errors are
the API's documented bodies (https://platform.claude.com/docs/en/api/errors).
"""

from __future__ import annotations

from typing import Any

from course.sandbox.simulator import Outcome
from course.sandbox.validator import ApiError, error_body

RETRY_AFTER_SECONDS = 20
STREAM_ERROR_AFTER = 2  # text deltas sent before the `error` event

HTTP_FAULTS = {
    "429": ApiError(
        429,
        "rate_limit_error",
        "This request would exceed your organization's rate limit (simulated fault). "
        "Wait for retry-after seconds, then retry.",
        headers={"retry-after": str(RETRY_AFTER_SECONDS)},
    ),
    "529": ApiError(529, "overloaded_error", "Overloaded"),
    "500": ApiError(500, "api_error", "Internal server error"),
}
FAULTS = (*HTTP_FAULTS, "stream_error")
LABELS = {
    "429": "429 rate limited (with retry-after)",
    "529": "529 overloaded",
    "500": "500 internal error",
    "stream_error": "Error event in the middle of a stream",
}


def http_error(fault: str, streamed: bool) -> ApiError | None:
    """The HTTP error this fault answers with; None when it fails inside a 200 stream instead."""
    if fault == "stream_error":
        # Outside a stream, an overload that would have interrupted it is a plain 529.
        return None if streamed else HTTP_FAULTS["529"]
    return HTTP_FAULTS[fault]


def interrupt(outcome: Outcome) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Cut a streamed outcome after a few deltas with an `error` event; return events and error."""
    events, deltas = [], 0
    for event in outcome.events:
        if event["event"] == "content_block_delta":
            if deltas == STREAM_ERROR_AFTER:
                break
            deltas += 1
        if event["event"] in ("content_block_stop", "message_delta", "message_stop"):
            break
        events.append(event)
    error = {"type": "overloaded_error", "message": "Overloaded"}
    events.append({"event": "error", "data": error_body(error)})
    return events, {**error, "status": 200}
