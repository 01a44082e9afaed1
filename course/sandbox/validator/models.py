"""Model IDs as the API resolves them: the data file's IDs and dated snapshots, the SDK's list.

Docs: https://platform.claude.com/docs/en/about-claude/models/overview (IDs and aliases) and
../shared/course/api-facts.md §6.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass

from anthropic.types import Model

from course.model_catalogue import ModelData, ModelInfo

MODEL_ID_RE = re.compile(
    r"^claude-(?P<family>[a-z]+)-(?P<major>\d)(?:-(?P<minor>\d))?(?:-(?P<date>\d{8}))?$"
)


def _sdk_ids() -> frozenset[str]:
    """The model IDs the installed SDK's `Model` type names (a Literal inside a union)."""
    found: set[str] = set()
    pending = [Model]
    while pending:
        hint = pending.pop()
        if typing.get_origin(hint) is typing.Literal:
            found.update(v for v in typing.get_args(hint) if isinstance(v, str))
        else:
            pending.extend(typing.get_args(hint))
    return frozenset(found)


SDK_MODEL_IDS = _sdk_ids()


@dataclass(frozen=True)
class Resolved:
    """What a model ID names: the data file's entry (if any), and the canonical ID."""

    id: str
    info: ModelInfo | None

    @property
    def generation(self) -> tuple[int, int] | None:
        return generation(self.id)


def generation(model_id: str) -> tuple[int, int] | None:
    """(major, minor) of a Claude model ID, e.g. claude-opus-4-6 -> (4, 6); None if unknown."""
    match = MODEL_ID_RE.match(model_id)
    if not match:
        return None
    return int(match.group("major")), int(match.group("minor") or 0)


def resolve(model_id: str, models: ModelData) -> Resolved | None:
    """The model an ID names, as the API resolves it; None when the API knows no such model.

    An alias and its dated snapshot (the data file's `snapshot`) name the same model; an ID the
    installed SDK lists but the data file does not is a real model the course has no figures for.
    """
    info = models.get(model_id) or next(
        (m for m in models.models if m.snapshot and m.snapshot == model_id), None
    )
    if info is not None:
        return Resolved(info.id, info)
    if model_id in SDK_MODEL_IDS:
        return Resolved(model_id, None)
    return None
