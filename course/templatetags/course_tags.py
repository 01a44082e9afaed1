from __future__ import annotations

from django import template
from django.conf import settings
from django.utils.safestring import SafeString, mark_safe

from course import allowance, model_catalogue
from course.markdown import markdown

register = template.Library()


@register.filter
def inline_markdown(text: str) -> SafeString:
    """Render `code` and *emphasis* in quiz text; raw HTML stays escaped (html is off)."""
    return mark_safe(markdown().renderInline(text))  # noqa: S308


@register.simple_tag
def site_spend() -> dict:
    """Today's spend on Claude against the site's daily ceiling, for the admin index."""
    spent, limit = allowance.spent_today(), settings.SITE_DAILY_SPEND_LIMIT
    return {
        "spent": model_catalogue.dollars(spent),
        "limit": model_catalogue.dollars(limit) if limit is not None else None,
        "reached": limit is not None and spent >= limit,
    }
