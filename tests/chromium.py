"""Debian's headless Chromium on a page from disk (`make tools` installs it): what the page
looks like once a real browser has laid it out and decoded its images.

`python tests/chromium.py PAGE.html SHOT.png` writes a screenshot of the whole page (how
the README's docs/demo-chat.png is made: `make screenshot`).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
# Headless as root in a closed network: no sandbox, GPU or background connections.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--virtual-time-budget=5000")
WIDTH = 480

# Appended to a copy of the page: once it has loaded, what the browser made of it.
_PROBE = """<script>
window.addEventListener("load", () => {
  const box = (e) => { const r = e.getBoundingClientRect();
                       return [Math.round(r.left), Math.round(r.width), Math.round(r.height)]; };
  const result = {
    images: [...document.images].map((i) => [i.complete, i.naturalWidth, i.naturalHeight,
                                              ...box(i)]),
    bot: [...document.querySelectorAll(".bot .bubble")].map(box),
    person: [...document.querySelectorAll(".person .bubble")].map(box),
    keys: [...document.querySelectorAll(".key")].map((k) => k.innerText),
    text: document.body.innerText,
    scripts: document.scripts.length,
    height: document.documentElement.scrollHeight,
  };
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>"""


def _run(args: list[str], workdir: Path) -> str:
    result = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={workdir / 'profile'}", *args],
        capture_output=True, text=True, timeout=120, check=True)
    return result.stdout


def rendered(page: Path) -> dict[str, Any]:
    """Laid out and loaded by Chromium: each image (loaded, natural size, position), the
    bot's and the person's bubbles (left, width, height), the buttons, the visible text."""
    with tempfile.TemporaryDirectory(prefix="qrisbot-chromium-") as tmp:
        probed = Path(tmp) / "page.html"
        source = page.read_text(encoding="utf-8")
        probed.write_text(source.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
        dom = _run(["--dump-dom", probed.as_uri()], Path(tmp))
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    if found is None:
        raise AssertionError(f"the page never finished loading in Chromium:\n{dom[:2000]}")
    import html

    result: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    result["scripts"] -= 1  # the probe's own
    return result


def screenshot(page: Path, png: Path) -> None:
    """The whole page, WIDTH pixels wide."""
    height = rendered(page)["height"]
    with tempfile.TemporaryDirectory(prefix="qrisbot-chromium-") as tmp:
        _run([f"--window-size={WIDTH},{height}", f"--screenshot={png.resolve()}",
              page.resolve().as_uri()], Path(tmp))


if __name__ == "__main__":
    screenshot(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"{sys.argv[2]}: a screenshot of {sys.argv[1]}")
