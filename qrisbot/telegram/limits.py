"""How long Telegram thinks a text is: UTF-16 code units of what is left after parsing
the HTML entities (tags removed, `&amp;` one character). An emoji counts two."""

from __future__ import annotations

import html
import re

MESSAGE = 4096  # sendMessage / editMessageText
CAPTION = 1024  # sendPhoto / editMessageCaption

_TAG = re.compile(r"<[^>]*>")


def length(text: str, *, parse_html: bool = True) -> int:
    visible = html.unescape(_TAG.sub("", text)) if parse_html else text
    return len(visible.encode("utf-16-le")) // 2


def shorten(value: str, units: int) -> str:
    """Plain `value` cut to at most `units` UTF-16 code units, with "…" when cut."""
    if length(value, parse_html=False) <= units:
        return value
    out = []
    used = 1  # the ellipsis
    for char in value:
        used += length(char, parse_html=False)
        if used > units:
            break
        out.append(char)
    return "".join(out) + "…"
