"""The cost of one call to Claude, from its usage and model, at lessons/models.yaml's prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from course.models_data import ModelDataError, model_data

MILLION = Decimal(1_000_000)


def cost(usage: dict[str, Any], model: Any) -> Decimal:
    """Dollars for `usage` (the API's usage object) on `model`; 0 for a model the file lacks.

    Cache writes are priced at their own rates: `cache_creation.ephemeral_1h_input_tokens` at
    the one-hour price, the rest of `cache_creation_input_tokens` at the five-minute price.
    """
    if not usage or not isinstance(model, str):
        return Decimal(0)
    try:
        info = model_data().get(model)
    except ModelDataError:
        info = None
    if info is None:
        return Decimal(0)
    created = usage.get("cache_creation") or {}
    one_hour = _count(created.get("ephemeral_1h_input_tokens"))
    five_min = max(0, _count(usage.get("cache_creation_input_tokens")) - one_hour)
    return (
        info.input * _count(usage.get("input_tokens"))
        + info.cache_write_5m * five_min
        + info.cache_write_1h * one_hour
        + info.cache_read * _count(usage.get("cache_read_input_tokens"))
        + info.output * _count(usage.get("output_tokens"))
    ) / MILLION


def dollars(amount: Decimal) -> str:
    """`$0.0042`: as many places as the amount needs, up to six."""
    text = f"${amount:.6f}".rstrip("0").rstrip(".")
    return text if amount else "$0"


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
