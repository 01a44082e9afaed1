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

from course.markdown_blocks import blocks_plugin

# nowrap: markdown-it keeps a highlighter's output as-is only when it starts with "<pre", so a
# wrapped Pygments block would end up nested inside another <pre><code>.
_FORMATTER = HtmlFormatter(nowrap=True)


def _highlight(code: str, lang: str, _attrs: str) -> str:
    try:
        lexer = get_lexer_by_name(lang or "text")
    except ClassNotFound:
        return ""  # markdown-it escapes and wraps the code itself
    return highlight(code, lexer, _FORMATTER)


def exercise_slots_plugin(md: MarkdownIt) -> None:
    """In a lesson, an ```exercise block becomes the slot the sandbox widget fills."""
    fence = md.renderer.rules["fence"]

    def exercise_or_fence(renderer, tokens, idx, options, env) -> str:
        token = tokens[idx]
        if token.info.strip() != "exercise" or not env.get("exercise_slots"):
            return fence(tokens, idx, options, env)
        try:
            ident = (yaml.safe_load(token.content) or {}).get("id", "")
        except (yaml.YAMLError, AttributeError):
            ident = ""
        return f'<div class="exercise-slot" data-exercise="{escape(str(ident))}"></div>\n'

    md.add_render_rule("fence", exercise_or_fence)


def _commonmark() -> MarkdownIt:
    # Raw HTML stays text even in our own lessons: one rule for every Markdown source.
    md = MarkdownIt("commonmark", {"html": False, "highlight": _highlight, "linkify": False})
    return md.enable("table").enable("strikethrough").use(blocks_plugin)


@cache
def markdown() -> MarkdownIt:
    return (
        _commonmark()
        .use(exercise_slots_plugin)
        .use(anchors_plugin, min_level=2, max_level=3, permalink=True, permalinkSymbol="#")
    )


@cache
def _reply_markdown() -> MarkdownIt:
    # No heading anchors in replies: the sanitizer drops their ids, leaving "#" links to nowhere.
    return _commonmark()


def render(source: str) -> str:
    return markdown().render(source)


_REPLY_TAGS = (nh3.ALLOWED_TAGS - {"img"}) | {"span", "pre", "code", "sup", "section", "del"}
_REPLY_ATTRIBUTES = {
    **{tag: set() for tag in _REPLY_TAGS},
    "a": {"href", "title"},
    "span": {"class"},
    "code": {"class"},
    "pre": {"class", "tabindex"},
    # Only our renderer writes these (raw HTML is off): scrollable, labelled tables.
    "div": {"class", "tabindex", "role", "aria-label"},
    "table": {"class"},
    "th": {"style"},
    "td": {"style", "data-label"},
}


def render_untrusted(source: str) -> str:
    """Render model output: Markdown with raw HTML off, then an allow-list sanitizer.

    Images are dropped so that a reply cannot make the browser fetch an outside URL.
    """
    html = _reply_markdown().render(source)
    return nh3.clean(
        html,
        tags=_REPLY_TAGS,
        attributes=_REPLY_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        filter_style_properties={"text-align"},
    )
