"""One run of `qrisbot setup`: the files being edited, the unit's user, and saving them."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import attrs

from qrisbot.setup import install
from qrisbot.setup.document import Document
from qrisbot.setup.prompts import Terminal
from qrisbot.setup.secrets_file import PAKASIR_KEY, TOKEN, SecretsFile

TELEGRAM_URL = "https://api.telegram.org"
PAKASIR_URL = "https://app.pakasir.com"
# The example's placeholders are no answer a seller gave: never offered as the default.
PLACEHOLDERS = frozenset({"123456:ABC-replace-with-your-bot-token", "slug", "key", ""})


@attrs.define
class Session:
    terminal: Terminal
    config_path: Path
    doc: Document
    secrets: SecretsFile
    account: pwd.struct_passwd
    telegram_url: str
    pakasir_url: str
    bot_username: str = ""  # known once the token step has called getMe

    @property
    def folder(self) -> Path:
        return self.config_path.parent

    @property
    def gid(self) -> int:
        return self.account.pw_gid

    def token(self) -> str | None:
        """The bot token setup has (secrets.env, else the config file), if any."""
        return _given(self.secrets.get(TOKEN) or self.doc.get("telegram", "token"))

    def api_key(self) -> str | None:
        return _given(self.secrets.get(PAKASIR_KEY) or self.doc.get("pakasir", "api_key"))

    def environment(self) -> dict[str, str]:
        """The environment the unit's process gets (this one, with secrets.env on top)."""
        return {**os.environ, **self.secrets.environment()}

    def save(self) -> None:
        """secrets.env first (root's alone), then config.toml, which no longer holds them."""
        install.folder(self.folder, 0, self.gid, 0o750)
        install.write(self.secrets.path, self.secrets.text(), 0, 0, 0o600)
        install.write(self.config_path, self.doc.text(), 0, self.gid, 0o640)


def _given(value: object) -> str | None:
    return value if isinstance(value, str) and value not in PLACEHOLDERS else None
