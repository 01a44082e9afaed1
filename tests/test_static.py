from __future__ import annotations

from pathlib import Path

from pygments.formatters import HtmlFormatter

CSS = Path(__file__).resolve().parent.parent / "static" / "css" / "pygments.css"


def test_the_highlighting_css_covers_both_colour_schemes():
    css = CSS.read_text()
    light = HtmlFormatter(style="friendly").get_style_defs("pre code")
    dark = HtmlFormatter(style="github-dark").get_style_defs("pre code")
    assert light.splitlines()[-1] in css
    assert "@media (prefers-color-scheme: dark)" in css and dark.splitlines()[-1] in css
