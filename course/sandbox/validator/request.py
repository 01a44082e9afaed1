"""What the hand-written rules look at: a structurally valid body, its model and API version."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from course.sandbox.validator.models import Resolved, generation

API_VERSION = "2026-10-21"  # the version the SDK pins (anthropic 2.x): no sampling parameters


@dataclass(frozen=True)
class Request:
    """A body that already fits the SDK's types, so every field has its documented shape."""

    body: dict[str, Any]
    model: Resolved | None  # None when no model data was given (or the ID is unknown)
    version: str = API_VERSION

    @property
    def model_id(self) -> str:
        return self.model.id if self.model else self.body["model"]

    @property
    def generation(self) -> tuple[int, int] | None:
        return generation(self.model_id)

    @property
    def family(self) -> str:
        parts = self.model_id.split("-")
        return parts[1] if len(parts) > 1 else ""

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body["messages"]

    @property
    def tools(self) -> list[dict[str, Any]]:
        return self.body.get("tools") or []

    @property
    def thinking_type(self) -> str | None:
        thinking = self.body.get("thinking")
        return thinking["type"] if thinking else None


def blocks(content: Any) -> list[dict[str, Any]]:
    """A message's content as blocks (a string is one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content


def nested(block: dict[str, Any]) -> list[dict[str, Any]]:
    """The blocks inside a block (a tool_result's content)."""
    content = block.get("content") if block.get("type") == "tool_result" else None
    return content if isinstance(content, list) else []


def every_block(req: Request) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, block) for every block that can carry cache_control, in prefix order."""
    for index, tool in enumerate(req.tools):
        yield f"tools.{index}", tool
    system = req.body.get("system")
    for index, block in enumerate(system if isinstance(system, list) else []):
        yield f"system.{index}", block
    for m, message in enumerate(req.messages):
        if isinstance(message["content"], str):
            continue
        for b, block in enumerate(message["content"]):
            yield f"messages.{m}.content.{b}", block
            for n, inner in enumerate(nested(block)):
                yield f"messages.{m}.content.{b}.content.{n}", inner
