"""Fill `{{ ... }}` placeholders in a lesson with facts from lessons/models.yaml.

Model IDs, prices and per-model figures change every few months; a lesson that types them out
goes stale silently. Lessons print them through placeholders instead, expanded before the
Markdown is parsed, so prose, code blocks and exercise fences all see the same current values:

    {{ model.default.id }}                  the course's default model (course_default)
    {{ model.comparison.name }}             the one labelled comparison model (course_comparison)
    {{ model.claude-haiku-5-5.min_cache_tokens }}   any field of any model in the file
    {{ model.default.context_window | tokens }}     1M / 128K   (formats: tokens, number)
    {{ price default input }}               $0.10 per million tokens, as money
    {{ cost default cache_read 3000 }}      what 3,000 tokens cost at that price, as money
    {{ multiplier claude-opus-5-5 cache_read }}     0.05x: that price over the model's input price
    {{ lifecycle claude-sonnet-4-5 }}       "retires on 2026-11-30", from that day "retired on ..."
    {{ models_table }}                      on a line of its own: the whole table

Inline placeholders never change the number of lines, so every problem found later still points
at the right line of the file. `status` and `lifecycle` follow the calendar
(`model_catalogue.today()`): a sentence that prints them stays true on both sides of a model's
retirement date.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from course.lesson_format import Problem
from course.model_catalogue import (
    PRICE_FIELDS,
    ModelData,
    ModelDataError,
    ModelInfo,
    models_table_markdown,
)

PLACEHOLDER_RE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
MODELS_TABLE = "{{ models_table }}"
NO_MODEL_DATA = "cannot fill placeholders"
ALIASES = ("default", "comparison")
FORMATS = ("tokens", "number")
# `status` is worked out from the dates; the file's own word is `listed_status`.
MODEL_FIELDS = (
    *(name for name in ModelInfo.__dataclass_fields__ if name != "listed_status"),
    "status",
    "retired_on",
)


class PlaceholderError(ValueError):
    pass


class UnknownPlaceholder(PlaceholderError):
    pass


def money(value: Decimal) -> str:
    """Dollars with at least two decimals, more only when the value needs them: $0.125, $3.00."""
    if value == 0:
        return "$0.00"
    places = max(2, -value.normalize().as_tuple().exponent)
    return f"${value:,.{places}f}"


def tokens(value: int) -> str:
    if value >= 1_000_000 and value % 1_000_000 == 0:
        return f"{value // 1_000_000}M"
    if value >= 1000 and value % 1000 == 0:
        return f"{value // 1000}K"
    return f"{value:,}"


def _model(data: ModelData, ref: str) -> ModelInfo:
    model_id = {"default": data.course_default, "comparison": data.course_comparison}.get(ref, ref)
    model = data.get(model_id)
    if model is None:
        if ref == "comparison" and not model_id:
            raise PlaceholderError("models.yaml names no course_comparison model")
        raise PlaceholderError(f"no model {model_id!r} in models.yaml")
    return model


def _plain(value: object) -> str:
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, dt.date):
        return f"{value:%Y-%m-%d}"
    return " ".join(str(value).split())  # one line, so line numbers stay true


def _model_field(data: ModelData, args: str) -> str:
    expression, _, fmt = (part.strip() for part in args.partition("|"))
    parts = expression.split(".")
    if len(parts) != 3:
        raise PlaceholderError("write model.<default|comparison|model-id>.<field>")
    _, ref, name = parts
    model = _model(data, ref)
    if name not in MODEL_FIELDS:
        raise PlaceholderError(f"models have no field {name!r} (fields: {', '.join(MODEL_FIELDS)})")
    value = getattr(model, name)
    if value is None or value == "":
        raise PlaceholderError(f"{model.id} has no {name} in models.yaml")
    if not fmt:
        return _plain(value)
    if fmt not in FORMATS:
        raise PlaceholderError(f"unknown format {fmt!r} (formats: {', '.join(FORMATS)})")
    if not isinstance(value, int):
        raise PlaceholderError(f"format {fmt!r} needs a whole number; {name} is not one")
    return tokens(value) if fmt == "tokens" else f"{value:,}"


def _price_args(data: ModelData, words: list[str], extra: int) -> tuple[ModelInfo, Decimal]:
    if len(words) != 2 + extra or words[1] not in PRICE_FIELDS:
        raise PlaceholderError(f"the price field must be one of {', '.join(PRICE_FIELDS)}")
    model = _model(data, words[0])
    return model, getattr(model, words[1])


def _price(data: ModelData, args: str) -> str:
    return money(_price_args(data, args.split(), 0)[1])


def _cost(data: ModelData, args: str) -> str:
    words = args.split()
    _, price = _price_args(data, words, 1)
    count = words[2].replace(",", "").replace("_", "")
    if not count.isdigit():
        raise PlaceholderError(f"write a token count such as 3,000, not {words[2]!r}")
    return money(price * int(count) / 1_000_000)


def _multiplier(data: ModelData, args: str) -> str:
    model, price = _price_args(data, args.split(), 0)
    return f"{price / model.input:.3f}".rstrip("0").rstrip(".") + "x"


def _lifecycle(data: ModelData, args: str) -> str:
    words = args.split()
    if len(words) != 1:
        raise PlaceholderError("write lifecycle <model>")
    return _model(data, words[0]).lifecycle()


_KINDS: dict[str, Callable[[ModelData, str], str]] = {
    "price": _price,
    "cost": _cost,
    "multiplier": _multiplier,
    "lifecycle": _lifecycle,
}


def render(data: ModelData, placeholder: str) -> str:
    """The text for the inside of one inline placeholder, e.g. `price default input`."""
    if placeholder.startswith("model."):
        return _model_field(data, placeholder)
    kind, _, args = placeholder.partition(" ")
    if kind in _KINDS:
        return _KINDS[kind](data, args)
    raise UnknownPlaceholder(
        "use model.<ref>.<field>, price, cost, multiplier, lifecycle or models_table"
    )


def expand(
    text: str, path: Path, first_line: int, load: Callable[[], ModelData]
) -> tuple[str, list[Problem]]:
    """Fill every inline placeholder in `text`, whose first line is line `first_line` of `path`.

    `{{ models_table }}` is only checked here (it must stand on its own line); `insert_tables`
    fills it once the rest of the checks, which count lines, are done. `load` is only called when
    there is a placeholder, so a lesson without any does not depend on the model data file.
    """
    problems: list[Problem] = []
    if "{{" not in text:
        return text, problems
    try:
        data = load()
    except (ModelDataError, OSError) as error:
        line = first_line + text[: text.index("{{")].count("\n")
        return text, [Problem(path, line, f"{NO_MODEL_DATA}: {error}")]
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        number = first_line + index

        def fill(match: re.Match[str], number: int = number, line: str = line) -> str:
            inside = match.group(1)
            if inside == "models_table":
                if line.strip() != MODELS_TABLE:
                    problems.append(
                        Problem(path, number, f"{MODELS_TABLE} must be on a line of its own")
                    )
                return match.group(0)
            try:
                return render(data, inside)
            except UnknownPlaceholder as error:
                message = f"unknown placeholder {match.group(0)!r}: {error}"
            except PlaceholderError as error:
                message = f"placeholder {match.group(0)!r}: {error}"
            problems.append(Problem(path, number, message))
            return match.group(0)

        lines[index] = PLACEHOLDER_RE.sub(fill, line)
    return "".join(lines), problems


def insert_tables(text: str, load: Callable[[], ModelData]) -> str:
    """Replace each `{{ models_table }}` line (already checked by `expand`) with the table."""
    if MODELS_TABLE not in text:
        return text
    return text.replace(MODELS_TABLE, models_table_markdown(load()))


PRICE_RE = re.compile(r"\$\d[\d,]*(?:\.\d+)?")


def literal_facts(text: str, path: Path, load: Callable[[], ModelData]) -> list[Problem]:
    """A problem for each model ID or price typed out instead of printed by a placeholder.

    Placeholders themselves may name a model (`{{ price claude-opus-5-5 input }}`): they are
    removed before looking. Runs over prose, code and front matter alike.
    """
    try:
        data = load()
    except (ModelDataError, OSError):
        return []  # the broken data file is reported on its own
    ids = {m.id: m.id for m in data.models} | {m.snapshot: m.id for m in data.models if m.snapshot}
    id_re = re.compile(
        r"(?<![\w.-])("
        + "|".join(map(re.escape, sorted(ids, key=len, reverse=True)))
        + r")(?![\w-])"
    )
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        bare = PLACEHOLDER_RE.sub(" ", line)
        for match in id_re.finditer(bare):
            model_id = ids[match.group(1)]
            ref = "default" if model_id == data.course_default else model_id
            hint = f"{{{{ model.{ref}.id }}}}"
            if match.group(1) != model_id:
                hint = f"{{{{ model.{model_id}.snapshot }}}}"
            problems.append(
                Problem(
                    path,
                    number,
                    f"literal model ID {match.group(1)!r}: write {hint} so it follows "
                    "lessons/models.yaml",
                )
            )
        for match in PRICE_RE.finditer(bare):
            problems.append(
                Problem(
                    path,
                    number,
                    f"literal price {match.group(0)!r}: print it with "
                    "{{ price <model> <field> }} or {{ cost <model> <field> <tokens> }}",
                )
            )
    return problems
