"""The Claude models the course knows (lessons/models.yaml), what a call costs, and how many
tokens a text is estimated at: the one place for each.

A model's status follows the calendar: from its `retires` date on it is retired, with no edit to
the file. The file is parsed once per version (`FileCache`); `ModelInfo.status` and `.usable`
compare the parsed dates with `today()` on every read.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from course.filecache import FileCache

STATUSES = ("current", "legacy", "deprecated", "retired")
PRICE_FIELDS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
# The token counts a call is priced by, named as the tutor's Message records them. The API counts
# every cache write in `cache_creation_input_tokens` and the one-hour ones again in
# `cache_creation.ephemeral_1h_input_tokens`, recorded here as `cache_creation_1h_input_tokens`.
TOKEN_COUNTS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_creation_1h_input_tokens",
    "cache_read_input_tokens",
)
MILLION = Decimal(1_000_000)

# Anthropic's own course says about 3.5 English characters per token, and the newer tokenizer
# (Claude 4.7 and later, Haiku 5.5 among them) gives about 30% more tokens, about 2.7 characters
# each (../shared/course/api-facts.md, section 7). 3 sits between the two: high for the older
# models, close for the newer ones. The tutor's prompt and history budgets, the instructor's
# preview and the sandbox's simulator all count with it, so they agree about the same text.
CHARS_PER_TOKEN = 3


def estimate_tokens(text: str) -> int:
    """The tokens `text` is estimated at where nothing counts them: at least one."""
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


class ModelDataError(ValueError):
    pass


def today() -> dt.date:
    """The day lifecycles are judged on: settings.COURSE_TODAY (tests pin it), else today in UTC."""
    return settings.COURSE_TODAY or dt.datetime.now(dt.UTC).date()


@dataclass(frozen=True)
class ModelInfo:
    id: str
    name: str
    tier: str
    listed_status: str  # as written in the file; `status` also applies the dates
    context_window: int
    max_output: int
    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal
    min_cache_tokens: int | None
    notes: str = ""
    snapshot: str = ""  # the dated ID an undated alias points to (up to the 4.5 generation)
    retires: dt.date | None = None  # the announced retirement date
    retired: dt.date | None = None  # the date it was retired, when the file records one

    @property
    def retired_on(self) -> dt.date | None:
        """The day it retired: the recorded date, or a `retires` date that has come."""
        if self.retired:
            return self.retired
        if self.retires and self.retires <= today():
            return self.retires
        return None

    @property
    def status(self) -> str:
        """current | legacy | deprecated | retired, as of `today()`."""
        return "retired" if self.retired_on else self.listed_status

    @property
    def usable(self) -> bool:
        """Requests naming it still work today."""
        return self.status != "retired"

    def lifecycle(self) -> str:
        """Its lifecycle in words that stay true on both sides of its dates."""
        if self.retired_on:
            return f"retired on {self.retired_on:%Y-%m-%d}"
        if self.status == "retired":
            return "retired"
        if self.retires:
            return f"retires on {self.retires:%Y-%m-%d}"
        return self.status

    def rates(self) -> dict[str, Decimal]:
        """Dollars per million of each of `TOKEN_COUNTS`.

        A one-hour write is counted in `cache_creation_input_tokens` as well, at the five-minute
        price, so its own count carries only what it costs on top.
        """
        return {
            "input_tokens": self.input,
            "output_tokens": self.output,
            "cache_creation_input_tokens": self.cache_write_5m,
            "cache_creation_1h_input_tokens": self.cache_write_1h - self.cache_write_5m,
            "cache_read_input_tokens": self.cache_read,
        }

    def cost(self, counts: Mapping[str, int]) -> Decimal:
        """Dollars for a call with these `TOKEN_COUNTS` (as `token_counts` makes them)."""
        total = sum((counts[name] * rate for name, rate in self.rates().items()), Decimal(0))
        return total / MILLION


@dataclass(frozen=True)
class ModelData:
    verified: dt.date
    source: str
    tutor_default: str
    models: tuple[ModelInfo, ...]
    course_default: str = ""  # the model every lesson example uses
    course_comparison: str = ""  # the one model a lesson may set beside it
    sandbox_models: tuple[str, ...] = ()  # the models learners may pick in the sandbox

    def get(self, model_id: str) -> ModelInfo | None:
        return next((m for m in self.models if m.id == model_id), None)

    def usable(self, model_id: str) -> bool:
        model = self.get(model_id)
        return model is not None and model.usable

    def fallback_model(self) -> str:
        """The model to use when a configured one has retired: the tutor's, else the course's."""
        for model_id in (self.tutor_default, self.course_default):
            if self.usable(model_id):
                return model_id
        return next((m.id for m in self.models if m.status == "current"), self.course_default)

    def passed_since(self, day: dt.date) -> list[ModelInfo]:
        """The models that retired after `day` (a date in the file that has come since)."""
        return [m for m in self.models if m.retired_on and day < m.retired_on]

    def retired_in_use(self) -> list[tuple[str, ModelInfo]]:
        """Each role (tutor_default, sandbox_models, ...) that names a model retired since."""
        roles = [
            ("tutor_default", self.tutor_default),
            ("course_default", self.course_default),
            ("course_comparison", self.course_comparison),
            *(("sandbox_models", model_id) for model_id in self.sandbox_models),
        ]
        return [
            (role, model)
            for role, model_id in roles
            if (model := self.get(model_id)) is not None and not model.usable
        ]

    def lifecycle_key(self) -> tuple[str, ...]:
        """Changes on the day any model's status does (what rendered text depends on)."""
        return tuple(m.status for m in self.models)


def _parse_model(raw: dict, where: str) -> ModelInfo:
    try:
        status = raw["status"]
        if status not in STATUSES:
            raise ModelDataError(f"{where}: status must be one of {', '.join(STATUSES)}")
        prices = {name: Decimal(str(raw[name])) for name in PRICE_FIELDS}
        minimum = raw.get("min_cache_tokens")
        for name in ("retires", "retired"):
            if raw.get(name) is not None and not isinstance(raw[name], dt.date):
                raise ModelDataError(f"{where}: {name!r} must be a date (YYYY-MM-DD)")
        return ModelInfo(
            id=str(raw["id"]),
            name=str(raw["name"]),
            tier=str(raw["tier"]),
            listed_status=status,
            context_window=int(raw["context_window"]),
            max_output=int(raw["max_output"]),
            min_cache_tokens=int(minimum) if minimum is not None else None,
            notes=str(raw.get("notes", "")),
            snapshot=str(raw.get("snapshot", "")),
            retires=raw.get("retires"),
            retired=raw.get("retired"),
            **prices,
        )
    except KeyError as missing:
        raise ModelDataError(f"{where}: missing field {missing}") from None
    except (TypeError, ValueError, ArithmeticError) as error:
        if isinstance(error, ModelDataError):
            raise
        raise ModelDataError(f"{where}: {error}") from None


def parse_model_data(text: str, path: Path) -> ModelData:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        reason = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ModelDataError(f"{where}: not valid YAML: {reason}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), list):
        raise ModelDataError(f"{path}: expected a mapping with a 'models' list")
    models = tuple(
        _parse_model(item, f"{path}: models[{index}]") for index, item in enumerate(raw["models"])
    )
    data = ModelData(
        verified=raw.get("verified"),
        source=str(raw.get("source", "")),
        tutor_default=str(raw.get("tutor_default", "")),
        models=models,
        course_default=str(raw.get("course_default", "")),
        course_comparison=str(raw.get("course_comparison") or ""),
        sandbox_models=_sandbox_models(raw.get("sandbox_models"), models, path),
    )
    if not isinstance(data.verified, dt.date):
        raise ModelDataError(f"{path}: 'verified' must be a date (YYYY-MM-DD)")
    # These hold the file to what it says; a date that passes later is handled where the models
    # are used (`fallback_model`, the sandbox's allow-list) and reported by check_lessons.
    default = data.get(data.tutor_default)
    if default is None or default.listed_status == "retired":
        raise ModelDataError(
            f"{path}: tutor_default must name a model in the file that is not retired"
        )
    # Learners copy the examples: they must run on a model that is neither deprecated nor retired.
    course_default = data.get(data.course_default)
    if course_default is None or course_default.listed_status != "current":
        raise ModelDataError(f"{path}: course_default must name a current model in the file")
    comparison = data.get(data.course_comparison)
    if data.course_comparison and (comparison is None or comparison.listed_status == "retired"):
        raise ModelDataError(
            f"{path}: course_comparison must name a model in the file that is not retired"
        )
    return data


def _sandbox_models(raw: object, models: tuple[ModelInfo, ...], path: Path) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise ModelDataError(f"{path}: sandbox_models must be a list of model IDs")
    usable = {m.id for m in models if m.listed_status != "retired"}
    for item in raw:
        if item not in usable:
            raise ModelDataError(
                f"{path}: sandbox_models: {item!r} is not a model in the file that is not retired"
            )
    return tuple(raw)


_cache: FileCache[ModelData] = FileCache(parse_model_data)


def model_data() -> ModelData:
    return _cache.get(Path(settings.MODELS_FILE))


def token_counts(usage: Mapping[str, Any]) -> dict[str, int]:
    """`TOKEN_COUNTS` from the API's usage object; a missing or malformed count is 0."""
    counts = {name: _count(usage.get(name)) for name in TOKEN_COUNTS}
    created = usage.get("cache_creation")
    one_hour = _count(created.get("ephemeral_1h_input_tokens")) if isinstance(created, dict) else 0
    counts["cache_creation_1h_input_tokens"] = min(one_hour, counts["cache_creation_input_tokens"])
    return counts


def cost(usage: Mapping[str, Any], model: Any) -> Decimal:
    """Dollars for `usage` (the API's usage object) on `model`; 0 for a model the file lacks."""
    if not usage or not isinstance(model, str):
        return Decimal(0)
    try:
        info = model_data().get(model)
    except ModelDataError:
        info = None
    return info.cost(token_counts(usage)) if info is not None else Decimal(0)


def dollars(amount: Decimal) -> str:
    """`$0.0042`: as many places as the amount needs, up to six."""
    text = f"${amount:.6f}".rstrip("0").rstrip(".")
    return text if amount else "$0"


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _money(value: Decimal) -> str:
    """Dollars with cents ($5.00, $0.30), and more places only when the price has them ($0.125)."""
    cents = value.quantize(Decimal("0.01"))
    return f"${cents:f}" if cents == value else f"${value.normalize():f}"


def _tokens(value: int) -> str:
    return f"{value // 1_000_000}M" if value >= 1_000_000 else f"{value // 1000}K"


def models_table_markdown(data: ModelData) -> str:
    """The models table for lesson 3, as Markdown (the tutor reads the same text)."""
    lines = [
        "| Model | API ID | Status | Context | Max output | Input | Output "
        "| Cache write (5 min / 1 h) | Cache read | Min. cacheable |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in data.models:
        status = m.status
        if m.retired_on:
            status += f" ({m.retired_on:%Y-%m-%d})"
        elif m.retires:
            status += f" (retires {m.retires:%Y-%m-%d})"
        minimum = f"{m.min_cache_tokens:,} tokens" if m.min_cache_tokens else "not published"
        lines.append(
            f"| {m.name} | `{m.id}` | {status} | {_tokens(m.context_window)} "
            f"| {_tokens(m.max_output)} | {_money(m.input)} | {_money(m.output)} "
            f"| {_money(m.cache_write_5m)} / {_money(m.cache_write_1h)} | {_money(m.cache_read)} "
            f"| {minimum} |"
        )
    lines += [
        "",
        f"Prices in US dollars per million tokens. Last verified {data.verified:%-d %B %Y} "
        f"against [the official models overview]({data.source}); they change often, so check "
        "before you budget.",
    ]
    notes = [
        f"**{m.name}**: "
        + " ".join(
            part
            for part in (f"`{m.id}` is an alias of `{m.snapshot}`." if m.snapshot else "", m.notes)
            if part
        )
        for m in data.models
        if m.notes or m.snapshot
    ]
    if notes:
        lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines)
