"""config.toml as setup edits it: tomlkit keeps the seller's comments, order and every key
setup does not ask about; only the answered keys change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT, InlineTable, Table
from tomlkit.toml_document import TOMLDocument

HEADER = ("qrisbot configuration, written by `qrisbot setup` (run it again to change the "
          "answers).\nEvery key is documented in config.toml.example. The bot token and "
          "the Pakasir key are in secrets.env beside this file.")


class Unreadable(Exception):
    """The existing file cannot be edited (not TOML, not readable); nothing is written."""


class Document:
    def __init__(self, path: Path, doc: TOMLDocument, existed: bool) -> None:
        self.path = path
        self.doc = doc
        self.existed = existed

    @classmethod
    def load(cls, path: Path) -> Document:
        try:
            source = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            doc = tomlkit.document()
            for line in HEADER.splitlines():
                doc.add(tomlkit.comment(line))
            return cls(path, doc, existed=False)
        except (OSError, UnicodeDecodeError) as exc:
            raise Unreadable(f"{path}: cannot read ({type(exc).__name__})") from None
        try:
            return cls(path, tomlkit.parse(source), existed=True)
        except tomlkit.exceptions.ParseError as exc:
            raise Unreadable(f"{path}: not valid TOML ({exc})") from None

    def table(self, name: str) -> Table:
        if name not in self.doc:
            self.doc.add(name, tomlkit.table())
        table = self.doc[name]
        if not isinstance(table, Table):
            raise Unreadable(f"{self.path}: [{name}] is not a table")
        return table

    def get(self, table: str, key: str) -> Any:
        """The current value (plain Python), or None."""
        found = self.doc.get(table)
        if not isinstance(found, Table) or key not in found:
            return None
        return _plain(found[key])

    def set(self, table: str, key: str, value: Any) -> None:
        self.table(table)[key] = value

    def drop(self, table: str, key: str) -> None:
        found = self.doc.get(table)
        if isinstance(found, Table) and key in found:
            del found[key]

    def servers(self) -> list[Table]:
        found = self.doc.get("servers")
        return list(found) if isinstance(found, AoT) else []

    def add_server(self) -> Table:
        if "servers" not in self.doc:
            self.doc.add("servers", tomlkit.aot())
        servers = self.doc["servers"]
        if not isinstance(servers, AoT):
            raise Unreadable(f"{self.path}: servers is not an array of [[servers]] tables")
        servers.append(tomlkit.table())
        table: Table = servers[-1]
        return table

    def text(self) -> str:
        return tomlkit.dumps(self.doc)


def inline(table: Table, key: str) -> InlineTable:
    """`key = { ... }` of a server (made if missing), edited in place."""
    found = table.get(key)
    if not isinstance(found, InlineTable | Table):
        table[key] = tomlkit.inline_table()
        found = table[key]
    assert isinstance(found, InlineTable | Table)
    return found  # type: ignore[return-value]


def plain(value: Any) -> Any:
    return _plain(value)


def _plain(value: Any) -> Any:
    unwrap = getattr(value, "unwrap", None)
    return unwrap() if callable(unwrap) else value
