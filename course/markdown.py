"""Markdown to HTML for lessons and tutor replies: CommonMark + tables, Pygments, no raw HTML."""

from __future__ import annotations

from functools import cache
from html import escape

import nh3
import yaml
from markdown_it import MarkdownIt
from mdit_py_plugins.anchors import anchors_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

# nowrap: markdown-it keeps a highlighter's output as-is only when it starts with "<pre", so a
# wrapped Pygments block would end up nested inside another <pre><code>.
_FORMATTER = HtmlFormatter(nowrap=True)


def _highlight(code: str, lang: str, _attrs: str) -> str:
    try:
        lexer = get_lexer_by_name(lang or "text")
    except ClassNotFound:
        return ""  # markdown-it escapes and wraps the code itself
    return highlight(code, lexer, _FORMATTER)


def _fence(self, tokens, idx, options, env) -> str:
    """In a lesson, an ```exercise block becomes the slot the sandbox widget fills."""
    token = tokens[idx]
    if token.info.strip() != "exercise" or not env.get("exercise_slots"):
        return self.fence(tokens, idx, options, env)
    try:
        ident = (yaml.safe_load(token.content) or {}).get("id", "")
    except (yaml.YAMLError, AttributeError):
        ident = ""
    return f'<div class="exercise-slot" data-exercise="{escape(str(ident))}"></div>\n'


@cache
def markdown() -> MarkdownIt:
    # Raw HTML stays text even in our own lessons: one rule for every Markdown source.
    md = MarkdownIt("commonmark", {"html": False, "highlight": _highlight, "linkify": False})
    md.enable("table").enable("strikethrough")
    md.add_render_rule("fence", _fence)
    return md.use(anchors_plugin, min_level=2, max_level=3, permalink=True, permalinkSymbol="#")


def render(source: str) -> str:
    return markdown().render(source)


_REPLY_TAGS = (nh3.ALLOWED_TAGS - {"img"}) | {"span", "pre", "code", "sup", "section", "del"}
_REPLY_ATTRIBUTES = {
    **{tag: set() for tag in _REPLY_TAGS},
    "a": {"href", "title"},
    "span": {"class"},
    "code": {"class"},
    "pre": {"class"},
    "th": {"style"},
    "td": {"style"},
}


def render_untrusted(source: str) -> str:
    """Render model output: Markdown with raw HTML off, then an allow-list sanitizer.

    Images are dropped so that a reply cannot make the browser fetch an outside URL.
    """
    html = markdown().render(source)
    return nh3.clean(
        html,
        tags=_REPLY_TAGS,
        attributes=_REPLY_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        filter_style_properties={"text-align"},
    )
