"""A consistent copy of the ledger, in memory: while the daemon writes, and without a
plaintext file on disk (the ledger holds buyers' passwords)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

# Bytes 18-19 of an SQLite file: 2 = WAL, 1 = rollback journal. A copy of the daemon's
# ledger says WAL, which an in-memory database cannot open; whoever opens the file as
# the ledger (Ledger.open) turns WAL on again.
_WRITE_READ_VERSION = slice(18, 20)


def ledger_bytes(path: str | Path) -> bytes:
    """The whole ledger file as of one moment (the SQLite backup API, reading the WAL too)."""
    source = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
    copy = sqlite3.connect(":memory:")
    try:
        source.backup(copy)
        data = bytearray(copy.serialize())
    finally:
        source.close()
        copy.close()
    data[_WRITE_READ_VERSION] = b"\x01\x01"
    return bytes(data)


def in_memory(data: bytes) -> sqlite3.Connection:
    """A database file's bytes opened in memory (nothing written). sqlite3.DatabaseError
    when they are not a database."""
    db = sqlite3.connect(":memory:")
    try:
        if len(data) >= 20 and data.startswith(b"SQLite format 3\x00"):
            data = data[:18] + b"\x01\x01" + data[20:]
        db.deserialize(data)
    except BaseException:
        db.close()
        raise
    return db
