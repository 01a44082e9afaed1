"""Wide tables and code blocks that work at every width: markdown-it rules for both sources.

Every table sits in a labelled, keyboard-focusable scroller (so it scrolls without a mouse and
screen readers can name it), and each body cell carries its column's name in `data-label`, which
the phone layout shows when a table turns into one card per row. Code blocks are focusable too:
a `pre` that scrolls sideways must be reachable from the keyboard (WCAG 2.1.1).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

# The first columns of the generated models table (course/model_catalogue.py): it gets a layout of
# its own on phones, one card per model with the prices first.
MODELS_TABLE_COLUMNS = ("Model", "API ID")
_MARKUP = re.compile(r"[`*_]")


def _plain(inline: Token) -> str:
    return _MARKUP.sub("", inline.content).strip()


def _label_tables(state: StateCore) -> None:
    tokens = state.tokens
    heading = ""
    table: Token | None = None
    columns: list[str] = []
    column = 0
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            heading = _plain(tokens[index + 1])
        elif token.type == "table_open":
            table, columns = token, []
        elif token.type == "th_open":
            columns.append(_plain(tokens[index + 1]))
        elif token.type == "thead_close" and table is not None:
            table.meta["label"] = f"Table: {heading}" if heading else "Table"
            if tuple(columns[: len(MODELS_TABLE_COLUMNS)]) == MODELS_TABLE_COLUMNS:
                table.attrSet("class", "table-models")
        elif token.type == "tr_open":
            column = 0
        elif token.type == "td_open":
            if column < len(columns) and columns[column]:
                token.attrSet("data-label", columns[column])
            column += 1


def _table_open(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    label = escapeHtml(tokens[idx].meta.get("label", "Table"))
    return (
        f'<div class="table-frame"><div class="table-scroll" tabindex="0" role="region" '
        f'aria-label="{label}">' + renderer.renderToken(tokens, idx, options, env)
    )


def _table_close(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return renderer.renderToken(tokens, idx, options, env) + "</div></div>\n"


def blocks_plugin(md: MarkdownIt) -> None:
    md.core.ruler.push("label_tables", _label_tables)
    md.add_render_rule("table_open", _table_open)
    md.add_render_rule("table_close", _table_close)
    fence = md.renderer.rules["fence"]

    def focusable_fence(
        renderer: RendererHTML,
        tokens: Sequence[Token],
        idx: int,
        options: OptionsDict,
        env: EnvType,
    ) -> str:
        return fence(tokens, idx, options, env).replace("<pre", '<pre tabindex="0"', 1)

    md.add_render_rule("fence", focusable_fence)
