"""secrets.env: the unit's EnvironmentFile (`KEY=value` lines, read by systemd as root, and
by `sh` in the README's upgrade step). Setup sets its own keys and keeps every other line."""

from __future__ import annotations

import re
from pathlib import Path

TOKEN = "QRISBOT_TELEGRAM_TOKEN"  # noqa: S105 - the variable's name
PAKASIR_KEY = "QRISBOT_PAKASIR_API_KEY"
_LINE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)")
# Written bare; anything else is single-quoted, which systemd and sh read alike.
_BARE = re.compile(r"[A-Za-z0-9_:.,/+@%=-]*")


class BadSecret(ValueError):
    """A value that one of the file's two readers would take differently."""


def allowed(value: str) -> bool:
    return not any(c in value for c in "'\\\"$`") and value.isprintable()


class SecretsFile:
    def __init__(self, path: Path, lines: list[str]) -> None:
        self.path = path
        self._lines = lines

    @classmethod
    def load(cls, path: Path) -> SecretsFile:
        try:
            return cls(path, path.read_text(encoding="utf-8").splitlines())
        except FileNotFoundError:
            return cls(path, ["# qrisbot's secrets (root only, 0600); the unit reads them "
                              "as its EnvironmentFile."])

    def get(self, key: str) -> str | None:
        for line in self._lines:
            match = _LINE.fullmatch(line)
            if match and match[1] == key:
                return _unquote(match[2].strip())
        return None

    def set(self, key: str, value: str) -> None:
        if not allowed(value):
            raise BadSecret(key)
        written = value if _BARE.fullmatch(value) else f"'{value}'"
        for i, line in enumerate(self._lines):
            match = _LINE.fullmatch(line)
            if match and match[1] == key:
                self._lines[i] = f"{key}={written}"
                return
        self._lines.append(f"{key}={written}")

    def environment(self) -> dict[str, str]:
        """Every variable, as the unit's process gets them."""
        found = {}
        for line in self._lines:
            match = _LINE.fullmatch(line)
            if match:
                found[match[1]] = _unquote(match[2].strip())
        return found

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value
