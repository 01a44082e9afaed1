"""The conformance table (requests.yaml): its rows, loaded and checked once for every runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TABLE = Path(__file__).with_name("requests.yaml")
DEFAULT_VERSION = "2026-10-21"
KEYS = {
    "name", "body", "version", "status", "error_type", "path", "message", "sandbox", "source",
    "unsettled", "expect",
}  # fmt: skip
EXPECT_KEYS = {
    "stop_reason", "content_types", "tool_use_name", "tool_use_count", "tool_input_valid",
    "json_valid_against_schema", "stop_sequence", "thinking_signature", "text_contains",
}  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    status: int
    error_type: str = ""
    path: str = ""
    message: str = ""


@dataclass(frozen=True)
class Row:
    name: str
    body: Any
    api: Verdict
    source: str
    version: str = DEFAULT_VERSION
    sandbox: Verdict | None = None
    unsettled: str = ""
    expect: dict[str, Any] = field(default_factory=dict)

    @property
    def site(self) -> Verdict:
        """What the sandbox answers in simulator mode: the API's verdict unless the site differs."""
        return self.sandbox or self.api

    @property
    def test_id(self) -> str:
        return f"{self.name} [unsettled]" if self.unsettled else self.name


def _row(raw: dict[str, Any]) -> Row:
    name = raw.get("name", "?")
    unknown = set(raw) - KEYS
    if unknown:
        raise ValueError(f"{TABLE.name}: row {name}: unknown keys {sorted(unknown)}")
    if not raw.get("source") and not raw.get("unsettled"):
        raise ValueError(f"{TABLE.name}: row {name}: needs a source or an unsettled reason")
    expect = raw.get("expect") or {}
    if set(expect) - EXPECT_KEYS:
        raise ValueError(
            f"{TABLE.name}: row {name}: unknown expect keys {set(expect) - EXPECT_KEYS}"
        )
    if expect and raw["status"] != 200:
        raise ValueError(f"{TABLE.name}: row {name}: expect is for 200 rows only")
    if raw["status"] != 200 and not raw.get("error_type"):
        raise ValueError(f"{TABLE.name}: row {name}: an error row needs error_type")
    sandbox = raw.get("sandbox")
    return Row(
        name=name,
        body=raw["body"],
        api=Verdict(
            raw["status"], raw.get("error_type", ""), raw.get("path", ""), raw.get("message", "")
        ),
        source=str(raw.get("source", "")),
        version=str(raw.get("version", DEFAULT_VERSION)),
        sandbox=Verdict(**sandbox) if sandbox else None,
        unsettled=str(raw.get("unsettled", "")),
        expect=expect,
    )


def rows() -> list[Row]:
    """Every row of the table, in file order; raises on a malformed row or a repeated name."""
    loaded = [_row(raw) for raw in yaml.safe_load(TABLE.read_text())]
    names = [row.name for row in loaded]
    repeated = {name for name in names if names.count(name) > 1}
    if repeated:
        raise ValueError(f"{TABLE.name}: repeated row names {sorted(repeated)}")
    return loaded
