"""What runs on a server to check for and create an account.

Each recipe builds one shell script per operation. Every value placed in a script is
validated and `shlex.quote`d; secrets (SSH passwords, Xray UUIDs) are written to the
script's stdin and never appear on a command line. Mutating scripts run under `flock`
so that other tools editing the same files on the server wait their turn.

Creating is done in batches (one script, one lock, one restart for all the accounts that
are waiting for a server). Each account's block runs in a subshell whose exit status is
reported as `qrisbot-result <index> <status>`: 0 created (or already this order's), 3 the
username belongs to someone else, anything else a failure worth retrying.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
import string
from typing import Protocol

import attrs

from qrisbot.config import Commands, Linux, Xray
from qrisbot.provision.port import (
    NAME,
    PASSWORD,
    UUID,
    Account,
    Extension,
    Presence,
    Removal,
)
from qrisbot.provision.port import USERNAME as USERNAME  # re-exported: older callers
from qrisbot.provision.port import is_sellable_username as is_sellable_username

# port.NAME: names an autoscript family's menu makes (`[A-Za-z0-9_]+`: `Budi2779`,
# `20245161x`): an account made before the shop is imported, claimed, renewed and removed
# under its name, matched exactly, case kept. No script is built from a name of another
# shape; the shop makes new accounts only under USERNAME ones (is_sellable_username).
# Of those, the ones a Linux user may have (not all digits: that is a uid's shape).
LINUX_NAME = re.compile(r"(?![0-9]+$)[A-Za-z0-9_]{1,32}")
# In a directory only root can enter: a lock file anyone can open, anyone can hold (flock
# needs only read access), blocking every batch.
LOCK_DIR = "/run/qrisbot"
LOCK = f"{LOCK_DIR}/provision.lock"
# The tag the ledger gives an account made before the shop (the seller's menu made it).
MADE_BEFORE = "imported"
# The comment field `accounts import` gives the Linux user of an imported SSH account (and
# a renewal that had to make it again): the shop's from then on.
IMPORTED_MARK = f"qrisbot-{MADE_BEFORE}"
TAKEN = 3
MISSING = 6  # extend: the account is not (or no longer) on the server
KEPT = 7  # remove: the account's date on the server is later (renewed meanwhile): kept


@attrs.frozen
class Script:
    command: str
    stdin: bytes = attrs.field(default=b"", repr=False)


class Recipe(Protocol):
    def exists(self, username: str) -> Script: ...

    def presence(self, status: int, stdout: str) -> Presence | None:
        """Presence from the exists script's result; None when the script failed."""
        ...

    def block(self, account: Account) -> str:
        """Shell code creating one account; its secret line is in "$s"."""
        ...

    def secret_line(self, account: Account) -> str: ...

    def after(self) -> str:
        """Run once after a batch that created or confirmed an account ("" for nothing)."""
        ...

    def needs(self) -> str:
        """A read-only script printing `ok <what>` or `missing <what>` per requirement."""
        ...

    def can_extend(self) -> bool: ...

    def can_remove(self) -> bool: ...

    def remove(self, removal: Removal) -> str:
        """Shell code removing one account (its secret in "$s"): exit 0 removed or already
        gone, TAKEN the name is someone else's (left alone), KEPT its date moved on."""
        ...

    def extend(self, extension: Extension) -> Script:
        """A script setting the account's last day; exit MISSING when it is not there,
        TAKEN when the name belongs to someone else."""
        ...


def extend(recipe: Recipe, extension: Extension) -> Script:
    """One locked script extending one account (nothing to restart: only dates change)."""
    script = recipe.extend(extension)
    return Script(_locked(script.command), script.stdin)


def batch(recipe: Recipe, accounts: list[Account]) -> Script:
    """One locked script creating every account; secrets travel on stdin, one per line."""
    return _batch([recipe.block(a) for a in accounts],
                  [recipe.secret_line(a) for a in accounts], recipe.after())


def removal(recipe: Recipe, removals: list[Removal]) -> Script:
    """One locked script removing every account (one restart after them all)."""
    return _batch([recipe.remove(r) for r in removals], [r.secret for r in removals],
                  recipe.after())


def _batch(blocks: list[str], secrets: list[str], after: str) -> Script:
    """Each block in a subshell with its secret in "$s", its exit status reported as a
    `qrisbot-result` line; `after` once if any block succeeded."""
    lines = ["set -u"]
    lines += [f"IFS= read -r s{i}" for i in range(len(blocks))]
    lines.append("done_any=0")
    for i, block in enumerate(blocks):
        lines.append(f'( s="$s{i}"\n{block}\n)')
        # The newline first: a command whose output lacks one must not swallow the marker.
        lines.append(f'r=$?; printf \'\\nqrisbot-result {i} %s\\n\' "$r"; '
                     '[ "$r" = 0 ] && done_any=1')
    if after:
        lines.append('if [ "$done_any" = 1 ]; then')
        lines.append(f"  {after} || {{ echo 'restart failed' >&2; exit 5; }}")
        lines.append("fi")
    lines.append("exit 0")
    stdin = "".join(secret + "\n" for secret in secrets)
    return Script(_locked("\n".join(lines)), stdin.encode())


def results(stdout: str) -> dict[int, int]:
    """Each block's exit status from a batch script's output."""
    found = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "qrisbot-result" and all(
            p.isdigit() for p in parts[1:]
        ):
            found[int(parts[1])] = int(parts[2])
    return found


def _have(*commands: str) -> str:
    """Requirement lines for commands the recipe (and its lock and timeout) run, and for
    the lock file's place."""
    return "\n".join([
        *(f"command -v {c} >/dev/null && echo {shlex.quote('ok command ' + c)} || "
          f"echo {shlex.quote('missing command ' + c)}"
          for c in ("flock", "timeout", *commands)),
        _test(f"[ -w {LOCK_DIR} ] || [ -w {LOCK_DIR.rsplit('/', 1)[0]} ]",
              f"lock file {LOCK} (writable)"),
    ])


def _test(condition: str, what: str) -> str:
    return f"if {condition}; then echo {shlex.quote('ok ' + what)}; " \
           f"else echo {shlex.quote('missing ' + what)}; fi"


def _locked(script: str) -> str:
    # -o: a daemon started by the script (e.g. a restart outside systemd) must not inherit
    # the lock, or the next edit would wait for it forever.
    return (f"mkdir -p -m 700 {LOCK_DIR} && "
            f"flock -o -w 30 {LOCK} sh -c {shlex.quote(script)}")


class LinuxUsers:
    """SSH tunnel accounts as plain Linux users (`useradd -e`, password via chpasswd's stdin).

    The user's comment field carries `qrisbot-<order id>`, so re-running create for the same
    order recognises its own user and only re-applies password and expiry. On a server an
    autoscript family laid out, the family's SSH list and IP-limit file follow the account.
    """

    def __init__(self, linux: Linux | None = None) -> None:
        self.linux = linux or Linux()

    def _family(self, username: str, shadow_day: str | None) -> str:
        """Shell: the family's list line (with the password from "$s", `user:password`)
        and IP-limit file, written for an account whose shadow expiry is `shadow_day`, or
        dropped (None)."""
        linux = self.linux
        listed = _listed(linux.account_list, linux.list_prefix, username, shadow_day,
                         secret='"${s#*:}"' if shadow_day else "")
        if not linux.ip_files:
            return listed
        folder = shlex.quote(linux.ip_files)
        limit = shlex.quote(f"{linux.ip_files}/{username}IP")
        if shadow_day is None:
            return f"{listed}\nrm -f {limit}"
        return (f"{listed}\nmkdir -p {folder} && printf '%s\\n' {linux.ip_limit} > {limit} "
                "|| exit 1")

    def exists(self, username: str) -> Script:
        # A name held only by a group is taken too: useradd would refuse it.
        _check(LINUX_NAME, username)
        user = shlex.quote(username)
        return Script(f"getent passwd {user} || getent group {user}")

    def presence(self, status: int, stdout: str) -> Presence | None:
        if status == 0 and stdout.strip():
            return Presence.TAKEN
        return Presence.ABSENT if status == 2 else None

    def secret_line(self, account: Account) -> str:
        if not PASSWORD.fullmatch(account.secret):
            raise ValueError("invalid password")
        return f"{account.username}:{account.secret}"

    def block(self, account: Account) -> str:
        _check(LINUX_NAME, account.username)
        user = shlex.quote(account.username)
        # PAM refuses an account on its expire day: -e is the day after the last good day.
        expire_day = (account.expires + dt.timedelta(days=1)).isoformat()
        expire = shlex.quote(expire_day)
        tag = shlex.quote(f"qrisbot-{account.order_id}")
        return f"""tag={tag}
if line=$(getent passwd {user}); then
  case "$line" in *":$tag:"*) created=0 ;; *) echo "user exists" >&2; exit {TAKEN} ;; esac
else
  if getent group {user} >/dev/null; then echo "group exists" >&2; exit {TAKEN}; fi
  useradd -e {expire} -s /bin/false -M -c "$tag" {user} || exit 1
  created=1
fi
if ! printf '%s\\n' "$s" | chpasswd; then
  echo "chpasswd failed" >&2
  [ "$created" = 1 ] && userdel -f {user}
  exit 1
fi
chage -E {expire} {user} || exit 1
{self._family(account.username, expire_day)}"""

    def after(self) -> str:
        return ""

    def can_extend(self) -> bool:
        return True

    def can_remove(self) -> bool:
        return True

    def remove(self, removal: Removal) -> str:
        _check(LINUX_NAME, removal.username)
        user = shlex.quote(removal.username)
        # The shadow expiry is the day after the last good day, in days since 1970.
        day_after = (removal.expires + dt.timedelta(days=1) - dt.date(1970, 1, 1)).days
        return f"""line=$(getent passwd {user}) || {{ {self._family(removal.username, None)}
  exit 0; }}
{_ours(removal.made_by)}
until=$(getent shadow {user} | cut -d: -f8)
# A later date, or none (someone lifted it by hand): not ours to remove now.
if [ -z "$until" ] || [ "$until" -gt {day_after} ]; then exit {KEPT}; fi
pkill -KILL -u {user} 2>/dev/null
userdel -f {user} || exit 1
{self._family(removal.username, None)}"""

    def extend(self, extension: Extension) -> Script:
        _check(LINUX_NAME, extension.username)
        user = shlex.quote(extension.username)
        expire_day = (extension.expires + dt.timedelta(days=1)).isoformat()
        expire = shlex.quote(expire_day)
        # Only this account's user (see _ours). chage -E also lifts an expiry that already
        # passed; the password stays.
        return Script(f"""line=$(getent passwd {user}) || \
  {{ echo "user not found" >&2; exit {MISSING}; }}
{_ours(extension.made_by)}
chage -E {expire} {user} || exit 1
{_listed(self.linux.account_list, self.linux.list_prefix, extension.username,
         expire_day)}""")

    def needs(self) -> str:
        linux = self.linux
        # The family's list is rewritten with awk (_replace).
        listing = ("awk", "mv", "chmod", "chown", "readlink") if linux.account_list else ()
        lines = [_have("getent", "useradd", "userdel", "chpasswd", "chage", "pkill", "usermod",
                       *listing),
                 _test('[ "$(id -u)" = 0 ]', "root (useradd and chpasswd need it)")]
        if linux.account_list:
            lines.append(_test(f"[ -f {shlex.quote(linux.account_list)} ]",
                               f"SSH account list {linux.account_list} (the family's menu "
                               "reads it)"))
        if linux.ip_files:
            lines.append(_test(f"[ -d {shlex.quote(linux.ip_files)} ]",
                               f"IP-limit folder {linux.ip_files}"))
        return "\n".join(lines)


def _listed(path: str, prefix: str, username: str, day: str | None, secret: str = "") -> str:
    """Shell: set the account's line `<prefix> <user> <day>` in a family's account list to
    `day` (None: drop the line), matched on whole fields. `secret`, a shell expression,
    ends the line (RMBL's SSH list keeps the password); it reaches awk through its
    environment, never a command line. The list keeps its mode, owner and link (_replace);
    one the shop has to start is its owner's alone (it may hold passwords)."""
    if not path:
        return ":"
    quoted = shlex.quote(path)
    keep = ('BEGIN { p = ENVIRON["P"] }'
            ' $1 == lp && $2 == u { if (d != "" && !done) { $3 = d; if (p != "") $4 = p;'
            ' print; done = 1 } next }'
            ' { print } END { if (d != "" && !done) print lp, u, d (p != "" ? " " p : "") }')
    return (f"mkdir -p \"$(dirname {quoted})\" && {{ [ -e {quoted} ] || "
            f"(umask 077 && : > {quoted}); }} || exit 1\n"
            + _replace(path, f"P={secret or chr(34) * 2} awk -v lp={shlex.quote(prefix)} "
                             f"-v u={shlex.quote(username)} -v d={shlex.quote(day or '')} "
                             f"{shlex.quote(keep)} {quoted}"))


def _replace(path: str, write: str) -> str:
    """Shell: replace the file at `path` with the output of `write` (which may read it),
    keeping its mode, owner and link: the new file is made beside the file a link points
    to, given its mode and owner, and renamed over it (one rename: a reader sees the old
    file or the new one), so a link stays a link. Exit 1 when any step fails, the old file
    kept. Every file the shop rewrites on a server goes through here."""
    return (f'real=$(readlink -f {shlex.quote(path)}) && [ -f "$real" ] && '
            'tmp="$real.qrisbot.$$" || exit 1\n'
            f'{write} > "$tmp" || {{ rm -f "$tmp"; exit 1; }}\n'
            'chmod --reference="$real" "$tmp" && chown --reference="$real" "$tmp" && '
            'mv "$tmp" "$real" || { rm -f "$tmp"; exit 1; }')


def _ours(made_by: str) -> str:
    """Shell: exit TAKEN unless "$line" (a passwd line) is the user of this account. The
    shop's own carry `qrisbot-<order>` in their comment field; one made before the shop
    (imported) carries the mark `accounts import` wrote on the very user it read
    (`bind_imported`): a user the seller's menu made again under that name, even with the
    same uid, is someone else."""
    if made_by != MADE_BEFORE:
        tag = shlex.quote(f"qrisbot-{made_by}")
        return (f'tag={tag}\ncase "$line" in *":$tag:"*) ;; *) echo "user belongs to someone '
                f'else" >&2; exit {TAKEN} ;; esac')
    return f"""[ "$(printf '%s\\n' "$line" | cut -d: -f5)" = {IMPORTED_MARK} ] || \\
  {{ echo "user belongs to someone else (not the user the shop took on)" >&2; exit {TAKEN}; }}
uid=$(printf '%s\\n' "$line" | cut -d: -f3)
[ "$uid" -ge 1000 ] 2>/dev/null || {{ echo "not a tunnel user" >&2; exit {TAKEN}; }}"""


def bind_imported(users: list[tuple[str, int]]) -> Script:
    """One locked script marking each imported SSH user (name, uid as read) as the shop's:
    its comment field becomes IMPORTED_MARK, only while the name still has that uid and an
    empty comment field (as the families' menus leave it; one someone filled in is not
    overwritten). Prints `<outcome> <user>` per user: bound (marked now or before), gone,
    changed (another uid: made again meanwhile), shop (another order's tag), comment (the
    field holds something else), failed."""
    calls = []
    for username, uid in users:
        _check(LINUX_NAME, username)
        if not 0 <= uid < 2**32:
            raise ValueError("invalid uid")
        calls.append(f"bind {shlex.quote(username)} {uid}")
    return Script(_locked(f"""bind() {{
  line=$(getent passwd "$1") || {{ echo "gone $1"; return; }}
  [ "$(printf '%s\\n' "$line" | cut -d: -f3)" = "$2" ] || {{ echo "changed $1"; return; }}
  case "$(printf '%s\\n' "$line" | cut -d: -f5)" in
    {IMPORTED_MARK}) echo "bound $1" ;;
    '') if usermod -c {IMPORTED_MARK} "$1"; then echo "bound $1"; else echo "failed $1"; fi ;;
    qrisbot-*) echo "shop $1" ;;
    *) echo "comment $1" ;;
  esac
}}
""" + "\n".join(calls)))


# awk: `inb` is 1 on the lines of one of the server's marker blocks (from one of its markers,
# given in `ms`, to the next marker-shaped comment line). A comment line is an account of
# this server's only inside them: on the classic layout Shadowsocks accounts, after their
# own #ssws / #ssgrpc, carry VMess's `###` prefix.
MARKERS_BEGIN = 'nm = split(ms, ma, " "); for (i = 1; i <= nm; i++) M[ma[i]] = 1; '
IN_BLOCK = ('{ t = $0; gsub(/^[ \\t]+|[ \\t]+$/, "", t); if (t in M) inb = 1;'
            ' else if (t ~ /^#[A-Za-z0-9_-]+$/) inb = 0 } ')


class XrayMarkers:
    """Xray clients in the autoscript marker layout (`#vless` lines in a #-commented config).

    A client is a comment line `<prefix> <user> <YYYY-MM-DD>` (RMBL: a prefix per marker
    and the UUID at the end) and a `},{...}` line inserted after every marker. The UUID
    arrives on stdin and reaches awk through its environment, never a command line. A
    client line a family commented out (a locked account) is still the account's.
    """

    def __init__(self, protocol: str, xray: Xray) -> None:
        self.protocol = protocol
        self.xray = xray

    def _day(self, last_day: dt.date) -> str:
        """The date written on the comment lines for an account whose last day this is
        (later by the layout's offset: an autoscript family's cron deletes on it)."""
        return (last_day + dt.timedelta(days=self.xray.date_offset)).isoformat()

    def _prefixes(self) -> str:
        return " ".join(sorted(set(self.xray.prefixes or (self.xray.prefix,))))

    def _awk(self, username: str, program: str, **values: str) -> str:
        """awk over the config where `mine` holds on the user's comment lines: `$1 in P &&
        $2 == u` (P the comment prefixes; whole fields, so `bob` is never `bobby`) inside
        one of the server's marker blocks (IN_BLOCK); `alike` on a comment line anywhere
        whose name is the user's in any case (Xray refuses a config whose inbound has two
        emails differing only in case: `Budi` and `budi` cannot both be there)."""
        extra = "".join(f" -v {k}={shlex.quote(v)}" for k, v in values.items())
        begin = ('BEGIN { np = split(ps, pa, " "); for (i = 1; i <= np; i++) P[pa[i]] = 1; '
                 + MARKERS_BEGIN + '} ' + IN_BLOCK
                 + '{ mine = inb && ($1 in P) && $2 == u;'
                 ' alike = ($1 in P) && tolower($2) == tolower(u) } ')
        return (f"awk -v ps={shlex.quote(self._prefixes())} "
                f"-v ms={shlex.quote(' '.join(self.xray.markers))} -v u={shlex.quote(username)}"
                f"{extra} {shlex.quote(begin + program)} {shlex.quote(self.xray.config)}")

    def _find(self, username: str, where: str = "mine") -> str:
        # Prints the client line after the first line where `where` (see _awk) holds; exit
        # 1 when there is none.
        return self._awk(username, f"{where} {{ getline line; print line; found = 1; exit }}"
                                   " END { exit !found }")

    def _listed(self, username: str, day: str | None) -> str:
        return _listed(self.xray.account_list, self.xray.list_prefix, username, day)

    def _user_files(self, username: str, write: bool) -> str:
        """Write (or remove) the family's per-user quota and IP-limit files."""
        lines = []
        if self.xray.user_files:
            folder = shlex.quote(self.xray.user_files)
            quota = shlex.quote(f"{self.xray.user_files}/{username}")
            limit = shlex.quote(f"{self.xray.user_files}/{username}IP")
            if write:
                lines.append(f"mkdir -p {folder} && printf '%s\\n' "
                             f"{self.xray.quota_gb * 1024 ** 3} > {quota} && "
                             f"printf '%s\\n' {self.xray.ip_limit} > {limit} || exit 1")
            else:
                lines.append(f"rm -f {quota} {limit}")
        if self.xray.usage_files and not write:
            lines.append(f"rm -f {shlex.quote(f'{self.xray.usage_files}/{username}')}")
        return "\n".join(lines) or ":"

    def exists(self, username: str) -> Script:
        # Taken when any inbound has the name in any case (the families' menus refuse a
        # name used anywhere; Xray, one differing only in case).
        _check(NAME, username)
        return Script(self._find(username, "alike"))

    def presence(self, status: int, stdout: str) -> Presence | None:
        if status == 0:
            return Presence.TAKEN
        return Presence.ABSENT if status == 1 else None

    def client_line(self, username: str, var: str = "s") -> str:
        """The awk expression building the client line; the secret is an awk variable."""
        key = "password" if self.protocol == "trojan" else "id"
        extra = '\\"alterId\\": 0, ' if self.protocol == "vmess" else ""
        return f'"}},{{\\"{key}\\": \\"" {var} "\\", {extra}\\"email\\": \\"{username}\\""'

    def secret_line(self, account: Account) -> str:
        if not UUID.fullmatch(account.secret):
            raise ValueError("invalid uuid")
        return account.secret

    def block(self, account: Account) -> str:
        config = shlex.quote(self.xray.config)
        user = account.username
        prefixes = self.xray.prefixes or (self.xray.prefix,) * len(self.xray.markers)
        comments = "|".join(f"{p} {user} {self._day(account.expires)}" for p in prefixes)
        markers = " ".join(self.xray.markers)
        listed = self._listed(user, self._day(account.expires))
        insert = (
            f"S=\"$s\" awk -v cs={shlex.quote(comments)} -v ms={shlex.quote(markers)}"
            f" -v U={int(self.xray.comment_uuid)} "
            + shlex.quote(
                'BEGIN { n = split(ms, m, " "); split(cs, c, "|");'
                ' for (i = 1; i <= n; i++) want[m[i]] = i; s = ENVIRON["S"] }'
                ' { print; t = $0; gsub(/^[ \\t]+|[ \\t]+$/, "", t);'
                ' if (t in want) { print c[want[t]] (U ? " " s : "");'
                f" print {self.client_line(user)} }} }}"
            )
            + f" {config}"
        )
        checks = "\n".join(
            f"grep -Eq {shlex.quote('^[[:space:]]*' + m + '[[:space:]]*$')} {config} || "
            f"{{ echo {shlex.quote('marker ' + m + ' not found')} >&2; exit 4; }}"
            for m in self.xray.markers
        )
        return f"""[ -f {config} ] || {{ echo "config file not found" >&2; exit 4; }}
if line=$({self._find(user)}); then
  case "$line" in
    *"\\"$s\\""*) {self._user_files(user, write=True)}; {listed}; exit 0 ;;
    *) echo "client exists" >&2; exit {TAKEN} ;;
  esac
fi
if {self._find(user, "alike")} >/dev/null; then echo "name in use" >&2; exit {TAKEN}; fi
{checks}
{_replace(self.xray.config, insert)}
{self._user_files(user, write=True)}
{listed}"""

    def after(self) -> str:
        return self.xray.restart

    def can_extend(self) -> bool:
        return True

    def can_remove(self) -> bool:
        return True

    def remove(self, removal: Removal) -> str:
        """Delete exactly this client: its comment lines with that last day's date, or an
        earlier one, and the client line after each (fields compared whole: removing `bob`
        never touches `bobby`); a later date is a renewal made meanwhile (KEPT)."""
        config = shlex.quote(self.xray.config)
        user, day = removal.username, self._day(removal.expires)
        # ISO dates compare as strings; an earlier date is the menu's own for an imported
        # account (existing.leeway), a later one a renewal made meanwhile.
        drop = self._awk(user, "skip { skip = 0; next } mine && $3 <= d "
                               "{ skip = 1; next } { print }", d=day)
        later = self._awk(user, "mine && $3 > d { later = 1 } END { exit later }", d=day)
        # Whatever else the family keeps of the account goes with it (or after it).
        forget = f"{self._user_files(user, write=False)}\n{self._listed(user, None)}"
        return f"""[ -f {config} ] || {{ echo "config file not found" >&2; exit 4; }}
line=$({self._find(user)}) || {{ {forget}; exit 0; }}
case "$line" in *"\\"$s\\""*) ;; *) echo "client belongs to someone else" >&2; exit {TAKEN} ;; esac
{later} || exit {KEPT}
{_replace(self.xray.config, drop)}
{forget}"""

    def extend(self, extension: Extension) -> Script:
        """Rewrite the date on exactly this client's comment lines (fields compared whole:
        renewing `bob` never touches `bobby`); the client line with its secret stays, so
        links keep working. The client must be there with this account's secret."""
        config = shlex.quote(self.xray.config)
        rewrite = self._awk(extension.username,
                            "mine && (NF == 3 || NF == 4) { $3 = d } { print }",
                            d=self._day(extension.expires))
        listed = self._listed(extension.username, self._day(extension.expires))
        return Script(f"""IFS= read -r s
[ -f {config} ] || {{ echo "config file not found" >&2; exit 4; }}
line=$({self._find(extension.username)}) || {{ echo "client not found" >&2; exit {MISSING}; }}
case "$line" in *"\\"$s\\""*) ;; *) echo "client belongs to someone else" >&2; exit {TAKEN} ;; esac
{_replace(self.xray.config, rewrite)}
{listed}""", f"{extension.secret}\n".encode())

    def needs(self) -> str:
        config = shlex.quote(self.xray.config)
        lines = [
            _have("awk", "grep", "mv", "chmod", "chown", "readlink",
                  self.xray.restart.split()[0]),
            _test(f"[ -f {config} ] && [ -r {config} ] && [ -w {config} ]",
                  f"xray config {self.xray.config} (readable and writable)"),
        ]
        lines += [_test(f"grep -Eq {shlex.quote('^[[:space:]]*' + m + '[[:space:]]*$')} "
                        f"{config} 2>/dev/null", f"marker {m} in {self.xray.config}")
                  for m in self.xray.markers]
        lines.append(self._layout_matches())
        xray = self.xray
        lines += [_test(f"[ -d {shlex.quote(folder)} ]", f"{what} folder {folder}")
                  for what, folder in (("quota and IP-limit", xray.user_files),
                                       ("usage", xray.usage_files)) if folder]
        if xray.account_list:
            lines.append(_test(f"[ -f {shlex.quote(xray.account_list)} ]",
                               f"account list {xray.account_list} (the family's menu reads it)"))
        return "\n".join(lines)

    def _layout_matches(self) -> str:
        """Requirement lines: the accounts already in the config are written the way this
        layout writes them (its prefixes, with or without the UUID). A config without any
        account line yet matches every layout."""
        fields = 4 if self.xray.comment_uuid else 3
        program = (
            'BEGIN { np = split(ps, pa, " "); for (i = 1; i <= np; i++) P[pa[i]] = 1 }'
            ' $1 ~ /^#[#&!A-Za-z0-9_-]*$/ && $3 ~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]$/'
            ' && NF >= 3 && NF <= 4 { any = 1; if ($1 in P) { ours++; if (NF != f) bad++ }'
            ' else if (!($1 in seen)) { seen[$1] = 1; others = others " " $1 } }'
            ' END { w = "accounts written as " ps (f == 4 ? " with the UUID" : "");'
            ' if (!any || (ours && !bad)) print "ok " w;'
            ' else if (!ours) print "missing " w " (the server\047s accounts use" others ")";'
            ' else print "missing " w " (" bad " of its account lines have another shape)" }')
        return (f"awk -v ps={shlex.quote(self._prefixes())} -v f={fields} "
                f"{shlex.quote(program)} {shlex.quote(self.xray.config)} 2>/dev/null")


class CustomCommands:
    """The operator's own commands; placeholders are shell-quoted, the secret is on stdin."""

    def __init__(self, commands: Commands) -> None:
        self.commands = commands

    def exists(self, username: str) -> Script:
        _check(NAME, username)
        return Script(_fill(self.commands.exists, username=username))

    def presence(self, status: int, stdout: str) -> Presence | None:
        return {0: Presence.TAKEN, 1: Presence.ABSENT}.get(status)

    def secret_line(self, account: Account) -> str:
        return account.secret

    def block(self, account: Account) -> str:
        command = _fill(
            self.commands.create, username=account.username,
            expires=account.expires.isoformat(), days=str(account.days),
            months=str(account.months), order_id=account.order_id,
            uuid=account.secret if UUID.fullmatch(account.secret) else "",
        )
        return f"printf '%s\\n' \"$s\" | {{\n{command}\n}}"

    def after(self) -> str:
        return ""

    def can_extend(self) -> bool:
        return bool(self.commands.extend)

    def can_remove(self) -> bool:
        return bool(self.commands.delete)

    def remove(self, removal: Removal) -> str:
        command = _fill(self.commands.delete, username=removal.username,
                        expires=removal.expires.isoformat(), order_id=removal.made_by,
                        uuid=removal.secret if UUID.fullmatch(removal.secret) else "")
        return f"printf '%s\\n' \"$s\" | {{\n{command}\n}}"

    def extend(self, extension: Extension) -> Script:
        command = _fill(
            self.commands.extend, username=extension.username,
            expires=extension.expires.isoformat(), order_id=extension.order_id,
            uuid=extension.secret if UUID.fullmatch(extension.secret) else "",
        )
        return Script(f"IFS= read -r s\nprintf '%s\\n' \"$s\" | {{\n{command}\n}}",
                      f"{extension.secret}\n".encode())

    def needs(self) -> str:
        # The exists command, asked about a name nobody has, must answer 0 or 1.
        probe = _fill(self.commands.exists, username="qrisbotprobe")
        return "\n".join([_have(), _test(
            f"( {probe} ) >/dev/null 2>&1; [ $? -le 1 ]",
            "exists command answers 0 (taken) or 1 (free)")])


def _fill(template: str, **values: str) -> str:
    quoted = {k: shlex.quote(v) for k, v in values.items()}
    return string.Formatter().vformat(template, (), _Missing(quoted))


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "''"


def _check(pattern: re.Pattern[str], value: str) -> None:
    if not pattern.fullmatch(value):
        raise ValueError("invalid value")
