"""`qrisbot demo --html FILE`: the demo's conversation as a chat page.

One self-contained HTML file (styles inline, the QR image as a data: URI, no script, no
request to anywhere), so it opens from disk and can be screenshotted. Every text is
escaped; of the bot's Telegram HTML only the bare formatting tags (bold, italic, code)
are kept, without attributes.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from html.parser import HTMLParser

import attrs

BOT, PERSON, NOTE = "bot", "person", "note"  # left bubble, right bubble, centred line


@attrs.frozen
class Entry:
    """One thing the transcript shows."""

    side: str  # BOT, PERSON or NOTE
    text: str  # plain text; for the bot, Telegram HTML
    tag: str = ""  # a small line above the bubble ("edited its message", "Admin")
    buttons: tuple[tuple[str, ...], ...] = ()  # the inline keyboard, row by row
    photo: bytes | None = None  # a PNG shown above the text
    tap: bool = False  # a person's tap on a button (drawn as the button)


_KEPT = frozenset({"b", "strong", "i", "em", "u", "s", "code", "pre"})


class _Formatting(HTMLParser):
    """Telegram HTML -> safe HTML: text escaped, bare formatting tags kept, others dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _KEPT:
            self.parts.append(f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if tag in _KEPT:
            self.parts.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self.parts.append(html.escape(data))


def formatted(telegram_html: str) -> str:
    parser = _Formatting()
    parser.feed(telegram_html)
    parser.close()
    # Tags left open by the source are closed where the bubble ends.
    opened = [p[1:-1] for p in parser.parts if p[1:-1] in _KEPT]
    closed = [p[2:-1] for p in parser.parts if p.startswith("</")]
    tail = "".join(f"</{t}>" for t in reversed(opened) if opened.count(t) > closed.count(t))
    return "".join(parser.parts) + tail


def render(title: str, entries: Sequence[Entry]) -> str:
    """The page: a phone-width chat column, one bubble per entry."""
    body = "\n".join(_entry(e) for e in entries)
    return _PAGE.format(title=html.escape(title), body=body)


def _entry(entry: Entry) -> str:
    tag = f'<div class="tag">{html.escape(entry.tag)}</div>' if entry.tag else ""
    if entry.side == NOTE:
        return f'<div class="note">{html.escape(entry.text)}</div>'
    if entry.side == PERSON:
        inner = (f'<span class="tapped">{html.escape(entry.text)}</span>' if entry.tap
                 else html.escape(entry.text))
        return f'<div class="row person">{tag}<div class="bubble">{inner}</div></div>'
    photo = ""
    if entry.photo is not None:
        data = base64.b64encode(entry.photo).decode("ascii")
        photo = f'<img class="photo" alt="QRIS code" src="data:image/png;base64,{data}">'
    keyboard = "".join(
        '<div class="keys">' + "".join(f'<span class="key">{html.escape(label)}</span>'
                                        for label in row) + "</div>"
        for row in entry.buttons)
    return (f'<div class="row bot">{tag}<div class="bubble">{photo}'
            f'<div class="text">{formatted(entry.text)}</div></div>{keyboard}</div>')


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ margin: 0; background: #dfe7ee; font: 15px/1.4 "DejaVu Sans", Arial, sans-serif;
       color: #111; }}
.chat {{ max-width: 440px; margin: 0 auto; padding: 0 10px 16px; }}
header {{ position: sticky; top: 0; background: #517da2; color: #fff; padding: 10px 14px;
          margin: 0 -10px 8px; font-weight: bold; }}
header small {{ display: block; font-weight: normal; opacity: .8; }}
.row {{ margin: 6px 0; display: flex; flex-direction: column; }}
.bot {{ align-items: flex-start; }}
.person {{ align-items: flex-end; }}
.bubble {{ max-width: 85%; padding: 7px 10px; border-radius: 12px; white-space: pre-wrap;
           overflow-wrap: anywhere; box-shadow: 0 1px 1px rgba(0,0,0,.15); }}
.bot .bubble {{ background: #fff; border-bottom-left-radius: 4px; }}
.person .bubble {{ background: #e1fec6; border-bottom-right-radius: 4px; }}
.tag {{ font-size: 12px; color: #5a6d7e; margin: 0 6px 2px; }}
.photo {{ display: block; width: 220px; height: auto; margin: 2px auto 6px;
          image-rendering: pixelated; }}
.keys {{ display: flex; gap: 4px; margin-top: 4px; max-width: 85%; width: 85%; }}
.key {{ flex: 1; text-align: center; background: rgba(81,125,162,.85); color: #fff;
        border-radius: 8px; padding: 6px 4px; font-size: 13px; }}
.tapped {{ display: inline-block; background: rgba(81,125,162,.85); color: #fff;
           border-radius: 8px; padding: 2px 10px; font-size: 13px; }}
.note {{ text-align: center; font-size: 12px; color: #44525f; background: #c9d6e0;
         border-radius: 10px; padding: 3px 10px; margin: 10px auto; width: fit-content;
         max-width: 90%; }}
code, pre {{ font-family: "DejaVu Sans Mono", monospace; font-size: 13px; }}
pre {{ margin: 0; white-space: pre-wrap; }}
</style>
</head>
<body>
<div class="chat">
<header>{title}<small>qrisbot demo: the real shop against built-in fakes</small></header>
{body}
</div>
</body>
</html>
"""
