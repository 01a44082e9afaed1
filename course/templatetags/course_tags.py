from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from course.markdown import markdown

register = template.Library()


@register.filter
def inline_markdown(text: str) -> SafeString:
    """Render `code` and *emphasis* in quiz text; raw HTML stays escaped (html is off)."""
    return mark_safe(markdown().renderInline(text))  # noqa: S308
