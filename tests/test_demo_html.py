"""`qrisbot demo --html FILE`: the conversation as a chat page, opened in a real headless
Chromium (Debian's, installed by `make tools`)."""

from __future__ import annotations

import subprocess
import sys

import chromium
import png

from qrisbot.demo_html import BOT, NOTE, PERSON, Entry, render


def test_the_demos_chat_page_shows_the_conversation_and_the_qr_in_a_browser(tmp_path):
    page = tmp_path / "chat.html"
    result = subprocess.run(
        [sys.executable, "-m", "qrisbot", "demo", "--lang", "en", "--admin", "--html",
         "chat.html", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert f"written as a chat page at {page}" in result.stdout

    seen = chromium.rendered(page)
    # The QR the shop sent, decoded by the browser from the page itself, drawn large
    # enough to scan.
    (qr,) = seen["images"]
    loaded, natural_width, natural_height, _, width, height = qr
    assert loaded and natural_width > 0 and natural_height > 0 and width >= 200 <= height
    text = seen["text"]
    for said in ("/start", "budi_demo", "Pick a server", "Scan this QRIS to pay",
                 "paid (Rp", "Your SSH account is ready", "Password: rahasia123", "/admin",
                 "Sales (paid)"):
        assert said in text, said
    assert text.index("Scan this QRIS") < text.index("Your SSH account is ready")
    assert "Pay" in seen["keys"] and "Servers" in seen["keys"]
    # The bot on the left, the buyer on the right, as in Telegram.
    assert max(left + width for left, width, _ in seen["bot"]) > min(
        left for left, _, _ in seen["person"])
    assert max(left for left, _, _ in seen["bot"]) < min(left for left, _, _ in seen["person"])
    assert seen["scripts"] == 0  # a page with no script of its own

    # And a screenshot of it is a picture, not a blank page: the QR's black modules too.
    shot = tmp_path / "chat.png"
    chromium.screenshot(page, shot)
    width, height, rows, _ = png.Reader(filename=str(shot)).asRGB8()
    colours, dark = set(), 0
    for row in rows:
        pixels = list(zip(row[0::3], row[1::3], row[2::3], strict=True))
        colours.update(pixels)
        dark += sum(1 for p in pixels if max(p) < 40)
    assert width == chromium.WIDTH and height > 1500
    assert len(colours) > 50 and dark > 10_000


def test_everything_on_the_page_is_text_never_markup(tmp_path):
    hostile = '<img src=x onerror="document.title=1"><script>document.title=2</script>'
    page = tmp_path / "chat.html"
    page.write_text(render(f"Toko {hostile}", [
        Entry(PERSON, hostile),
        Entry(PERSON, hostile, tap=True, tag=hostile),
        Entry(BOT, f"<b>bold</b> &lt;b&gt;typed&lt;/b&gt; <a href='javascript:x'>link</a> "
                   f"{hostile} <b>unclosed", tag=hostile, buttons=((hostile,),)),
        Entry(NOTE, hostile),
    ]))
    seen = chromium.rendered(page)
    assert seen["images"] == [] and seen["scripts"] == 0
    # As text: the header, what the buyer typed, the tap and its tag, the bot's tag, the
    # button and the note. In the bot's own HTML a tag is markup: kept only if it is bare
    # formatting, otherwise dropped.
    assert seen["text"].count(hostile) == 7
    assert "bold <b>typed</b> link document.title=2 unclosed" in seen["text"]
    assert seen["keys"] == [hostile]
