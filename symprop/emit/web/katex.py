"""KaTeX, shipped with symprop and inlined into every page: nothing is fetched when a page is read.

The files are KaTeX's own (``templates/katex/``, see its README for the version and origin),
installed with the templates.  A page carries the script and the style sheet inline, the
style sheet's fonts as ``data:`` URLs: about 700 kB per page, which buys a page that opens
from a mail attachment, a USB stick or a course site without a network and without a folder of
fonts beside it.  Only the WOFF2 fonts are shipped (every browser that runs KaTeX reads them);
the style sheet's ``.woff`` and ``.ttf`` fallbacks are dropped as it is inlined.
"""

from __future__ import annotations

import base64
import re
from functools import cache
from pathlib import Path

from ...templating import templates_dir

KATEX_VERSION = "0.19.1"

_FONT_SOURCES = re.compile(
    r'src:url\(fonts/(KaTeX_[A-Za-z0-9-]+)\.woff2\) format\("woff2"\)(?:,url\([^)]*\) format\("[a-z]+"\))*'
)


def katex_dir() -> Path:
    return templates_dir() / "katex"


@cache
def script() -> str:
    """``katex.min.js``, checked safe to put inside a ``<script>`` element."""
    return _inline("katex.min.js", "</script")


@cache
def auto_render() -> str:
    """KaTeX's auto-render extension (what a blog runs over a Markdown page): for the tests."""
    return _inline("auto-render.min.js", "</script")


@cache
def style() -> str:
    """``katex.min.css`` with every font as a WOFF2 ``data:`` URL and no other font source."""
    css = _inline("katex.min.css", "</style")
    fonts = katex_dir() / "fonts"

    def inline_font(match: re.Match) -> str:
        data = base64.b64encode((fonts / f"{match.group(1)}.woff2").read_bytes()).decode("ascii")
        return f'src:url(data:font/woff2;base64,{data}) format("woff2")'

    css, count = _FONT_SOURCES.subn(inline_font, css)
    if count == 0 or "url(fonts/" in css:
        raise RuntimeError(f"KaTeX's style sheet has font sources symprop cannot inline (KaTeX {KATEX_VERSION} expected)")
    return css


def _inline(name: str, closing: str) -> str:
    text = (katex_dir() / name).read_text(encoding="utf-8")
    if closing in text.lower():
        raise RuntimeError(f"{name} contains {closing!r}: it cannot be inlined into a page")
    return text
