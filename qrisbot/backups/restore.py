"""`qrisbot restore FILE [--identity KEY]`: a backup put back in place of the ledger.

The file is checked before anything is touched (it opens, SQLite's integrity check passes,
its schema is one this qrisbot knows, the ledger's tables are there). It goes in place only
while no daemon runs on the ledger: restore holds the daemon's own lock (`instance`) from
the check to the swap, so one cannot start in between. The current ledger stays beside it.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import sys
import zoneinfo
from collections.abc import Callable
from pathlib import Path

import attrs

from qrisbot import config as cfg
from qrisbot import instance
from qrisbot.backups import sealed, snapshot
from qrisbot.ledger.schema import SCHEMA_VERSION

EXIT_OK, EXIT_FAILURE = 0, 1
SQLITE = b"SQLite format 3\x00"
# The tables a ledger of each schema version has from that version on.
TABLES: dict[int, frozenset[str]] = {
    1: frozenset({"orders", "events", "chats", "meta"}),
    3: frozenset({"accounts", "reminders"}),
    4: frozenset({"trials"}),
}

Ask = Callable[[str], str]


class Refused(Exception):
    """The file cannot be restored; the message says why."""


@attrs.frozen
class Backup:
    """A checked ledger file, in memory."""

    data: bytes
    schema: int
    orders: int
    last_order: float | None


def read(path: Path, identity: Path | None) -> bytes:
    """The ledger's bytes: an age file decrypted with `identity`, or a plain SQLite file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise Refused(f"cannot read {path}: {exc.strerror}") from None
    if sealed.is_sealed(data):
        if identity is None:
            raise Refused(f"{path} is encrypted (age): give the secret key with --identity "
                          "KEYFILE (the file age-keygen wrote)")
        try:
            key = identity.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise Refused(f"cannot read the identity {identity}: "
                          f"{getattr(exc, 'strerror', None) or 'not a text file'}") from None
        try:
            data = sealed.unseal(data, key)
        except sealed.Unsealable as exc:
            raise Refused(f"{path}: {exc}") from None
    if not data.startswith(SQLITE):
        raise Refused(f"{path} is neither an age file nor an SQLite database")
    return data


def check(data: bytes) -> Backup:
    """A ledger that opens, passes SQLite's integrity check, has a schema this qrisbot
    knows and the tables of its schema; Refused saying what is wrong."""
    try:
        db = snapshot.in_memory(data)
    except sqlite3.DatabaseError as exc:
        raise Refused(f"not a usable SQLite database ({exc})") from None
    try:
        verdict = [row[0] for row in db.execute("PRAGMA integrity_check").fetchmany(5)]
        if verdict != ["ok"]:
            raise Refused("the database is damaged (integrity check: "
                          f"{'; '.join(map(str, verdict))[:300]})")
        schema = int(db.execute("PRAGMA user_version").fetchone()[0])
        if schema > SCHEMA_VERSION:
            raise Refused(f"its ledger schema {schema} is newer than this qrisbot knows "
                          f"({SCHEMA_VERSION}): upgrade qrisbot first")
        if schema < 1:
            raise Refused("not a qrisbot ledger (no schema version)")
        tables = {row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        needed = frozenset().union(*(t for since, t in TABLES.items() if since <= schema))
        missing = sorted(needed - tables)
        if missing:
            raise Refused(f"not a qrisbot ledger of schema {schema}: no table(s) "
                          f"{', '.join(missing)}")
        orders, last = db.execute("SELECT count(*), max(created_at) FROM orders").fetchone()
    except sqlite3.DatabaseError as exc:
        raise Refused(f"the database is damaged ({exc})") from None
    finally:
        db.close()
    return Backup(data, schema, int(orders), last)


def restore(config: cfg.Config, path: Path, identity: Path | None, yes: bool,
            ask: Ask = input, now: dt.datetime | None = None) -> int:
    database = Path(config.shop.database)
    if not database.parent.is_dir():
        return _fail(f"no folder {database.parent} for the ledger {database} (shop.database)")
    try:
        backup = check(read(path, identity))
    except Refused as exc:
        return _fail(f"not restored: {exc}")
    zone = zoneinfo.ZoneInfo(config.shop.timezone)
    now = now or dt.datetime.now(zone)
    kept = _unused(database.with_name(f"{database.name}.before-restore-{now:%Y%m%d-%H%M%S}"))
    try:
        with instance.sole_daemon(database):
            _give_to_daemon(Path(f"{database}.run"), database)
            last = (dt.datetime.fromtimestamp(backup.last_order, zone).strftime(
                "%Y-%m-%d %H:%M") if backup.last_order is not None else "none")
            print(f"{path}: a good ledger (schema {backup.schema}, {backup.orders} orders, "
                  f"the last made {last})")
            keeping = f"; the current one is kept as {kept}" if database.exists() else ""
            if not _confirmed(f"Replace the ledger {database} with it{keeping}?", yes, ask):
                return _fail("not restored; nothing changed")
            put_in_place(database, backup.data, kept)
    except instance.InUse:
        return _fail(f"not restored: a qrisbot daemon is running on the ledger {database}. "
                     "Stop it first (systemctl stop qrisbot), then restore, then start it "
                     "again (systemctl start qrisbot)")
    except OSError as exc:
        return _fail(f"not restored: {exc.strerror or exc} ({exc.filename or database}); run "
                     "it as root or as the daemon's user")
    print(f"restored {database} from {path}" + (f"; the ledger before is {kept}"
                                                if keeping else ""))
    print("start the shop again (systemctl start qrisbot): it resumes the backup's "
          "unfinished orders")
    return EXIT_OK


def _unused(path: Path) -> Path:
    """`path`, or `path-2`, `path-3`... when a restore in the same second kept one there."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def put_in_place(database: Path, data: bytes, kept: Path) -> None:
    """Write the ledger beside `database` and swap it in; the old one (with its WAL) stays
    as `kept`. The new file gets the mode and owner of the old (or of the folder, as the
    daemon's files are), so the daemon can open it."""
    folder = database.parent
    owner = database.stat() if database.exists() else folder.stat()
    fresh = database.with_name(f"{database.name}.restoring")
    fresh.unlink(missing_ok=True)
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            if os.geteuid() == 0:
                os.fchown(fd, owner.st_uid, owner.st_gid)
            with os.fdopen(os.dup(fd), "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        finally:
            os.close(fd)
        if database.exists():
            _checkpoint(database)
            os.link(database, kept)
            for suffix in ("-wal", "-shm"):  # a WAL left beside the new file is replayed
                side = database.with_name(database.name + suffix)
                if side.exists():
                    os.replace(side, kept.with_name(kept.name + suffix))
        os.replace(fresh, database)
    except BaseException:
        fresh.unlink(missing_ok=True)  # no plaintext copy left lying about
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _give_to_daemon(path: Path, database: Path) -> None:
    """A file restore made as root (the daemon's lock) belongs to the ledger's owner (or
    its folder's), or the daemon, not root, could not open it on its next start."""
    if os.geteuid() != 0:
        return
    owner = database.stat() if database.exists() else database.parent.stat()
    if path.stat().st_uid != owner.st_uid:
        os.chown(path, owner.st_uid, owner.st_gid)


def _checkpoint(database: Path) -> None:
    """Fold the WAL into the ledger file, so the copy kept is whole by itself (best effort:
    a damaged ledger keeps its WAL beside it, renamed with it)."""
    try:
        db = sqlite3.connect(database)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()
    except sqlite3.Error:
        pass


def _confirmed(question: str, yes: bool, ask: Ask) -> bool:
    if yes:
        return True
    try:
        return ask(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return EXIT_FAILURE
