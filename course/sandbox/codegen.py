"""Turn a sandbox request body into runnable Python (the official SDK) and curl, key left out."""

from __future__ import annotations

import inspect
import json
import shlex
from dataclasses import dataclass
from functools import cache
from typing import Any

from anthropic.resources.messages import Messages

# The SDK's own defaults fill these in; the snippets name them so a copied curl behaves the same.
# Like the SDK, the curl reads ANTHROPIC_BASE_URL, so both run against `make simulator` too.
API_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2026-10-21"
INDENT = "    "


@dataclass(frozen=True)
class Snippets:
    python: str
    curl: str


def _python_literal(value: Any, depth: int) -> str:
    """Format JSON data as Python source: True/False/None, trailing commas, black-like indents."""
    if value is None or isinstance(value, bool):
        return {None: "None", True: "True", False: "False"}[value]
    if isinstance(value, int | float | str):
        # JSON's string escapes are valid Python escapes, so json.dumps gives a Python literal.
        return json.dumps(value, ensure_ascii=False)
    inner = INDENT * (depth + 1)
    if isinstance(value, list):
        if not value:
            return "[]"
        items = [f"{inner}{_python_literal(item, depth + 1)}," for item in value]
        return "[\n" + "\n".join(items) + f"\n{INDENT * depth}]"
    if not value:
        return "{}"
    items = [
        f"{inner}{json.dumps(key, ensure_ascii=False)}: {_python_literal(item, depth + 1)},"
        for key, item in value.items()
    ]
    return "{\n" + "\n".join(items) + f"\n{INDENT * depth}}}"


# create() sends these as headers (anthropic-workspace-id, anthropic-user-profile-id): in a
# body they are body fields, so they go through extra_body like any other unknown key.
SDK_HEADER_PARAMETERS = {"workspace_id", "user_profile_id"}


@cache
def _sdk_parameters() -> frozenset[str]:
    parameters = set(inspect.signature(Messages.create).parameters)
    return frozenset(parameters - {"self", "stream", *SDK_HEADER_PARAMETERS})


def sdk_arguments(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The body as the SDK's keyword arguments, and the rest for its `extra_body`."""
    # The SDK takes what it knows as keywords; anything else (temperature, which SDK 1.0 removed,
    # or a typo) still reaches the API through extra_body, so the snippet shows the API's answer.
    known = {key: value for key, value in body.items() if key in _sdk_parameters()}
    return known, {key: value for key, value in body.items() if key not in known}


def _keyword_arguments(body: dict[str, Any]) -> str:
    known, extra = sdk_arguments(body)
    lines = [f"{INDENT}{key}={_python_literal(value, 1)}," for key, value in known.items()]
    if extra:
        lines.append(f"{INDENT}extra_body={_python_literal(extra, 1)},")
    return "\n".join(lines)


def python(body: dict[str, Any]) -> str:
    body = dict(body)
    streamed = body.pop("stream", False) is True
    header = (
        "import anthropic\n\n"
        "# The client reads ANTHROPIC_API_KEY from the environment.\n"
        "client = anthropic.Anthropic()\n\n"
    )
    arguments = _keyword_arguments(body)
    if streamed:
        return (
            f"{header}with client.messages.stream(\n{arguments}\n) as stream:\n"
            f"{INDENT}for text in stream.text_stream:\n"
            f'{INDENT * 2}print(text, end="", flush=True)\n'
            f"{INDENT}message = stream.get_final_message()\n\n"
            "print()\n"
            "print(message.stop_reason, message.usage)\n"
        )
    return (
        f"{header}message = client.messages.create(\n{arguments}\n)\n\n"
        "for block in message.content:\n"
        f'{INDENT}if block.type == "text":\n'
        f"{INDENT * 2}print(block.text)\n"
        "print(message.stop_reason, message.usage)\n"
    )


def curl(body: dict[str, Any]) -> str:
    data = json.dumps(body, indent=2, ensure_ascii=False)
    lines = [
        f'curl "${{ANTHROPIC_BASE_URL:-{API_BASE_URL}}}/v1/messages"',
        '  --header "x-api-key: $ANTHROPIC_API_KEY"',
        f'  --header "anthropic-version: {API_VERSION}"',
        '  --header "content-type: application/json"',
    ]
    if body.get("stream") is True:
        lines.append("  --no-buffer")
    lines.append(f"  --data {shlex.quote(data)}")
    return " \\\n".join(lines) + "\n"


def snippets(body: dict[str, Any]) -> Snippets:
    return Snippets(python=python(body), curl=curl(body))
