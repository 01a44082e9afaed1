"""An error as the Messages API reports it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ApiError:
    """An error as the API reports it: HTTP status, `error.type` and `error.message`.

    `source` is "api" for what the Messages API itself refuses and "sandbox" for what only
    this site refuses (see policy.py), so a learner can tell the two apart.
    """

    status: int
    type: str
    message: str
    source: str = "api"
    headers: dict[str, str] = field(default_factory=dict)

    def body(self, request_id: str) -> dict[str, Any]:
        """The JSON body the API sends with this error."""
        return error_body({"type": self.type, "message": self.message}, request_id=request_id)

    def as_error(self) -> dict[str, Any]:
        """The grader's `error`: the body's error object plus the status (and retry-after)."""
        error: dict[str, Any] = {"type": self.type, "message": self.message, "status": self.status}
        if "retry-after" in self.headers:
            error["retry_after"] = float(self.headers["retry-after"])
        if self.source != "api":
            error["source"] = self.source
        return error


def error_body(error: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The JSON the API wraps an error object in: a response's body, a stream's `error` event."""
    return {"type": "error", "error": error, **extra}


def invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_request_error", message)


def at(path: str, message: str) -> ApiError:
    """A 400 about one field, written as the API writes it: "<path>: <message>"."""
    return invalid(f"{path}: {message}" if path else message)
