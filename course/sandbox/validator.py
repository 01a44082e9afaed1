"""The Messages API's request rules (../shared/course/api-facts.md), answered with its own errors.

One copy of the rules: the sandbox checks every request with it before anything runs, and the
test fake (tests/fake_anthropic.py) validates with it too. Only what the API refuses is here (it
accepts, say, a conversation that starts with an assistant turn). Each rule returns the error body
the API would send; the first broken rule wins.
Docs: https://platform.claude.com/docs/en/api/messages and https://platform.claude.com/docs/en/api/errors
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from course.models_data import ModelData

API_VERSION = "2026-10-21"  # the version the SDK pins (anthropic 2.x): no sampling parameters
SAMPLING = ("temperature", "top_p", "top_k")
MAX_MESSAGES = 100_000
MAX_BREAKPOINTS = 4
API_BODY_LIMIT = 32 * 1024 * 1024  # Messages: 32 MB, refused with 413 before the API sees it
TOP_LEVEL = {
    "model", "max_tokens", "messages", "system", "stream", "stop_sequences", "metadata",
    "tools", "tool_choice", "thinking", "output_config", "service_tier", "cache_control",
    "container", "inference_geo", "diagnostics", *SAMPLING,
}  # fmt: skip
ROLES = ("user", "assistant")
INPUT_BLOCKS = {
    "text", "image", "document", "search_result", "thinking", "redacted_thinking", "tool_use",
    "tool_result", "server_tool_use", "web_search_tool_result", "web_fetch_tool_result",
    "code_execution_tool_result", "bash_code_execution_tool_result",
    "text_editor_code_execution_tool_result", "tool_search_tool_result", "container_upload",
    "mid_conv_system",
}  # fmt: skip
TTLS = ("5m", "1h")
PREFILL_MESSAGE = (
    "This model does not support assistant message prefill. "
    "The conversation must end with a user message."
)
MODEL_ID_RE = re.compile(
    r"^claude-(?:(?P<family>[a-z]+)-(?P<major>\d)(?:-(?P<minor>\d))?)(?:-\d{8})?$"
)


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
        error = {"type": self.type, "message": self.message}
        return {"type": "error", "error": error, "request_id": request_id}

    def as_error(self) -> dict[str, Any]:
        """The grader's `error`: the body's error object plus the status (and retry-after)."""
        error: dict[str, Any] = {"type": self.type, "message": self.message, "status": self.status}
        if "retry-after" in self.headers:
            error["retry_after"] = float(self.headers["retry-after"])
        if self.source != "api":
            error["source"] = self.source
        return error


def invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_request_error", message)


@dataclass(frozen=True)
class Request:
    """What the rules look at: the body, the API version, and the model data file."""

    body: dict[str, Any]
    models: ModelData | None
    version: str = API_VERSION

    def blocks(self, content: Any) -> list[Any]:
        if isinstance(content, str):
            return [{"type": "text", "text": content}]
        return content if isinstance(content, list) else []


def generation(model_id: str) -> tuple[int, int] | None:
    """(major, minor) of a Claude model ID, e.g. claude-opus-4-6 -> (4, 6); None if unknown."""
    match = MODEL_ID_RE.match(model_id)
    if not match or not match.group("family"):
        return None
    return int(match.group("major")), int(match.group("minor") or 0)


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list"}.get(
        type(value), "object" if isinstance(value, dict) else "null"
    )


# -- the rules, in the order the API applies them -------------------------------------------


def required_fields(req: Request) -> ApiError | None:
    for name in ("model", "max_tokens", "messages"):
        if name not in req.body:
            return invalid(f"{name}: Field required")
    return None


def unknown_fields(req: Request) -> ApiError | None:
    for name in req.body:
        if name not in TOP_LEVEL:
            return invalid(f"{name}: Extra inputs are not permitted")
    return None


def model_type(req: Request) -> ApiError | None:
    if not isinstance(req.body["model"], str) or not req.body["model"]:
        return invalid("model: Input should be a valid string")
    return None


def sampling_removed(req: Request) -> ApiError | None:
    for name in SAMPLING:
        if name in req.body and req.version == API_VERSION:
            return invalid(
                f"{name}: is not supported in anthropic-version {API_VERSION}; "
                "remove it (sampling uses the defaults)"
            )
    return None


def max_tokens_integer(req: Request) -> ApiError | None:
    value = req.body["max_tokens"]
    if type(value) is not int:
        return invalid(f"max_tokens: Input should be a valid integer, got {_type_name(value)}")
    if value < 0:
        return invalid("max_tokens: Input should be greater than or equal to 0")
    return None


def messages_list(req: Request) -> ApiError | None:
    messages = req.body["messages"]
    if not isinstance(messages, list):
        return invalid("messages: Input should be a valid list")
    if not messages:
        return invalid("messages: at least one message is required")
    if len(messages) > MAX_MESSAGES:
        return invalid(f"messages: at most {MAX_MESSAGES:,} messages are allowed")
    return None


def message_shape(req: Request) -> ApiError | None:
    major_minor = generation(req.body["model"])
    system_role = major_minor is not None and major_minor >= (4, 8)
    for index, message in enumerate(req.body["messages"]):
        where = f"messages.{index}"
        if not isinstance(message, dict):
            return invalid(f"{where}: Input should be a valid dictionary")
        for name in message:
            if name not in ("role", "content"):
                return invalid(f"{where}.{name}: Extra inputs are not permitted")
        if "role" not in message:
            return invalid(f"{where}.role: Field required")
        if "content" not in message:
            return invalid(f"{where}.content: Field required")
        role = message["role"]
        if role == "system" and not system_role:
            return invalid(f"{where}.role: role 'system' is not supported on this model")
        if role not in (*ROLES, "system"):
            return invalid(f"{where}.role: Input should be 'user' or 'assistant'")
        content = message["content"]
        if not isinstance(content, str | list):
            return invalid(f"{where}.content: Input should be a valid string or a list of blocks")
        final_assistant = index == len(req.body["messages"]) - 1 and role == "assistant"
        if not content and not final_assistant:
            return invalid(
                f"{where}: all messages must have non-empty content except for the optional "
                "final assistant message"
            )
        if error := _content_blocks(req, content, where, role):
            return error
    return None


def _content_blocks(req: Request, content: Any, where: str, role: str) -> ApiError | None:
    if isinstance(content, str):
        return None
    for index, block in enumerate(content):
        at = f"{where}.content.{index}"
        if not isinstance(block, dict) or "type" not in block:
            return invalid(f"{at}: Input should be a content block with a 'type'")
        if block["type"] not in INPUT_BLOCKS:
            return invalid(f"{at}.type: unknown content block type {block['type']!r}")
        if block["type"] == "text":
            if not isinstance(block.get("text"), str):
                return invalid(f"{at}.text: Input should be a valid string")
            if not block["text"]:
                return invalid(f"{where}: text content blocks must be non-empty")
            if role == "user" and block.get("citations") and req.version == API_VERSION:
                return invalid(f"{at}.citations: citations are not allowed in user messages")
        if block["type"] == "document" and role == "assistant" and req.version == API_VERSION:
            return invalid(f"{at}: document blocks are not allowed in assistant messages")
    return None


def prefill(req: Request) -> ApiError | None:
    last = req.body["messages"][-1]
    major_minor = generation(req.body["model"])
    if last.get("role") != "assistant" or major_minor is None or major_minor < (4, 6):
        return None
    # Sending a paused server-tool turn back as it is continues it (pause_turn): not a prefill.
    content = last.get("content")
    if isinstance(content, list) and any(
        isinstance(block, dict) and block.get("type") == "server_tool_use" for block in content
    ):
        return None
    return invalid(PREFILL_MESSAGE)


def system_shape(req: Request) -> ApiError | None:
    system = req.body.get("system")
    if system is None or isinstance(system, str):
        return None
    if not isinstance(system, list):
        return invalid("system: Input should be a valid string or a list of text blocks")
    for index, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            return invalid(f"system.{index}.type: Input should be 'text'")
        if not isinstance(block.get("text"), str):
            return invalid(f"system.{index}.text: Input should be a valid string")
        if not block["text"]:
            return invalid("system: text content blocks must be non-empty")
    return None


def stream_boolean(req: Request) -> ApiError | None:
    if "stream" in req.body and not isinstance(req.body["stream"], bool):
        return invalid("stream: Input should be a valid boolean")
    return None


def stop_sequences(req: Request) -> ApiError | None:
    value = req.body.get("stop_sequences")
    if value is None:
        return None
    if not isinstance(value, list):
        return invalid("stop_sequences: Input should be a valid list of strings")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            return invalid(f"stop_sequences.{index}: Input should be a valid string")
    return None


def metadata(req: Request) -> ApiError | None:
    value = req.body.get("metadata")
    if value is None:
        return None
    if not isinstance(value, dict):
        return invalid("metadata: Input should be a valid dictionary")
    for name in value:
        if name != "user_id":
            return invalid(f"metadata.{name}: Extra inputs are not permitted")
    return None


def _markers(req: Request) -> list[tuple[str, Any]]:
    """(where, cache_control) for every block that carries one, in prefix order."""
    found = []
    for index, tool in enumerate(req.body.get("tools") or []):
        if isinstance(tool, dict) and "cache_control" in tool:
            found.append((f"tools.{index}", tool["cache_control"]))
    system = req.body.get("system")
    for index, block in enumerate(system if isinstance(system, list) else []):
        if isinstance(block, dict) and "cache_control" in block:
            found.append((f"system.{index}", block["cache_control"]))
    for m, message in enumerate(req.body["messages"]):
        for b, block in enumerate(req.blocks(message.get("content"))):
            if isinstance(block, dict) and "cache_control" in block:
                found.append((f"messages.{m}.content.{b}", block["cache_control"]))
    return found


def cache_control(req: Request) -> ApiError | None:
    markers = _markers(req)
    top = req.body.get("cache_control")
    for where, marker in markers + ([("cache_control", top)] if top is not None else []):
        if not isinstance(marker, dict) or marker.get("type") != "ephemeral":
            return invalid(f"{where}.cache_control.type: Input should be 'ephemeral'")
        if marker.get("ttl", "5m") not in TTLS:
            return invalid(f"{where}.cache_control.ttl: Input should be '5m' or '1h'")
    if len(markers) > MAX_BREAKPOINTS:
        return invalid(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {len(markers)}."
        )
    if top is not None and len(markers) == MAX_BREAKPOINTS:
        return invalid(
            "cache_control: automatic caching needs a free breakpoint slot, but "
            f"{MAX_BREAKPOINTS} blocks already have cache_control (no slots left)"
        )
    ttls = [marker.get("ttl", "5m") for _, marker in markers]
    if "5m" in ttls and "1h" in ttls[ttls.index("5m") :]:
        return invalid(
            "cache_control: a ttl='1h' breakpoint must not come after a ttl='5m' breakpoint "
            "(longer-lived entries go first)"
        )
    return None


def tools_shape(req: Request) -> ApiError | None:
    tools = req.body.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list):
        return invalid("tools: Input should be a valid list")
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict):
            return invalid(f"tools.{index}: Input should be a valid dictionary")
        if "type" in tool and tool.get("type") != "custom":
            continue  # a server tool, e.g. web_search_20250305; its fields are its own
        if not isinstance(tool.get("name"), str):
            return invalid(f"tools.{index}.name: Field required")
        if not isinstance(tool.get("input_schema"), dict):
            return invalid(f"tools.{index}.input_schema: Field required")
    return None


def thinking_budget(req: Request) -> ApiError | None:
    thinking = req.body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return None
    budget = thinking.get("budget_tokens")
    if type(budget) is not int or budget < 1024:
        return invalid(
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        )
    if budget >= req.body["max_tokens"]:
        return invalid("`max_tokens` must be greater than `thinking.budget_tokens`")
    return None


def known_model(req: Request) -> ApiError | None:
    if req.models is None:
        return None
    model = req.body["model"]
    info = req.models.get(model)
    if info is None:
        return ApiError(404, "not_found_error", f"model: {model}")
    if not info.usable:
        retired = f" (retired on {info.retired_on:%Y-%m-%d})" if info.retired_on else " (retired)"
        return ApiError(404, "not_found_error", f"model: {model}{retired}")
    return None


def max_tokens_bound(req: Request) -> ApiError | None:
    info = req.models.get(req.body["model"]) if req.models else None
    if info is not None and req.body["max_tokens"] > info.max_output:
        return invalid(
            f"max_tokens: {req.body['max_tokens']} > {info.max_output}, which is the maximum "
            f"allowed number of output tokens for {info.id}"
        )
    return None


RULES: tuple[Callable[[Request], ApiError | None], ...] = (
    required_fields,
    unknown_fields,
    model_type,
    sampling_removed,
    max_tokens_integer,
    messages_list,
    message_shape,
    prefill,
    system_shape,
    stream_boolean,
    stop_sequences,
    metadata,
    tools_shape,
    cache_control,
    thinking_budget,
    known_model,
    max_tokens_bound,
)


def validate(body: Any, models: ModelData | None, version: str = API_VERSION) -> ApiError | None:
    """The error the Messages API would answer `body` with, or None if it would accept it."""
    if not isinstance(body, dict):
        return invalid("The request body must be a JSON object")
    req = Request(body, models, version)
    for rule in RULES:
        if error := rule(req):
            return error
    return None
