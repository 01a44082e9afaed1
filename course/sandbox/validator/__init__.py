"""The Messages API's request rules, answered with its own errors.

One copy of the rules: the sandbox checks every request with it before anything runs, and the
test fake (tests/fake_anthropic.py) validates with it too. The request's shape comes from the
installed SDK's own types (shapes.py walks `anthropic.types.MessageCreateParams`); only what the
types cannot say is written by hand (conversation.py, features.py), each rule with its source in
../shared/course/api-facts.md or the docs. Each rule returns the error body the API would send;
the first broken rule wins. `validate` answers every JSON value with an error or None and never
raises.
Docs: https://platform.claude.com/docs/en/api/messages and https://platform.claude.com/docs/en/api/errors
"""

from __future__ import annotations

import logging
from typing import Any

from anthropic.types.message_create_params import MessageCreateParamsBase

from course.model_catalogue import ModelData
from course.sandbox.validator import conversation, features, shapes
from course.sandbox.validator.errors import ApiError, at, error_body, invalid
from course.sandbox.validator.models import Resolved, resolve
from course.sandbox.validator.request import API_VERSION, Request

__all__ = ["API_VERSION", "ApiError", "error_body", "invalid", "validate"]

logger = logging.getLogger(__name__)
UNCHECKED = "The request could not be checked"
RULES = (*conversation.RULES, *features.RULES)
# MessageCreateParams lists these, but the SDK sends them as headers (anthropic-workspace-id,
# anthropic-user-profile-id; resources/messages/messages.py), never in the body.
HEADER_PARAMS = frozenset({"workspace_id", "user_profile_id"})


def _shape(body: dict[str, Any]) -> ApiError | None:
    rest = {k: v for k, v in body.items() if k not in features.SAMPLING and k != "stream"}
    if headers := sorted(HEADER_PARAMS & rest.keys()):
        return at(headers[0], "Extra inputs are not permitted")
    if problem := shapes.check(rest, MessageCreateParamsBase):
        return at(*problem)
    if "stream" in body and not isinstance(body["stream"], bool):
        return at("stream", "Input should be a valid boolean")
    return None


def _model(body: dict[str, Any], models: ModelData | None) -> Resolved | ApiError | None:
    """The model the body names, or the API's 404; None when there is no model data."""
    if models is None:
        return None
    model = body["model"]
    resolved = resolve(model, models)
    if resolved is None:
        return ApiError(404, "not_found_error", f"model: {model}")
    info = resolved.info
    if info is not None and not info.usable:
        retired = f" (retired on {info.retired_on:%Y-%m-%d})" if info.retired_on else " (retired)"
        return ApiError(404, "not_found_error", f"model: {model}{retired}")
    return resolved


def _validate(body: Any, models: ModelData | None, version: str) -> ApiError | None:
    if not isinstance(body, dict):
        return invalid("The request body must be a JSON object")
    if error := features.sampling(body, version) or _shape(body):
        return error
    model = _model(body, models)
    if isinstance(model, ApiError):
        return model
    req = Request(body, model, version)
    for rule in RULES:
        if error := rule(req):
            return error
    return None


def validate(body: Any, models: ModelData | None, version: str = API_VERSION) -> ApiError | None:
    """The error the Messages API would answer `body` with, or None if it would accept it."""
    try:
        return _validate(body, models, version)
    except Exception:
        # Every rule runs on a body that fits the SDK's types, so this is a bug in a rule:
        # answer as the API answers a body it cannot read rather than fail the run.
        logger.exception("validator failed on a request body")
        return invalid(f"{UNCHECKED}; check that every field has the documented shape.")
