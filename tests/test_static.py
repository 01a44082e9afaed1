from __future__ import annotations

import re
from pathlib import Path

from pygments.formatters import HtmlFormatter
from pygments.styles import get_style_by_name

STATIC = Path(__file__).resolve().parent.parent / "static" / "css"
CSS = STATIC / "pygments.css"
LIGHT, DARK = "xcode", "github-dark"


def _luminance(colour: str) -> float:
    colour = colour.lstrip("#")
    if len(colour) == 3:
        colour = "".join(c * 2 for c in colour)
    channels = [int(colour[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _code_backgrounds() -> tuple[str, str]:
    light, dark = re.findall(r"--code-bg:\s*(#[0-9a-fA-F]{3,6})", (STATIC / "site.css").read_text())
    return light, dark


def test_the_highlighting_css_covers_both_colour_schemes():
    css = CSS.read_text()
    light = HtmlFormatter(style=LIGHT).get_style_defs("pre code")
    dark = HtmlFormatter(style=DARK).get_style_defs("pre code")
    assert light.splitlines()[-1] in css
    assert "@media (prefers-color-scheme: dark)" in css and dark.splitlines()[-1] in css


def test_every_highlighted_token_meets_wcag_aa_contrast_on_the_code_background():
    for style, background in zip((LIGHT, DARK), _code_backgrounds(), strict=True):
        too_faint = [
            (str(token), spec["color"], round(_contrast(spec["color"], background), 2))
            for token, spec in get_style_by_name(style)
            if spec["color"] and "Whitespace" not in str(token)
            if _contrast(spec["color"], background) < 4.5
        ]
        assert not too_faint, (style, background, too_faint)
