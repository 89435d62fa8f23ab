"""The accounts already on a server (made by the seller's autoscript menu before qrisbot):
on an Xray server its comment lines and the client line after each; on an SSH server the
Linux users that look like tunnel accounts (a uid from UID_MIN up, no login shell) with
their shadow expiry.

Read-only. The server's output is untrusted: each line is checked against the shapes a
name, a date and a secret may have, and anything else is skipped and counted.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex

from qrisbot.config import Server
from qrisbot.provision.port import NAME, PASSWORD, UUID, Existing, Found
from qrisbot.provision.ssh.connections import CommandFailed, Connections
from qrisbot.provision.ssh.recipes import IN_BLOCK, LINUX_NAME, MARKERS_BEGIN

_LINE = re.compile(r"acct (\S{1,64}) (\d{4}-\d{2}-\d{2}) (\S{1,64})")
_USER_LINE = re.compile(r"acct (\S{1,64}) (\d{1,12}|-) (\d{1,10})")
_LISTED_LINE = re.compile(r"listed (\S{1,64}) (\S{1,64})")
_EPOCH = dt.date(1970, 1, 1)
# The last days the shop keeps, with centuries of renewals to spare at either end of the
# calendar: a line with a date outside is skipped and named (no arithmetic on it is safe).
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(8999, 12, 31)


# Linux users that look like tunnel accounts, with their shadow expiry (days since 1970,
# "-" for none) and uid. UID_MIN comes from login.defs when it is a number.
_USERS = """[ -r /etc/shadow ] || { echo 'cannot read /etc/shadow' >&2; exit 4; }
min=$(awk '$1 == "UID_MIN" { print $2 }' /etc/login.defs 2>/dev/null)
case "$min" in ''|*[!0-9]*) min=1000 ;; esac
awk -F: -v min="$min" 'NR == FNR { e[$1] = $8; next }
  $3 ~ /^[0-9]+$/ && $3 + 0 >= min + 0 && $3 + 0 < 60000 && $7 ~ /(false|nologin)$/ {
    print "acct", $1, (e[$1] ~ /^[0-9]+$/ ? e[$1] : "-"), $3 }' /etc/shadow /etc/passwd"""


def _listed_users(path: str, prefix: str) -> str:
    """The family's SSH list: `listed <user> <password>` per line of its prefix."""
    program = '$1 == lp && NF >= 3 { print "listed", $2, (NF >= 4 ? $4 : "-") }'
    return (f"\n[ -f {shlex.quote(path)} ] && awk -v lp={shlex.quote(prefix)} "
            f"{shlex.quote(program)} {shlex.quote(path)}")


def _script(server: Server) -> str:
    if server.protocol == "ssh":
        linux = server.linux
        if linux is not None and linux.account_list:
            return _USERS + _listed_users(linux.account_list, linux.list_prefix)
        return _USERS
    assert server.xray is not None
    xray = server.xray
    prefixes = " ".join(sorted(set(xray.prefixes or (xray.prefix,))))
    # For each comment line in the server's marker blocks (IN_BLOCK): the name, the date,
    # and the id / password of the client line after it (commented out or not: a locked
    # account is still one).
    program = (
        'BEGIN { np = split(ps, pa, " "); for (i = 1; i <= np; i++) P[pa[i]] = 1; '
        + MARKERS_BEGIN + '} ' + IN_BLOCK +
        ' inb && ($1 in P) && NF >= 3 { user = $2; day = $3;'
        ' if ((getline line) <= 0) exit;'
        ' if (match(line, /"(id|password)": *"[^"]*"/)) {'
        ' v = substr(line, RSTART, RLENGTH); sub(/^"(id|password)": *"/, "", v);'
        ' sub(/"$/, "", v); print "acct", user, day, v } }'
    )
    return (f"[ -f {shlex.quote(xray.config)} ] || {{ echo 'config file not found' >&2; "
            f"exit 4; }}\nawk -v ps={shlex.quote(prefixes)} "
            f"-v ms={shlex.quote(' '.join(xray.markers))} {shlex.quote(program)} "
            f"{shlex.quote(xray.config)}")


def leeway(server: Server) -> int:
    """Days past an account's last day that the server lets in an account the shop dated:
    on a family's Xray layout the shop writes the day after the last day and the grace
    period (the family's cron deletes on that date); none elsewhere.

    The rule for reading a server (`accounts import`, reconcile, the daily look): an
    account's last day is the last day the server itself lets it in, never fewer: on a
    family's Xray layout the day before its date (the family's cron deletes on it, whoever
    wrote it), on the custom layout its date, for an SSH user the day before its shadow
    expiry (PAM refuses on it). A server agrees with the ledger when that day is the
    ledger's last day or at most `leeway` days later."""
    return max(server.xray.date_offset - 1, 0) if server.xray is not None else 0


async def existing_accounts(server: Server, connections: Connections) -> Found:
    """Every account on the server, once per name (raises SshError)."""
    result = await connections.get(server.ssh).run(_script(server))
    if result.status != 0:
        what = server.xray.config if server.xray is not None else "the server's users"
        raise CommandFailed(f"reading {what} failed (exit {result.status})",
                            result.status, result.stderr[:500])
    if server.protocol == "ssh":
        listed = server.linux is not None and bool(server.linux.account_list)
        return _users(result.stdout, listed)
    assert server.xray is not None
    # A VMess / VLESS id is a UUID; a Trojan password may be one, or the family's own.
    shapes = (UUID, PASSWORD) if server.protocol == "trojan" else (UUID,)
    accounts: dict[str, Existing] = {}
    skipped = 0
    notes: list[str] = []
    for line in result.stdout.splitlines():
        match = _LINE.fullmatch(line.strip())
        try:
            day = dt.date.fromisoformat(match[2]) if match else None
        except ValueError:
            day = None
        if match is None or day is None or not NAME.fullmatch(match[1]) or not any(
                shape.fullmatch(match[3]) for shape in shapes):
            skipped += 1
            continue
        last_day = _last_day(day, server.xray.date_offset - leeway(server))
        if last_day is None:
            skipped += 1
            notes.append(_out_of_range(match[1], f"date {match[2]}"))
            continue
        accounts.setdefault(match[1], Existing(match[1], match[3], last_day))
    return Found(tuple(accounts.values()), skipped, tuple(notes))


def _users(stdout: str, listed: bool = False) -> Found:
    """Linux users with an expiry date; the last day is the one before it (PAM refuses an
    account on its expire day). Where the family keeps an SSH list (`listed`), only the
    users in it, with the password it holds."""
    accounts: dict[str, Existing] = {}
    skipped = 0
    notes: list[str] = []
    passwords: dict[str, str] = {}
    lines = []
    for line in stdout.splitlines():
        entry = _LISTED_LINE.fullmatch(line.strip())
        if entry is not None:
            passwords[entry[1]] = entry[2] if PASSWORD.fullmatch(entry[2]) else ""
        else:
            lines.append(line)
    for line in lines:
        match = _USER_LINE.fullmatch(line.strip())
        if match is not None and listed and match[1] not in passwords:
            continue  # a Linux user, but not one of the family's SSH accounts
        if match is None or not LINUX_NAME.fullmatch(match[1]) or match[2] == "-":
            skipped += 1  # not a name the shop can take on, or no expiry date to keep
            continue
        last_day = _last_day(_EPOCH, 1 - int(match[2]))
        if last_day is None:
            skipped += 1
            notes.append(_out_of_range(match[1], f"shadow expiry day {match[2]}"))
            continue
        accounts.setdefault(match[1], Existing(match[1], passwords.get(match[1], ""),
                                               last_day, int(match[3])))
    return Found(tuple(accounts.values()), skipped, tuple(notes))


def _last_day(day: dt.date, offset: int) -> dt.date | None:
    """`day` less `offset` days, or None when that is outside the days the shop keeps."""
    try:
        last_day = day - dt.timedelta(days=offset)
    except OverflowError:
        return None
    return last_day if FIRST_DAY <= last_day <= LAST_DAY else None


def _out_of_range(username: str, what: str) -> str:
    return f"{username}: {what} out of range (last days {FIRST_DAY}..{LAST_DAY} are kept)"


async def read(server: Server) -> Found:
    """`existing_accounts` over a connection of its own (the operator's commands)."""
    connections = Connections()
    try:
        return await existing_accounts(server, connections)
    finally:
        connections.close()
