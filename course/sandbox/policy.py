"""What this site allows in the sandbox, on top of what the API refuses: models, size, tools.

The `max_tokens` cap protects the course's bill, so it applies in live mode only: the simulator
costs nothing, and there only the API's own limits apply (thinking budgets need room).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from course.model_catalogue import ModelData
from course.sandbox.validator import ApiError
from course.sandbox.validator.models import resolve


def refused(message: str, status: int = 400, type_: str = "invalid_request_error") -> ApiError:
    return ApiError(status, type_, message, source="sandbox")


def body_too_large(size: int) -> ApiError | None:
    cap = settings.SANDBOX_MAX_BODY_BYTES
    if size > cap:
        return refused(
            f"The request body is {size:,} bytes; this sandbox accepts up to {cap:,} bytes.",
            413,
            "request_too_large",
        )
    return None


def allowed_models(models: ModelData) -> list[str]:
    """The sandbox's model allow-list, less any model retired since, or one model still usable."""
    usable = [model_id for model_id in models.sandbox_models if models.usable(model_id)]
    return usable or [models.fallback_model()]


def live() -> bool:
    """Whether runs go to Claude (and cost money); see runner.mode()."""
    from course.sandbox.runner import mode  # runner imports this module

    return mode() == "live"


def check(
    body: dict[str, Any], models: ModelData, *, live_mode: bool | None = None
) -> ApiError | None:
    """Refuse what the API would accept but this site will not run (after validator.validate).

    `live_mode` defaults to the sandbox's current mode.
    """
    allowed = allowed_models(models)
    resolved = resolve(body["model"], models)
    if resolved is None or resolved.id not in allowed:
        return refused(
            f"model: {body['model']} is a real model, but this sandbox runs only "
            f"{', '.join(allowed)}.",
            403,
            "permission_error",
        )
    cap = settings.SANDBOX_MAX_TOKENS
    if (live() if live_mode is None else live_mode) and body["max_tokens"] > cap:
        return refused(
            f"max_tokens: this sandbox allows at most {cap:,} "
            f"(you asked for {body['max_tokens']:,})."
        )
    for index, tool in enumerate(body.get("tools") or []):
        if tool.get("type") not in (None, "custom"):
            return refused(
                f"tools.{index}: server tools ({tool.get('type')}) do not run in this sandbox; "
                "define a client tool with name, description and input_schema instead."
            )
    for name in ("container", "mcp_servers"):
        if name in body:
            return refused(f"{name}: not available in this sandbox.")
    return None
