"""Rules about tools, caching, thinking and sampling that the SDK's types cannot say.

Sources: ../shared/course/api-facts.md §2.2, §2.3 and §5;
https://platform.claude.com/docs/en/agents-and-tools/tool-use/define-tools (tool names);
https://platform.claude.com/docs/en/models/opus-5-5/whats-new-opus-5-5 (forced tool use,
thinking that cannot be disabled, on Opus 5.5 and Fable 5.1);
https://platform.claude.com/docs/en/build-with-claude/extended-thinking#feature-compatibility
("thinking isn't compatible with ... forced tool use").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from course.sandbox.validator.errors import ApiError, at, invalid
from course.sandbox.validator.request import API_VERSION, Request, every_block

SAMPLING = ("temperature", "top_p", "top_k")
TOOL_NAME_PATTERN = "^[a-zA-Z0-9_-]{1,64}$"
TOOL_NAME_RE = re.compile(TOOL_NAME_PATTERN)
MAX_BREAKPOINTS = 4
MIN_THINKING_BUDGET = 1024
# Per-model refusals (api-facts §2.2; the Opus 5.5 "what's new" page, which says the same
# breaking changes apply on Fable 5.1).
FORCED_TOOL_USE_REFUSED = frozenset({"claude-opus-5-5", "claude-sonnet-5-5", "claude-fable-5-1"})
THINKING_ALWAYS_ON = frozenset({"claude-opus-5-5", "claude-fable-5-1"})
BUDGET_THINKING_REFUSED = frozenset({"claude-sonnet-5"})
BOTH_TEMPERATURE_AND_TOP_P_REFUSED = frozenset(
    {"claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5"}
)


def sampling(body: dict[str, Any], version: str) -> ApiError | None:
    """temperature/top_p/top_k: removed in 2026-10-21, limited on newer models (§2.3).

    Runs before the shape check: the SDK 2.x types no longer list these fields at all.
    """
    present = [name for name in SAMPLING if name in body]
    if not present:
        return None
    if version == API_VERSION:
        return at(
            present[0],
            f"is not supported in anthropic-version {API_VERSION}; remove it (sampling uses "
            "the defaults)",
        )
    for name in present:
        value = body[name]
        integer = name == "top_k"
        if isinstance(value, bool) or not isinstance(value, int if integer else int | float):
            kind = "a valid integer" if integer else "a valid number"
            return at(name, f"Input should be {kind}")
        if isinstance(value, float) and not math.isfinite(value):
            return at(name, "Input should be a finite number")
        if not integer and not 0 <= value <= 1:
            return at(name, "Input should be between 0 and 1")
        if integer and value < 0:
            return at(name, "Input should be greater than or equal to 0")
    return None


def sampling_on_model(req: Request) -> ApiError | None:
    """On 2023-06-01: newer models refuse non-default sampling; some refuse two at once."""
    present = [name for name in SAMPLING if name in req.body]
    if not present:
        return None
    generation = req.generation
    newest = req.family in ("fable", "mythos") or (generation is not None and generation >= (4, 7))
    for name in present:
        if newest and not (name == "temperature" and req.body[name] == 1):
            return at(name, f"`{name}` is deprecated for this model")
    if {"temperature", "top_p"} <= set(present) and (
        req.model_id in BOTH_TEMPERATURE_AND_TOP_P_REFUSED
    ):
        return invalid(
            "temperature and top_p cannot both be specified for this model. Please use only one."
        )
    return None


def max_tokens(req: Request) -> ApiError | None:
    value = req.body["max_tokens"]
    if value < 0:
        return at("max_tokens", "Input should be greater than or equal to 0")
    info = req.model.info if req.model else None
    if info is not None and value > info.max_output:
        return at(
            "max_tokens",
            f"{value} > {info.max_output}, which is the maximum allowed number of output "
            f"tokens for {info.id}",
        )
    return None


def _custom(tool: dict[str, Any]) -> bool:
    return tool.get("type") in (None, "custom")


def tool_names(req: Request) -> ApiError | None:
    seen: set[str] = set()
    for index, tool in enumerate(req.tools):
        name = tool["name"]
        if _custom(tool) and not TOOL_NAME_RE.fullmatch(name):
            return at(
                f"tools.{index}.custom.name", f"String should match pattern '{TOOL_NAME_PATTERN}'"
            )
        if name in seen:
            return at("tools", f"Tool names must be unique; {name!r} appears more than once.")
        seen.add(name)
    return None


def tool_choice(req: Request) -> ApiError | None:
    choice = req.body.get("tool_choice")
    if not choice:
        return None
    names = [tool["name"] for tool in req.tools]
    if choice["type"] == "tool" and choice["name"] not in names:
        return at(
            "tool_choice.tool.name",
            f"tool {choice['name']!r} is not defined in `tools` (defined: "
            f"{', '.join(names) or 'none'})",
        )
    if choice["type"] == "any" and not names:
        return at("tool_choice.any", "tool_choice 'any' needs at least one tool in `tools`")
    return None


def forced_tool_use(req: Request) -> ApiError | None:
    choice = req.body.get("tool_choice")
    if not choice or choice["type"] not in ("any", "tool"):
        return None
    if req.model_id in FORCED_TOOL_USE_REFUSED:
        return at(
            "tool_choice",
            f"forced tool use (type '{choice['type']}') is not supported on {req.model_id}; "
            "use {'type': 'auto'} and say in the prompt which tool to call",
        )
    if req.thinking_type in ("enabled", "adaptive"):
        return invalid("Thinking may not be enabled when tool_choice forces tool use.")
    return None


def thinking(req: Request) -> ApiError | None:
    config = req.body.get("thinking")
    if not config:
        return None
    if config["type"] == "disabled" and req.model_id in THINKING_ALWAYS_ON:
        return at(
            "thinking.disabled",
            f"thinking cannot be disabled on {req.model_id}; remove `thinking` or send "
            "{'type': 'adaptive'}",
        )
    if config["type"] != "enabled":
        return None
    if req.model_id in BUDGET_THINKING_REFUSED:
        return at(
            "thinking.enabled",
            f"thinking type 'enabled' is not supported on {req.model_id}; use 'adaptive'",
        )
    budget = config["budget_tokens"]
    if budget < MIN_THINKING_BUDGET:
        return at(
            "thinking.enabled.budget_tokens",
            f"Input should be greater than or equal to {MIN_THINKING_BUDGET}",
        )
    if budget >= req.body["max_tokens"]:
        return invalid("`max_tokens` must be greater than `thinking.budget_tokens`")
    return None


def cache_breakpoints(req: Request) -> ApiError | None:
    """At most 4 breakpoints, a free slot for automatic caching, 1h entries before 5m (§5)."""
    ttls = [
        block["cache_control"].get("ttl", "5m")
        for _, block in every_block(req)
        if block.get("cache_control")
    ]
    if len(ttls) > MAX_BREAKPOINTS:
        return invalid(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {len(ttls)}."
        )
    if req.body.get("cache_control") and len(ttls) == MAX_BREAKPOINTS:
        return at(
            "cache_control",
            "automatic caching needs a free breakpoint slot, but "
            f"{MAX_BREAKPOINTS} blocks already have cache_control (no slots left)",
        )
    if "5m" in ttls and "1h" in ttls[ttls.index("5m") :]:
        return at(
            "cache_control",
            "a ttl='1h' breakpoint must not come after a ttl='5m' breakpoint "
            "(longer-lived entries go first)",
        )
    return None


RULES: tuple[Callable[[Request], ApiError | None], ...] = (
    max_tokens,
    sampling_on_model,
    tool_names,
    tool_choice,
    thinking,
    forced_tool_use,
    cache_breakpoints,
)
