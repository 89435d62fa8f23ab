"""The whole shop (`qrisbot.app.run`: ledger, per-chat dialogue) answering /help."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import trio
from qrisbot_minimal import UNPACED

from qrisbot import app, config
from qrisbot.testing import config_for
from qrisbot.testing.local_provisioner import LocalProvisioner


async def main(url: str, token: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        raw = config_for(url, token, "http://127.0.0.1:9", "p", "k",
                         str(Path(tmp) / "ledger.sqlite3"), [{
                             "id": "sg1", "name": "SG", "protocol": "ssh",
                             "domain": "sg.example.com", "price_per_month": 10000,
                             "ssh": {"host": "127.0.0.1", "key_file": "k",
                                     "known_hosts": "k"}}])
        # Pacing off: the fake enforces no limits, and neither peer paces.
        await app.run(config.parse(raw, {}), backends=LocalProvisioner(), pacer=UNPACED)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2])
