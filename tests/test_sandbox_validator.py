"""The Messages API request rules (course/sandbox/validator.py), one broken request per rule."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from course.model_catalogue import model_data
from course.sandbox import policy, validator

MODEL = "claude-haiku-5-5"
OK: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 256,
    "messages": [{"role": "user", "content": "Hello"}],
}
LONG = "A long stable prefix. " * 10


def body(**changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(OK)
    for key, value in changes.items():
        if value is None:
            result.pop(key)
        else:
            result[key] = value
    return result


def cached(text: str, ttl: str = "5m") -> dict[str, Any]:
    return {"type": "text", "text": text, "cache_control": {"type": "ephemeral", "ttl": ttl}}


# (what breaks, the body, status, error type, a fragment of the message)
BROKEN = [
    ("model is required", body(model=None), 400, "invalid_request_error", "model: Field required"),
    (
        "max_tokens is required",
        body(max_tokens=None),
        400,
        "invalid_request_error",
        "max_tokens: Field required",
    ),
    (
        "messages is required",
        body(messages=None),
        400,
        "invalid_request_error",
        "messages: Field required",
    ),
    (
        "unknown top-level fields are refused",
        body(prompt="Hi"),
        400,
        "invalid_request_error",
        "prompt: Extra inputs are not permitted",
    ),
    (
        "the model is a string",
        body(model=5),
        400,
        "invalid_request_error",
        "model: Input should be a valid string",
    ),
    (
        "temperature is removed in 2026-10-21",
        body(temperature=0.2),
        400,
        "invalid_request_error",
        "temperature: is not supported in anthropic-version 2026-10-21",
    ),
    (
        "top_p is removed in 2026-10-21",
        body(top_p=0.9),
        400,
        "invalid_request_error",
        "top_p: is not supported",
    ),
    (
        "top_k is removed in 2026-10-21",
        body(top_k=5),
        400,
        "invalid_request_error",
        "top_k: is not supported",
    ),
    (
        "max_tokens is an integer",
        body(max_tokens="256"),
        400,
        "invalid_request_error",
        "max_tokens: Input should be a valid integer",
    ),
    (
        "max_tokens is not negative",
        body(max_tokens=-1),
        400,
        "invalid_request_error",
        "max_tokens: Input should be greater than or equal to 0",
    ),
    (
        "max_tokens stays within the model's output limit",
        body(max_tokens=128_001),
        400,
        "invalid_request_error",
        "max_tokens: 128001 > 128000, which is the maximum allowed number of output tokens",
    ),
    (
        "messages is a list",
        body(messages="Hello"),
        400,
        "invalid_request_error",
        "messages: Input should be a valid list",
    ),
    (
        "messages is not empty",
        body(messages=[]),
        400,
        "invalid_request_error",
        "messages: at least one message is required",
    ),
    (
        "a message has a role",
        body(messages=[{"content": "Hi"}]),
        400,
        "invalid_request_error",
        "messages.0.role: Field required",
    ),
    (
        "a message has content",
        body(messages=[{"role": "user"}]),
        400,
        "invalid_request_error",
        "messages.0.content: Field required",
    ),
    (
        "roles are user or assistant",
        body(messages=[{"role": "human", "content": "Hi"}]),
        400,
        "invalid_request_error",
        # The SDK's MessageParam admits role "system" too (api-facts §2.4).
        "messages.0.role: Input should be 'user', 'assistant' or 'system'",
    ),
    (
        "a system role mid-conversation needs a 4.8 or later model",
        body(
            model="claude-haiku-4-5",
            messages=[{"role": "user", "content": "Hi"}, {"role": "system", "content": "Be brief"}],
        ),
        400,
        "invalid_request_error",
        "role 'system' is not supported on this model",
    ),
    (
        "content is not empty",
        body(messages=[{"role": "user", "content": ""}]),
        400,
        "invalid_request_error",
        "messages.0: all messages must have non-empty content",
    ),
    (
        "content blocks have a known type",
        body(messages=[{"role": "user", "content": [{"type": "audio", "data": "..."}]}]),
        400,
        "invalid_request_error",
        "messages.0.content.0: Input tag 'audio' found using 'type' does not match",
    ),
    (
        "text blocks are not empty",
        body(messages=[{"role": "user", "content": [{"type": "text", "text": ""}]}]),
        400,
        "invalid_request_error",
        "text content blocks must be non-empty",
    ),
    (
        "newer models refuse an assistant prefill",
        body(messages=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "{"}]),
        400,
        "invalid_request_error",
        "This model does not support assistant message prefill",
    ),
    (
        "system is a string or a list of text blocks",
        body(system={"text": "Be brief"}),
        400,
        "invalid_request_error",
        "system: Input should be a valid string or a list of text blocks",
    ),
    (
        "system blocks are text blocks",
        body(system=[{"type": "image", "source": {}}]),
        400,
        "invalid_request_error",
        "system.0.type: Input should be 'text'",
    ),
    (
        "stream is a boolean",
        body(stream="yes"),
        400,
        "invalid_request_error",
        "stream: Input should be a valid boolean",
    ),
    (
        "stop_sequences is a list",
        body(stop_sequences="###"),
        400,
        "invalid_request_error",
        "stop_sequences: Input should be a valid list of strings",
    ),
    (
        "stop sequences are strings",
        body(stop_sequences=["###", 3]),
        400,
        "invalid_request_error",
        "stop_sequences.1: Input should be a valid string",
    ),
    (
        "at most four cache breakpoints",
        body(system=[cached(f"{LONG} {n}") for n in range(5)]),
        400,
        "invalid_request_error",
        "A maximum of 4 blocks with cache_control may be provided. Found 5.",
    ),
    (
        "automatic caching needs a free slot",
        body(system=[cached(f"{LONG} {n}") for n in range(4)], cache_control={"type": "ephemeral"}),
        400,
        "invalid_request_error",
        "no slots left",
    ),
    (
        "cache_control is ephemeral",
        body(system=[{"type": "text", "text": LONG, "cache_control": {"type": "persistent"}}]),
        400,
        "invalid_request_error",
        "system.0.cache_control.type: Input should be 'ephemeral'",
    ),
    (
        "the ttl is 5m or 1h",
        body(system=[cached(LONG, ttl="10m")]),
        400,
        "invalid_request_error",
        "Input should be '5m' or '1h'",
    ),
    (
        "longer-lived breakpoints come first",
        body(system=[cached(LONG, "5m"), cached(LONG + "more", "1h")]),
        400,
        "invalid_request_error",
        "a ttl='1h' breakpoint must not come after a ttl='5m' breakpoint",
    ),
    (
        "metadata holds only user_id",
        body(metadata={"user_id": "u-1", "email": "a@b.c"}),
        400,
        "invalid_request_error",
        "metadata.email: Extra inputs are not permitted",
    ),
    (
        "an unknown model is not found",
        body(model="claude-haiku-3-5"),
        404,
        "not_found_error",
        "model: claude-haiku-3-5",
    ),
    (
        "a retired model is not found",
        body(model="claude-3-5-haiku-20241022", max_tokens=100),
        404,
        "not_found_error",
        "model: claude-3-5-haiku-20241022 (retired on 2026-02-19)",
    ),
    (
        "the body is a JSON object",
        ["not", "an", "object"],
        400,
        "invalid_request_error",
        "The request body must be a JSON object",
    ),
]


@pytest.mark.parametrize(
    ("rule", "request_body", "status", "error_type", "message"),
    BROKEN,
    ids=[case[0] for case in BROKEN],
)
def test_it_answers_a_request_that_breaks_a_rule_with_the_apis_error(
    rule: str, request_body: Any, status: int, error_type: str, message: str
) -> None:
    error = validator.validate(request_body, model_data())
    assert error is not None, rule
    assert (error.status, error.type) == (status, error_type)
    assert message in error.message
    assert error.body("req_1") == {
        "type": "error",
        "error": {"type": error_type, "message": error.message},
        "request_id": "req_1",
    }


ACCEPTED = [
    ("the smallest request", body()),
    ("max_tokens 0 only warms the cache", body(max_tokens=0)),
    (
        "consecutive same-role turns are merged, not refused",
        body(messages=[{"role": "user", "content": "Hi"}, {"role": "user", "content": "Again"}]),
    ),
    (
        "content as a list of blocks",
        body(messages=[{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]),
    ),
    ("system as a string", body(system="Answer in French.")),
    ("four breakpoints", body(system=[cached(f"{LONG} {n}") for n in range(4)])),
    ("a 1h breakpoint before a 5m one", body(system=[cached(LONG, "1h"), cached(LONG + "x")])),
    ("stop sequences and a stream", body(stop_sequences=["###"], stream=True)),
    ("top-level automatic caching", body(cache_control={"type": "ephemeral"})),
    (
        "a prefill on a model older than 4.6",
        body(
            model="claude-haiku-4-5",
            messages=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "{"}],
        ),
    ),
    (
        "a paused server-tool turn sent back to continue it (pause_turn)",
        body(
            messages=[
                {"role": "user", "content": "Search the docs"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Searching."},
                        {
                            "type": "server_tool_use",
                            "id": "srvtoolu_1",
                            "name": "web_search",
                            "input": {"query": "stop reasons"},
                        },
                    ],
                },
            ]
        ),
    ),
    (
        "a system message mid-conversation on Opus 5.5",
        body(
            model="claude-opus-5-5",
            messages=[{"role": "user", "content": "Hi"}, {"role": "system", "content": "Short"}],
        ),
    ),
]


@pytest.mark.parametrize(("case", "request_body"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_it_accepts_what_the_api_accepts(case: str, request_body: dict) -> None:
    assert validator.validate(request_body, model_data()) is None, case


def test_sampling_parameters_pass_on_the_older_api_version_for_older_models() -> None:
    older = body(model="claude-haiku-4-5", temperature=0.2)
    assert validator.validate(older, model_data(), "2023-06-01") is None


def test_newer_models_refuse_sampling_parameters_even_on_the_older_api_version() -> None:
    # api-facts §2.3: Haiku 5.5 (like Opus 4.7 and later) refuses a non-default temperature.
    error = validator.validate(body(temperature=0.2), model_data(), "2023-06-01")
    assert error is not None
    assert error.message == "temperature: `temperature` is deprecated for this model"


# What this site refuses although the API would accept it (policy.py), told apart by `source`.
SITE = [
    ("a model outside the allow-list", body(model="claude-opus-5-5"), 403, "only"),
    ("max_tokens over the site's cap", body(max_tokens=5000), 400, "at most 1,024"),
    (
        "server tools",
        body(tools=[{"type": "web_search_20250305", "name": "web_search"}]),
        400,
        "server tools",
    ),
]


@pytest.mark.parametrize(
    ("case", "request_body", "status", "fragment"), SITE, ids=[c[0] for c in SITE]
)
def test_the_site_policy_refuses_what_the_sandbox_will_not_run(
    case: str, request_body: dict, status: int, fragment: str
) -> None:
    assert validator.validate(request_body, model_data()) is None, case
    error = policy.check(request_body, model_data(), live_mode=True)
    assert error is not None
    assert error.status == status
    assert fragment in error.message
    assert error.as_error()["source"] == "sandbox"


def test_a_body_over_the_sites_size_cap_is_413(settings) -> None:
    settings.SANDBOX_MAX_BODY_BYTES = 100
    error = policy.body_too_large(101)
    assert (error.status, error.type) == (413, "request_too_large")
    assert policy.body_too_large(100) is None


# -- totality: any JSON value anywhere gets an answer, never an exception ------------------------

DEEP_LIST: Any = []
for _ in range(2000):
    DEEP_LIST = [DEEP_LIST]
ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 10**100, -(10**100), 1.5, float("nan"), float("inf"), "", "x",
    "claude-haiku-5-5", [], [None], ["a", 1, {}], {}, {"type": "text"}, {"type": ["text"]},
    {"type": {"a": 1}}, {"role": "user"}, DEEP_LIST, {"a": DEEP_LIST},
]  # fmt: skip


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    result = copy.copy(value)
    result[path[0]] = _replaced(value[path[0]], path[1:], new)
    return result


def test_every_odd_value_anywhere_in_a_valid_request_gets_an_answer_not_an_exception() -> None:
    from tests.conformance.table import rows

    models = model_data()
    valid = [row.body for row in rows() if row.api.status == 200]
    checked = 0
    for request in valid:
        for path in _paths(request):
            for odd in ODD_VALUES:
                error = validator.validate(_replaced(request, path, odd), models)
                assert error is None or isinstance(error, validator.ApiError)
                assert error is None or validator.UNCHECKED not in error.message, (path, odd)
                checked += 1
    assert checked > 10_000


@pytest.mark.parametrize("odd", ODD_VALUES, ids=[f"odd-{n}" for n in range(len(ODD_VALUES))])
def test_an_odd_body_gets_a_400(odd: Any) -> None:
    error = validator.validate(odd, model_data())
    assert error is not None and error.status == 400


@pytest.mark.parametrize("name", ["tools", "system", "messages", "thinking", "tool_choice"])
def test_an_odd_value_in_a_top_level_field_names_that_field(name: str) -> None:
    error = validator.validate(body(**{name: 42}), model_data())
    assert error is not None and error.message.startswith(f"{name}: ")


# -- model IDs as the API resolves them ----------------------------------------------------------


def test_a_dated_snapshot_resolves_to_the_model_its_alias_names() -> None:
    from course.sandbox.validator.models import resolve

    resolved = resolve("claude-haiku-4-5-20251001", model_data())
    assert resolved is not None and resolved.id == "claude-haiku-4-5"
    assert resolved.info is model_data().get("claude-haiku-4-5")


def test_a_dated_snapshot_is_held_to_its_models_output_limit() -> None:
    error = validator.validate(
        body(model="claude-haiku-4-5-20251001", max_tokens=64_001), model_data()
    )
    assert error is not None and "64001 > 64000" in error.message


def test_a_model_only_the_sdk_knows_is_a_real_model_the_sandbox_does_not_offer() -> None:
    request = body(model="claude-fable-5-2")
    assert validator.validate(request, model_data()) is None
    error = policy.check(request, model_data(), live_mode=False)
    assert (error.status, error.type, error.source) == (403, "permission_error", "sandbox")
    assert "this sandbox runs only claude-haiku-5-5, claude-sonnet-5-5" in error.message


def test_a_model_nobody_knows_is_the_apis_404_not_the_sites_403() -> None:
    error = validator.validate(body(model="claude-haiku-3-5"), model_data())
    assert (error.status, error.type, error.message) == (
        404,
        "not_found_error",
        "model: claude-haiku-3-5",
    )


def test_the_sites_max_tokens_cap_applies_in_live_mode_only(settings) -> None:
    request = body(max_tokens=settings.SANDBOX_MAX_TOKENS + 1)
    assert policy.check(request, model_data(), live_mode=False) is None
    assert policy.check(request, model_data(), live_mode=True) is not None
    settings.SANDBOX_MODE = "live"
    assert policy.check(request, model_data()) is not None
    settings.SANDBOX_MODE = "simulator"
    assert policy.check(request, model_data()) is None


def test_a_thinking_budget_over_the_sites_cap_runs_in_the_simulator(settings) -> None:
    request = body(max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 2048})
    settings.SANDBOX_MODE = "simulator"
    assert validator.validate(request, model_data()) is None
    assert policy.check(request, model_data()) is None


def test_every_request_type_the_sdk_defines_is_read_and_every_block_union_is_tagged() -> None:
    import typing

    from anthropic.types.message_create_params import MessageCreateParamsBase
    from typing_extensions import is_typeddict

    from course.sandbox.validator import shapes

    seen: set[Any] = set()
    pending: list[Any] = [MessageCreateParamsBase]
    untagged = []
    while pending:
        hint = pending.pop()
        if hint in seen:
            continue
        seen.add(hint)
        if is_typeddict(hint):
            pending += list(shapes.fields(hint)[0].values())
            continue
        members = shapes._union_members(hint)
        if members is not None:
            typed = tuple(m for m in members if is_typeddict(m))
            if len(typed) > 1 and len(typed) == len(members) and shapes.tags(typed) is None:
                untagged.append(hint)
            pending += list(members)
        else:
            pending += list(typing.get_args(hint))
    assert len([h for h in seen if is_typeddict(h)]) > 100
    assert untagged == []


@pytest.mark.parametrize("name", ["temperature", "top_p", "top_k"])
def test_an_odd_sampling_value_on_the_older_api_version_gets_an_answer(name: str) -> None:
    for model in ("claude-haiku-4-5", MODEL):
        for odd in ODD_VALUES:
            request = {**body(model=model), name: odd}
            error = validator.validate(request, model_data(), "2023-06-01")
            assert error is None or validator.UNCHECKED not in error.message, (model, odd)
