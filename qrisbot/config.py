"""The operator's `config.toml`: attrs classes, loading, and every check with its key path."""

from __future__ import annotations

import ipaddress
import os
import re
import string
import tomllib
import typing
import zoneinfo
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final, Literal, NewType
from urllib.parse import urlsplit

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError
from cattrs.gen import make_dict_structure_fn

Protocol = Literal["ssh", "vmess", "vless", "trojan"]
# Whole rupiah. Its own type only so that a price written the Indonesian way (12.000 for
# twelve thousand, a TOML float) is refused with the right hint.
Rupiah = NewType("Rupiah", int)

SERVER_ID = re.compile(r"[a-z0-9-]{1,16}")
# Markers and prefixes end up inside awk programs on the server: keep them to plain characters.
MARKER = re.compile(r"#[A-Za-z0-9_-]{1,32}")
PREFIX = re.compile(r"#[#&!A-Za-z0-9_-]{0,8}")
URL_PATH = re.compile(r"/[A-Za-z0-9/_.~-]{0,63}")
HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
# Placeholders a custom command template may use; the password is never one (it goes on stdin).
TEMPLATE_FIELDS = frozenset({"username", "expires", "days", "months", "uuid", "order_id"})


class ConfigError(Exception):
    """The configuration cannot be used; `problems` lists each one with its key path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@attrs.frozen
class Shop:
    name: str = "Toko VPN"
    database: str = "qrisbot.sqlite3"
    max_months: int = 12
    admins: tuple[int, ...] = ()
    language: Literal["id", "en"] = "id"
    timezone: str = "Asia/Jakarta"
    days_per_month: int = 30
    # When the admins get the day's summary (HH:MM in `timezone`); empty for none.
    daily_summary: str = "08:00"
    # The sales chart (the last 30 days, as in /admin -> Grafik) with the daily summary.
    summary_chart: bool = False
    # Days before an account's last day its buyer is reminded; () for never.
    remind_days: tuple[int, ...] = (3, 1)
    # Days after its last day an account is removed from its server (it may be renewed
    # until then).
    grace_days: int = 1
    # How buyers reach the seller (a button under the menu and /help): a Telegram @username
    # or an https:// URL; empty for no button.
    contact: str = ""
    # The seller's own words at the end of /help (plain text); empty for none.
    help: str = ""
    # A public channel a person must have joined to use the shop (/start, buying, a trial):
    # its @username; the bot must be one of its admins. Empty for none.
    join_channel: str = ""


@attrs.frozen
class Telegram:
    token: str = attrs.field(default="", repr=False)
    api_url: str = "https://api.telegram.org"
    poll_timeout: int = 50


@attrs.frozen
class Pakasir:
    project: str = ""
    api_key: str = attrs.field(default="", repr=False)
    api_url: str = "https://app.pakasir.com"
    api_version: Literal[1, 2] = 2
    check_interval: float = 5.0
    payment_timeout: float = 300.0
    # Optional completion push from Pakasir; off while webhook_listen is empty.
    webhook_listen: str = ""
    webhook_path: str = "/pakasir/webhook"
    webhook_secret: str = attrs.field(default="", repr=False)
    webhook_fallback_interval: float = 30.0

    @property
    def poll_interval(self) -> float:
        """Seconds between status checks: the webhook makes polling only a fallback."""
        return self.webhook_fallback_interval if self.webhook_listen else self.check_interval


@attrs.frozen
class SshAccess:
    host: str
    key_file: str
    known_hosts: str
    port: int = 22
    user: str = "root"
    connect_timeout: float = 15.0
    command_timeout: int = 60


Layout = Literal["custom", "classic", "rmbl", "lunatic"]


@attrs.frozen
class Xray:
    # An autoscript family's layout fills in what is left out below; "custom" (the default)
    # is the common single-file layout with the markers and prefix given here.
    layout: Layout = "custom"
    config: str = ""
    markers: tuple[str, ...] = ()
    prefix: str = ""
    restart: str = "systemctl restart xray"
    path: str = ""
    port_tls: int = 443
    port_ntls: int = 80
    grpc_service: str = ""
    # One comment prefix per marker where a family uses several (RMBL: #vl after #vless,
    # #vlg after #vlessgrpc); () = `prefix` after every marker.
    prefixes: tuple[str, ...] = ()
    comment_uuid: bool = False  # the comment line ends with the client's UUID (RMBL)
    # Per-user files the family's menu and limit daemons read (RMBL): <user_files>/<user>
    # holds the quota in bytes, <user_files>/<user>IP the IP limit; <usage_files>/<user>
    # the bytes used. "" = none.
    user_files: str = ""
    usage_files: str = ""
    # The family's account list its menu reads (Lunatic: /etc/vless/.vless.db), one line
    # `<list_prefix> <user> <date>` per account. "" = none.
    account_list: str = ""
    list_prefix: str = ""
    quota_gb: int = 0  # written to the quota file; 0 = unlimited, as the families read it
    ip_limit: int = 0  # written to the IP-limit file; 0 = unlimited
    # Days between an account's last day and the date written on its comment lines (not a
    # setting: an autoscript family's expiry cron deletes an account on that date, which
    # must be the day the shop would remove it, after its grace period).
    date_offset: int = 0


@attrs.frozen
class Linux:
    """SSH accounts (Linux users) on a server an autoscript family laid out: the family's
    own list of SSH accounts its menu reads, and its per-user IP-limit files."""

    layout: Layout = "custom"  # "rmbl" fills in the paths below; the others keep none
    # One line `<list_prefix> <user> <date> <password>` per account (RMBL: /etc/xray/ssh,
    # the date being the shadow expiry). "" = none.
    account_list: str = ""
    list_prefix: str = ""
    ip_files: str = ""  # <ip_files>/<user>IP holds the IP limit (RMBL: /etc/xray/sshx)
    ip_limit: int = 0  # 0 = unlimited, as the families read it


@attrs.frozen
class Commands:
    create: str
    exists: str
    delete: str = ""
    extend: str = ""  # sets the account's last day to {expires}; "" = no renewals here


PanelType = Literal["3x-ui", "marzban", "pasarguard"]
PANEL_SECRETS: Final = ("password", "token")


@attrs.frozen
class Panel:
    """A web panel the shop reaches over HTTPS instead of SSH (reference/panels.md)."""

    type: PanelType
    url: str  # the panel's address; on 3x-ui with its web base path
    username: str = ""
    # Either may come from QRISBOT_PANEL_<ID>_PASSWORD / _TOKEN (`panel_variable`).
    password: str = attrs.field(default="", repr=False)
    token: str = attrs.field(default="", repr=False)  # 3x-ui API token, PasarGuard API key
    inbound_ids: tuple[int, ...] = ()  # 3x-ui: the inbounds a client goes in
    inbounds: tuple[str, ...] = ()  # Marzban: inbound tags; () = all of the protocol
    groups: tuple[str, ...] = ()  # PasarGuard: group names (resolved to ids on first contact)
    sub_url: str = ""  # public base of subscription links
    # Pinned certificates (`qrisbot servers trust ID`); "" = panel_pins beside config.toml.
    pins: str = ""


class NotSsh(Exception):
    """Code written for SSH servers read `ssh` of a panel server (a bug, said loudly)."""


@attrs.frozen
class Server:
    id: str
    name: str
    protocol: Protocol
    domain: str
    price_per_month: Rupiah
    # Exactly one of `ssh` and `panel` (checked at load). `server.ssh` keeps the type the
    # SSH code has always read; on a panel server it raises NotSsh instead of handing out a
    # stand-in that could reach some host by mistake. New code reads `ssh_access` / `panel`.
    _ssh: SshAccess | None = attrs.field(default=None, alias="ssh")
    panel: Panel | None = None
    capacity: int = 50
    enabled: bool = True
    # Shown and sold only to resellers (`qrisbot resellers add`); never a trial server.
    reseller_only: bool = False
    # Traffic per paid month (GB) and devices/IPs at once, for any backend that can enforce
    # them; 0 = unlimited. Their older places, xray.quota_gb and linux.ip_limit, still work;
    # giving a value in both places is an error, so neither silently wins (`_with_defaults`
    # copies the one given to the other place).
    quota_gb: int = 0
    ip_limit: int = 0
    xray: Xray | None = None
    linux: Linux | None = None  # SSH servers: what an autoscript family keeps of accounts
    commands: Commands | None = None
    # Ports shown to buyers of SSH accounts, label -> port.
    ports: Mapping[str, int] = attrs.field(factory=lambda: {"OpenSSH": 22})

    @property
    def ssh(self) -> SshAccess:
        if self._ssh is None:
            raise NotSsh(f"server {self.id!r} is a panel server: it has no ssh access")
        return self._ssh

    @property
    def ssh_access(self) -> SshAccess | None:
        return self._ssh


@attrs.frozen
class Trial:
    hours: int = 0  # how long a trial account lasts; 0 = no trials
    servers: tuple[str, ...] = ()  # ids of the servers that offer one; () = every one
    daily_limit: int = 50  # trials the whole shop gives per day; 0 = no limit


@attrs.frozen
class Backup:
    """The daily copy of the ledger sent to the admins, encrypted (it holds buyers'
    passwords): nothing leaves the machine without `age_recipient`."""

    telegram: bool = False  # send it to the admins as a Telegram document each day
    at: str = "03:00"  # HH:MM, shop time
    age_recipient: str = ""  # age1... (age-keygen's public key); the seller keeps the identity


@attrs.frozen
class Winback:
    """Offers to a buyer whose account was removed (issue 19 §6): a personal one-time
    discount on each of `days` after the removal until they buy again."""

    days: tuple[int, ...] = ()  # days after the removal; () = no offers
    percent: int = 20  # off their next order
    valid_hours: int = 24  # from when the offer is sent


@attrs.frozen
class Referral:
    """The reward a referrer gets when someone who came through their link pays their first
    order and it is delivered: `days` on their account, or `percent` off their next order
    (one of them; both 0: no referrals)."""

    days: int = 0
    percent: int = 0

    @property
    def is_on(self) -> bool:
        return self.days > 0 or self.percent > 0


# An age X25519 recipient: "age1" and 58 bech32 characters (age-keygen's public key).
AGE_RECIPIENT: Final = re.compile(r"age1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}")


@attrs.frozen
class Config:
    shop: Shop
    telegram: Telegram
    pakasir: Pakasir
    servers: tuple[Server, ...]
    trial: Trial = Trial()
    backup: Backup = Backup()
    referral: Referral = Referral()
    winback: Winback = Winback()

    def server(self, server_id: str) -> Server | None:
        return next((s for s in self.servers if s.id == server_id), None)

    def offers_trial(self, server: Server) -> bool:
        return self.trial.hours > 0 and not server.reseller_only and (
            not self.trial.servers or server.id in self.trial.servers)


# What each layout fills in for whatever a server's xray table leaves out
# (../shared/reference/autoscripts.md). "custom": the common layout of earlier releases.
_SINGLE = "/etc/xray/config.json"
LAYOUTS: Final[dict[str, dict[str, Xray]]] = {
    "custom": {
        "vmess": Xray(config=_SINGLE, markers=("#vmess",), prefix="###", path="/vmess"),
        "vless": Xray(config=_SINGLE, markers=("#vless",), prefix="#&", path="/vless"),
        "trojan": Xray(config=_SINGLE, markers=("#trojanws",), prefix="#!",
                       path="/trojan-ws"),
    },
    # givps/AutoScriptXray and its forks: one file, a websocket and a gRPC inbound each.
    "classic": {
        "vmess": Xray(config=_SINGLE, markers=("#vmess", "#vmessgrpc"), prefix="###",
                      path="/vmess"),
        "vless": Xray(config=_SINGLE, markers=("#vless", "#vlessgrpc"), prefix="#&",
                      path="/vless"),
        "trojan": Xray(config=_SINGLE, markers=("#trojanws", "#trojangrpc"), prefix="#!",
                       path="/trojan-ws"),
    },
    # RMBL (VIP-VPN): a prefix per marker, the UUID on the comment line, per-user quota and
    # IP-limit files.
    "rmbl": {
        protocol: Xray(config=_SINGLE, markers=markers, prefix=prefixes[0], prefixes=prefixes,
                       path=path, comment_uuid=True, user_files=f"/etc/{protocol}",
                       usage_files=f"/etc/limit/{protocol}")
        for protocol, markers, prefixes, path in (
            ("vmess", ("#vmess", "#vmessgrpc"), ("#vm", "#vmg"), "/vmess"),
            ("vless", ("#vless", "#vlessgrpc"), ("#vl", "#vlg"), "/vless"),
            ("trojan", ("#trojanws", "#trojangrpc"), ("#tr", "#trg"), "/trojan-ws"))
    },
    # LunaticTunnel: one file per protocol.
    "lunatic": {
        "vmess": Xray(config="/etc/xray/vme.json", markers=("#vmess", "#vmessgrpc"),
                      prefix="###", path="/vmess"),
        "vless": Xray(config="/etc/xray/vle.json", markers=("#vless", "#vlessgrpc"),
                      prefix="#&", path="/vless", account_list="/etc/vless/.vless.db",
                      list_prefix="#vle#"),
        "trojan": Xray(config="/etc/xray/tro.json", markers=("#trojanws", "#trojangrpc"),
                       prefix="#!", path="/trojan-ws"),
    },
}
DEFAULT_XRAY = LAYOUTS["custom"]
# What each layout keeps of SSH accounts (classic keeps no list; Lunatic's newer installer
# has one under /etc/lunatic whose layout is not confirmed, so none is written).
LINUX_LAYOUTS: Final[dict[str, Linux]] = {
    "custom": Linux(), "classic": Linux(), "lunatic": Linux(),
    "rmbl": Linux(account_list="/etc/xray/ssh", list_prefix="###", ip_files="/etc/xray/sshx"),
}

# --- strict structuring: a value of another TOML type is an error, never converted --------
# (cattrs' own hooks call int(), bool(), tuple() on whatever they get: "123456789" became
# nine admins, "false" kept a server on sale, 12.000 was Rp12.)

class WrongType(TypeError):
    """A value of another TOML type than its key takes; the message says what to write."""


_TOML_TYPES: Final = ((bool, "a boolean"), (int, "an integer"), (float, "a float"),
                      (str, "a string"), (list, "an array"), (tuple, "an array"),
                      (dict, "a table"))


def _toml_type(value: Any) -> str:
    return next((name for kind, name in _TOML_TYPES if isinstance(value, kind)),
                "a date or time")


def _wrong(expected: str, value: Any) -> WrongType:
    """Never echoes the value: it may be a secret in the wrong place."""
    hint = ""
    if isinstance(value, str) and re.fullmatch(r"\s*(true|false|-?\d+(\.\d+)?)\s*", value):
        hint = " (write it without quotes)"
    return WrongType(f"expected {expected}, got {_toml_type(value)}{hint}")


def _structure_int(value: Any, _: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is float:
        raise WrongType("expected a whole number, got a float: write it without a dot")
    raise _wrong("a whole number", value)


def _structure_rupiah(value: Any, _: Any) -> Rupiah:
    if type(value) is float:
        thousands = round(value * 1000, 6)  # 12.000 is how Indonesians write 12000
        write = f"write {int(thousands)}" if thousands.is_integer() else "write the amount"
        raise WrongType(f"expected whole rupiah, got a float: {write}, without a dot")
    return Rupiah(_structure_int(value, int))


def _structure_float(value: Any, _: Any) -> float:
    if type(value) in (int, float):
        return float(value)
    raise _wrong("a number", value)


def _structure_bool(value: Any, _: Any) -> bool:
    if type(value) is bool:
        return value
    raise _wrong("true or false", value)


def _structure_str(value: Any, _: Any) -> str:
    if type(value) is str:
        return value
    raise _wrong("a string (in quotes)", value)


def _structure_literal(value: Any, type_: Any) -> Any:
    allowed = typing.get_args(type_)
    if any(type(value) is type(a) and value == a for a in allowed):
        return value
    got = "" if any(type(value) is type(a) for a in allowed) else f", got {_toml_type(value)}"
    raise WrongType("must be one of " + ", ".join(repr(a) for a in allowed) + got)


def _is_array(type_: Any) -> bool:
    args = typing.get_args(type_)
    return typing.get_origin(type_) is tuple and len(args) == 2 and args[1] is Ellipsis


def _array_factory(type_: Any, converter: cattrs.Converter) -> Any:
    elements = homogenous_tuple_structure_factory(type_, converter)

    def structure(value: Any, _: Any) -> Any:
        if type(value) not in (list, tuple):  # a string is never read as a list
            raise _wrong("an array such as [1, 2]", value)
        return elements(value, type_)

    return structure


def _is_table(type_: Any) -> bool:
    return attrs.has(type_) or typing.get_origin(type_) in (Mapping, dict)


def _table_factory(type_: Any, converter: cattrs.Converter) -> Any:
    fields = (make_dict_structure_fn(type_, converter, _cattrs_use_alias=True)
              if attrs.has(type_) else converter.gen_structure_mapping(type_))

    def structure(value: Any, _: Any) -> Any:
        if type(value) is not dict:
            raise _wrong("a table such as { key = value }", value)
        return fields(value, type_)

    return structure


def _strict_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    for kind, hook in ((int, _structure_int), (Rupiah, _structure_rupiah),
                       (float, _structure_float), (bool, _structure_bool),
                       (str, _structure_str)):
        converter.register_structure_hook(kind, hook)
    literal: Any = Literal
    converter.register_structure_hook_func(
        lambda t: typing.get_origin(t) is literal, _structure_literal)
    converter.register_structure_hook_factory(_is_array, _array_factory)
    converter.register_structure_hook_factory(_is_table, _table_factory)
    return converter


_converter = _strict_converter()


def load(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None, *,
         secrets_required: bool = True) -> Config:
    """Read, structure and check the file; raise ConfigError listing every problem.

    Operator commands that touch only the ledger or the servers pass
    `secrets_required=False`: they run fine where the secrets' environment file is absent.
    """
    environ = os.environ if environ is None else environ
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read ({exc.__class__.__name__})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    config = parse(raw, environ, secrets_required=secrets_required)
    return _with_pins_beside(config, Path(path).absolute().parent)


def _with_pins_beside(config: Config, folder: Path) -> Config:
    """Panels' pinned certificates default to `panel_pins` in the config file's folder (where
    `qrisbot setup` keeps known_hosts too)."""
    return attrs.evolve(config, servers=tuple(
        attrs.evolve(s, panel=attrs.evolve(s.panel, pins=str(folder / "panel_pins")))
        if s.panel is not None and not s.panel.pins else s for s in config.servers))


def parse(raw: dict[str, Any], environ: Mapping[str, str], *,
          secrets_required: bool = True) -> Config:
    """Structure and check a raw configuration; raise ConfigError naming every problem.

    All at once: each table and each server is structured on its own, so a value of the
    wrong type in one hides none of the problems of the others (only those of its own
    table, which cannot be checked further until it is structured).
    """
    raw = _apply_environment(raw, environ)
    missing = [f"$.{k}" for k in ("telegram", "pakasir") if k not in raw]
    problems = [f"missing table [{k[2:]}]" for k in missing]
    unknown = sorted(set(raw) - {a.name for a in attrs.fields(Config)})
    if unknown:
        problems.append(f"unknown key(s) {', '.join(unknown)} @ $")
    unchecked = list(missing)  # key paths whose problems are already named
    sections: dict[str, Any] = {}
    for name, cls in (("shop", Shop), ("telegram", Telegram), ("pakasir", Pakasir),
                      ("trial", Trial), ("backup", Backup), ("winback", Winback),
                      ("referral", Referral)):
        value, found, skipped = _structure(raw.get(name, {}), cls, f"$.{name}")
        problems += found
        unchecked += skipped
        sections[name] = value or cls()
    entries = raw.get("servers") or []
    if not isinstance(entries, list):
        problems.append(f"expected [[servers]] tables, got {_toml_type(entries)} @ $.servers")
        entries = []
    elif not entries:
        problems.append("servers: at least one [[servers]] entry is needed")
    servers: list[Server] = []
    paths: list[str] = []
    unstructured_ids: set[str] = set()
    for i, entry in enumerate(entries):
        at = f"$.servers[{i}]"
        if isinstance(entry, dict) and isinstance(entry.get("xray"), dict) and (
                "date_offset" in entry["xray"]):
            problems.append(f"{at}.xray: unknown key(s) date_offset")
        if isinstance(entry, dict):
            problems += _reached_how(entry, at)
        server, found, skipped = _structure(entry, Server, at)
        problems += found
        unchecked += skipped
        if server is None:
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                unstructured_ids.add(entry["id"])
        else:
            servers.append(server)
            paths.append(at)
    config = Config(servers=tuple(servers), **sections)
    checked = [p for p in _semantic_problems(config, paths, unstructured_ids)
               if not any(re.match(re.escape(u) + r"[.:\[]", p) for u in unchecked)]
    if not secrets_required:
        checked = [p for p in checked
                   if not p.startswith(SECRET_KEYS) and not PANEL_SECRET_KEY.match(p)]
    if problems or checked:
        raise ConfigError(problems + checked)
    return _with_xray_defaults(config)


def _reached_how(entry: dict[str, Any], at: str) -> Iterator[str]:
    """Exactly one of ssh and panel, as written (a table of the wrong shape is its own
    problem); a limit given at server level and in its older place too (which would win is
    not obvious, so neither does)."""
    if "ssh" in entry and "panel" in entry:
        yield f"{at}: has both ssh and panel; a server is reached one way, keep one"
    elif "ssh" not in entry and "panel" not in entry:
        yield (f"{at}: needs ssh (a server an autoscript laid out) or panel (a web panel: "
               "3x-ui, Marzban, PasarGuard)")
    for key, table in (("quota_gb", "xray"), ("ip_limit", "xray"), ("ip_limit", "linux")):
        inner = entry.get(table)
        if key in entry and isinstance(inner, dict) and key in inner:
            yield (f"{at}.{table}.{key}: also given as {at}.{key}; keep one "
                   f"({key} at server level is the newer place)")


T = typing.TypeVar("T")


def _structure(value: Any, cls: type[T], at: str) -> tuple[T | None, list[str], list[str]]:
    """One table structured strictly: the value (or None), its problems with their key
    paths, and the key paths left unchecked. A key of the wrong type is replaced by its
    default or a stand-in, so that the rest of the table is still checked in this pass."""
    try:
        return _converter.structure(value, cls), [], []
    except ClassValidationError as exc:
        problems = _structure_problems(exc, at)
        value, unchecked = _stand_ins(value, cls, exc, at)
    except WrongType as exc:  # not a table at all
        return None, [f"{exc} @ {at}"], [at]
    try:
        return _converter.structure(value, cls), problems, unchecked
    except (ClassValidationError, WrongType):
        return None, problems, [at]


def _stand_ins(value: dict[str, Any], cls: type, exc: ClassValidationError, at: str,
               ) -> tuple[dict[str, Any], list[str]]:
    """`value` without its unknown keys, each key that failed replaced by its default (left
    out) or a stand-in of its type (its problems are named; a stand-in's are not checked)."""
    fields = attrs.fields_dict(cls)
    value = {k: v for k, v in value.items() if k in {f.alias for f in fields.values()}}
    unchecked = []
    for _, note in exc.group_exceptions()[0]:
        key = fields[note.name].alias or note.name  # the TOML key (`ssh` for Server._ssh)
        path, inner = f"{at}.{key}", value.get(key)
        # X | None: the table X
        kind = next((t for t in typing.get_args(note.type) if attrs.has(t)), note.type)
        if attrs.has(kind) and type(inner) is dict:  # a table with bad keys inside
            table, _, skipped = _structure(inner, kind, path)
            if table is not None:
                value[key] = _converter.unstructure(table)
                unchecked += skipped
                continue
        unchecked.append(path)
        if fields[note.name].default is not attrs.NOTHING:
            value.pop(key, None)
        elif note.type in _STAND_INS:
            value[key] = _STAND_INS[note.type]
    return value, unchecked


_STAND_INS: Final[dict[Any, Any]] = {int: 0, Rupiah: 0, float: 0.0, str: "", bool: False}


def _apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    raw = dict(raw)
    for table, key, var in (
        ("telegram", "token", "QRISBOT_TELEGRAM_TOKEN"),
        ("pakasir", "api_key", "QRISBOT_PAKASIR_API_KEY"),
        ("pakasir", "webhook_secret", "QRISBOT_PAKASIR_WEBHOOK_SECRET"),
    ):
        if environ.get(var) and isinstance(raw.get(table), dict):
            raw[table] = {**raw[table], key: environ[var]}
    if isinstance(raw.get("servers"), list):
        raw["servers"] = [_panel_environment(entry, environ) for entry in raw["servers"]]
    return raw


def panel_variable(server_id: str, key: str) -> str:
    """QRISBOT_PANEL_<ID>_PASSWORD / _TOKEN: the id upper case, `-` as `_`."""
    return f"QRISBOT_PANEL_{server_id.upper().replace('-', '_')}_{key.upper()}"


def _panel_environment(entry: Any, environ: Mapping[str, str]) -> Any:
    if not (isinstance(entry, dict) and isinstance(entry.get("panel"), dict)
            and isinstance(entry.get("id"), str)):
        return entry
    panel = dict(entry["panel"])
    for key in PANEL_SECRETS:
        if environ.get(panel_variable(entry["id"], key)):
            panel[key] = environ[panel_variable(entry["id"], key)]
    return {**entry, "panel": panel}


def _structure_problems(exc: ClassValidationError, at: str) -> list[str]:
    problems = cattrs.transform_error(exc, path=at, format_exception=_format_exception)
    return [re.sub(r"\._ssh\b", ".ssh", p) for p in problems]  # its TOML key


def _format_exception(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, WrongType):
        return str(exc)
    if isinstance(exc, ForbiddenExtraKeysError):
        return f"unknown key(s) {', '.join(sorted(exc.extra_fields))}"
    if isinstance(exc, KeyError):
        return "required key missing"
    if typing.get_origin(type_) is Literal:
        return "must be one of " + ", ".join(repr(v) for v in typing.get_args(type_))
    if type_ is not None and isinstance(exc, (ValueError, TypeError)):
        name = getattr(type_, "__name__", None) or str(type_)
        return f"expected {name}"
    return cattrs.v.format_exception(exc, type_)


# shop.contact: a Telegram username as Telegram allows it, or a web address to open.
CONTACT_USERNAME: Final = re.compile(r"@[A-Za-z][A-Za-z0-9_]{4,31}")
CONTACT_URL: Final = re.compile(r"https://[^\s<>\"']{3,200}")
MAX_HELP: Final = 1500
# shop.join_channel: a public username as Telegram gives them (no _ at the end, no __).
JOIN_CHANNEL: Final = re.compile(r"@(?!\w*__)[A-Za-z][A-Za-z0-9_]{3,30}[A-Za-z0-9]")

SECRET_KEYS: Final = ("$.telegram.token:", "$.pakasir.api_key:", "$.pakasir.webhook_secret:")
PANEL_SECRET_KEY: Final = re.compile(r"\$\.servers\[\d+\]\.panel(\.password|\.token)?: "
                                     r"(missing|no password)")


def _semantic_problems(config: Config, paths: typing.Sequence[str],
                       unstructured_ids: typing.AbstractSet[str]) -> Iterator[str]:
    """`paths`: each server's key path; `unstructured_ids`: servers that could not be
    structured (their problems are already named; a trial may still name them)."""
    shop, tg, pk = config.shop, config.telegram, config.pakasir
    if not shop.name.strip():
        yield "$.shop.name: must not be empty"
    if not shop.database.strip():
        yield "$.shop.database: must not be empty"
    if not 1 <= shop.max_months <= 12:
        yield "$.shop.max_months: must be between 1 and 12"
    if not 1 <= shop.days_per_month <= 31:
        yield "$.shop.days_per_month: must be between 1 and 31"
    try:
        zoneinfo.ZoneInfo(shop.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        yield f"$.shop.timezone: unknown time zone {shop.timezone!r}"
    if not all(1 <= d <= 60 for d in shop.remind_days) or len(set(shop.remind_days)) != len(
            shop.remind_days):
        yield "$.shop.remind_days: days before expiry, each 1-60 and different, e.g. [3, 1]"
    if not 0 <= shop.grace_days <= 30:
        yield "$.shop.grace_days: must be between 0 and 30"
    if shop.daily_summary and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", shop.daily_summary):
        yield '$.shop.daily_summary: must be HH:MM (24-hour clock) or "" for none'
    if shop.contact and not (CONTACT_USERNAME.fullmatch(shop.contact)
                             or CONTACT_URL.fullmatch(shop.contact)):
        yield ('$.shop.contact: a Telegram @username (5-32 letters, digits or _) or an '
               'https:// URL, or "" for none')
    if shop.join_channel and not JOIN_CHANNEL.fullmatch(shop.join_channel):
        yield ('$.shop.join_channel: a public channel\'s @username (5-32 letters, digits or '
               '_, starting with a letter), or "" for none')
    if len(shop.help) > MAX_HELP:
        yield f"$.shop.help: at most {MAX_HELP} characters (it ends the /help message)"
    if not re.fullmatch(r"\d{1,20}:[A-Za-z0-9_-]{10,}", tg.token):
        yield (
            "$.telegram.token: missing or malformed (expected '<digits>:<secret>' from "
            "@BotFather; may come from QRISBOT_TELEGRAM_TOKEN)"
        )
    if not tg.api_url.startswith(("https://", "http://")):
        yield "$.telegram.api_url: must start with https:// or http://"
    if not 0 <= tg.poll_timeout <= 300:
        yield "$.telegram.poll_timeout: must be between 0 and 300 seconds"
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", pk.project):
        yield "$.pakasir.project: missing or not a project slug ([A-Za-z0-9_-])"
    if not pk.api_key or any(c in pk.api_key for c in string.whitespace):
        yield "$.pakasir.api_key: missing (may come from QRISBOT_PAKASIR_API_KEY)"
    if not pk.api_url.startswith(("https://", "http://")):
        yield "$.pakasir.api_url: must start with https:// or http://"
    if not 4 <= pk.check_interval <= 60:
        # Pakasir answers one status call per 4 s per transaction; more is refused (429).
        yield "$.pakasir.check_interval: must be between 4 and 60 seconds"
    if not 30 <= pk.payment_timeout <= 3600:
        yield "$.pakasir.payment_timeout: must be between 30 and 3600 seconds"
    if pk.webhook_listen:
        host, _, port = pk.webhook_listen.rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            yield "$.pakasir.webhook_listen: must be HOST:PORT, e.g. 127.0.0.1:8787"
        if not re.fullmatch(r"/[A-Za-z0-9/_.-]{0,100}", pk.webhook_path):
            yield "$.pakasir.webhook_path: must be a URL path such as /pakasir/webhook"
        if len(pk.webhook_secret) < 16:
            yield ("$.pakasir.webhook_secret: at least 16 characters are needed when the "
                   "webhook is on (may come from QRISBOT_PAKASIR_WEBHOOK_SECRET)")
        if not pk.check_interval <= pk.webhook_fallback_interval <= 600:
            yield "$.pakasir.webhook_fallback_interval: must be check_interval..600 seconds"
    yield from _trial_problems(config, unstructured_ids)
    yield from _backup_problems(config)
    yield from _referral_problems(config)
    yield from _winback_problems(config.winback)
    seen: set[str] = set(unstructured_ids)
    for at, server in zip(paths, config.servers, strict=True):
        yield from _server_problems(at, server, config)
        if server.id in seen:
            yield f"{at}.id: duplicate server id {server.id!r}"
        seen.add(server.id)


def _trial_problems(config: Config, unstructured_ids: typing.AbstractSet[str]
                    ) -> Iterator[str]:
    trial = config.trial
    if not 0 <= trial.hours <= 72:
        yield "$.trial.hours: must be 0 (no trials) or 1-72"
    if trial.daily_limit < 0:
        yield "$.trial.daily_limit: must be 0 (no limit) or more"
    known = {s.id for s in config.servers} | unstructured_ids
    for j, server_id in enumerate(trial.servers):
        if server_id not in known:
            yield f"$.trial.servers[{j}]: no server {server_id!r} in [[servers]]"
        elif any(s.id == server_id and s.reseller_only for s in config.servers):
            yield (f"$.trial.servers[{j}]: server {server_id!r} is reseller_only (sold only "
                   "to resellers: never a trial server)")


def _winback_problems(winback: Winback) -> Iterator[str]:
    if not all(1 <= d <= 90 for d in winback.days) or len(set(winback.days)) != len(
            winback.days):
        yield "$.winback.days: days after a removal, each 1-90 and different, e.g. [1, 3, 7]"
    if not 1 <= winback.percent <= 90:
        yield "$.winback.percent: must be 1-90 (percent off the next order)"
    if not 1 <= winback.valid_hours <= 24 * 14:
        yield "$.winback.valid_hours: must be 1-336 (hours an offer lasts once sent)"


def _backup_problems(config: Config) -> Iterator[str]:
    backup = config.backup
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", backup.at):
        yield "$.backup.at: must be HH:MM (24-hour clock, shop time), e.g. \"03:00\""
    if backup.age_recipient and not AGE_RECIPIENT.fullmatch(backup.age_recipient):
        yield ("$.backup.age_recipient: not an age public key (age1 and 58 letters and "
               "digits, as age-keygen prints it)")
    if backup.telegram and not backup.age_recipient:
        yield ("$.backup.age_recipient: needed when backup.telegram is on (the ledger holds "
               "buyers' passwords: it leaves the machine only encrypted); make one with "
               "age-keygen and paste its public key")
    if backup.telegram and not config.shop.admins:
        yield "$.backup.telegram: no shop.admins to send the backup to"


def _referral_problems(config: Config) -> Iterator[str]:
    referral = config.referral
    if not 0 <= referral.days <= 365:
        yield "$.referral.days: must be 0 (none) or 1-365"
    if not 0 <= referral.percent <= 90:
        yield "$.referral.percent: must be 0 (none) or 1-90"
    if referral.days and referral.percent:
        yield "$.referral: days or percent, not both (the reward is one of them)"


def _server_problems(at: str, server: Server, config: Config) -> Iterator[str]:
    if not SERVER_ID.fullmatch(server.id):
        yield f"{at}.id: must match [a-z0-9-]{{1,16}}"
    if not server.name.strip() or len(server.name) > 40:
        yield f"{at}.name: must be 1-40 characters"
    if not HOSTNAME.fullmatch(server.domain):
        yield f"{at}.domain: not a host name"
    # QRIS accepts Rp500 .. Rp10,000,000 per transaction.
    if server.price_per_month < 500:
        yield f"{at}.price_per_month: must be at least 500 (QRIS minimum)"
    elif server.price_per_month * config.shop.max_months > 10_000_000:
        yield f"{at}.price_per_month: max_months x price exceeds the QRIS limit of Rp10,000,000"
    if server.capacity < 0:
        yield f"{at}.capacity: must not be negative"
    if not 0 <= server.quota_gb <= 100_000:
        yield f"{at}.quota_gb: must be 0 (unlimited) to 100000"
    if not 0 <= server.ip_limit <= 1000:
        yield f"{at}.ip_limit: must be 0 (unlimited) to 1000"
    ssh = server.ssh_access  # both or neither: named in `_reached_how`
    if server.panel is not None:
        if ssh is None:
            yield from _panel_problems(f"{at}.panel", server, server.panel)
        return
    if ssh is None:
        return
    if not HOSTNAME.fullmatch(ssh.host):
        yield f"{at}.ssh.host: not a host name or address"
    if not 1 <= ssh.port <= 65535:
        yield f"{at}.ssh.port: must be 1-65535"
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", ssh.user):
        yield f"{at}.ssh.user: not a user name"
    if not ssh.key_file:
        yield f"{at}.ssh.key_file: must name the private key file"
    if not ssh.known_hosts:
        yield f"{at}.ssh.known_hosts: must name a known_hosts file (host keys are always verified)"
    if not 1 <= ssh.command_timeout <= 600:
        yield f"{at}.ssh.command_timeout: must be 1-600 seconds"
    for label, port in server.ports.items():
        if not 1 <= port <= 65535 or not 0 < len(label) <= 30:
            yield f"{at}.ports.{label}: must be a port 1-65535 with a short label"
    if server.commands is not None:
        if server.xray is not None:
            yield f"{at}: set either xray or commands, not both"
        for name in ("create", "exists", "delete", "extend"):
            template = getattr(server.commands, name)
            if name in ("create", "exists") or template:
                yield from _template_problems(f"{at}.commands.{name}", template)
    elif server.protocol != "ssh":
        yield from _xray_problems(f"{at}.xray", server)
    elif server.xray is not None:
        yield f"{at}.xray: only for vmess, vless and trojan servers"
    if server.linux is not None:
        if server.protocol != "ssh" or server.commands is not None:
            yield f"{at}.linux: only for ssh servers with the built-in recipe"
        yield from _linux_problems(f"{at}.linux", server.linux)


# Which panel type each type-specific key belongs to.
PANEL_KEYS: Final = {"inbound_ids": "3x-ui", "inbounds": "marzban", "groups": "pasarguard"}


def _panel_problems(at: str, server: Server, panel: Panel) -> Iterator[str]:
    top = at.rpartition(".")[0]
    if server.protocol == "ssh":
        yield f"{top}.protocol: a panel sells vmess, vless or trojan accounts, not ssh"
    for name in ("xray", "linux", "commands"):
        if getattr(server, name) is not None:
            yield f"{top}.{name}: only for servers reached over ssh, not with panel"
    yield from _url_problems(f"{at}.url", panel.url)
    if panel.sub_url:
        yield from _url_problems(f"{at}.sub_url", panel.sub_url)
    for key, owner in PANEL_KEYS.items():
        if getattr(panel, key) and panel.type != owner:
            yield f"{at}.{key}: only for type = {owner!r}, not {panel.type!r}"
    if panel.type == "3x-ui":
        if not panel.inbound_ids:
            yield f"{at}.inbound_ids: the ids of the panel's inbounds a client goes in, e.g. [3]"
        if any(i < 1 for i in panel.inbound_ids) or len(set(panel.inbound_ids)) != len(
                panel.inbound_ids):
            yield f"{at}.inbound_ids: each a different inbound id, 1 or more"
    if panel.type == "pasarguard" and not panel.groups:
        yield (f"{at}.groups: at least one group name (a PasarGuard user without a group has "
               "no inbounds)")
    for key in ("inbounds", "groups"):
        for j, name in enumerate(getattr(panel, key)):
            if not name.strip() or len(name) > 64 or not name.isprintable():
                yield f"{at}.{key}[{j}]: a name as the panel shows it (1-64 characters)"
    if panel.type == "marzban" and panel.token:
        yield (f"{at}.token: only for 3x-ui (API token) and PasarGuard (API key); Marzban logs "
               "in with username and password")
    for key in PANEL_SECRETS:
        value = getattr(panel, key)
        if value and (len(value) > 512 or any(not c.isprintable() or c.isspace()
                                              for c in value)):
            yield f"{at}.{key}: holds spaces or line breaks (copied with them?)"
    if not panel.password and not (panel.token and panel.type != "marzban"):
        token_from = panel_variable(server.id, "token")
        either = "" if panel.type == "marzban" else f", or token from {token_from}"
        yield (f"{at}.password: missing (may come from {panel_variable(server.id, 'password')}"
               f"{either})")
    elif panel.password and not panel.username:
        yield f"{at}.username: missing (the panel's admin user the password belongs to)"
    if panel.pins and not panel.pins.startswith("/"):
        yield f"{at}.pins: must be an absolute path"


def _url_problems(at: str, url: str) -> Iterator[str]:
    parts = urlsplit(url)
    try:
        host, _ = parts.hostname, parts.port  # a port that is not a number raises
    except ValueError:
        host = None
    if parts.scheme not in ("https", "http") or not host or not (
            HOSTNAME.fullmatch(host) or _is_address(host)):
        yield f"{at}: must be a URL such as https://panel.example.com:2053/path/"
    elif parts.username is not None or parts.query or parts.fragment or any(
            c.isspace() for c in url):
        yield f"{at}: no user, ?query or #fragment in it (username and password are keys)"
    elif parts.scheme == "http" and not is_loopback(host):
        yield (f"{at}: must start with https:// (http:// only for a panel on this machine, "
               "127.0.0.1 or ::1: the password would cross the network in the clear)")


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: the one place plain http:// may reach a panel."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _linux_problems(at: str, linux: Linux) -> Iterator[str]:
    for name in ("account_list", "ip_files"):
        path = getattr(linux, name)
        if path and not re.fullmatch(r"/[A-Za-z0-9/_.-]{1,100}", path):
            yield f"{at}.{name}: must be an absolute path of plain characters"
    if linux.list_prefix and not PREFIX.fullmatch(linux.list_prefix):
        yield f"{at}.list_prefix: must look like '###' (# then up to 8 of #&!A-Za-z0-9_-)"
    if bool(linux.account_list) != bool(linux.list_prefix) and linux.layout == "custom":
        yield f"{at}: account_list and list_prefix go together"
    if not 0 <= linux.ip_limit <= 1000:
        yield f"{at}.ip_limit: must be 0 (unlimited) to 1000"


def _xray_problems(at: str, server: Server) -> Iterator[str]:
    xray = server.xray or Xray()
    if xray.config and (not xray.config.startswith("/") or any(c in xray.config
                                                                for c in "'\"\\\n")):
        yield f"{at}.config: must be an absolute path without quotes"
    for j, marker in enumerate(xray.markers):
        if not MARKER.fullmatch(marker):
            yield f"{at}.markers[{j}]: must look like '#vless' (# then letters, digits, _ or -)"
    for j, prefix in enumerate((xray.prefix, *xray.prefixes)):
        if prefix and not PREFIX.fullmatch(prefix):
            where = "prefix" if j == 0 else f"prefixes[{j - 1}]"
            yield f"{at}.{where}: must look like '#&' (# then up to 8 of #&!A-Za-z0-9_-)"
    if xray.prefixes and xray.markers and len(xray.prefixes) != len(xray.markers):
        yield f"{at}.prefixes: one per marker ({len(xray.markers)})"
    if bool(xray.account_list) != bool(xray.list_prefix) and xray.layout == "custom":
        yield f"{at}: account_list and list_prefix go together"
    if xray.list_prefix and not PREFIX.fullmatch(xray.list_prefix):
        yield f"{at}.list_prefix: must look like '#vle#' (# then up to 8 of #&!A-Za-z0-9_-)"
    for name in ("user_files", "usage_files", "account_list"):
        folder = getattr(xray, name)
        if folder and not re.fullmatch(r"/[A-Za-z0-9/_.-]{1,100}", folder):
            yield f"{at}.{name}: must be an absolute path of plain characters"
    if not 0 <= xray.quota_gb <= 100_000:
        yield f"{at}.quota_gb: must be 0 (unlimited) to 100000"
    if not 0 <= xray.ip_limit <= 1000:
        yield f"{at}.ip_limit: must be 0 (unlimited) to 1000"
    if xray.path and not URL_PATH.fullmatch(xray.path):
        yield f"{at}.path: must be a URL path such as /vless"
    if xray.grpc_service and not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", xray.grpc_service):
        yield f"{at}.grpc_service: letters, digits, _ and - only"
    for name in ("port_tls", "port_ntls"):
        port = getattr(xray, name)
        if not 0 <= port <= 65535:
            yield f"{at}.{name}: must be 0 (none) or a port"
    if xray.port_tls == 0 and xray.port_ntls == 0:
        yield f"{at}: at least one of port_tls and port_ntls is needed"


def _template_problems(at: str, template: str) -> Iterator[str]:
    if not template.strip():
        yield f"{at}: must not be empty"
        return
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        yield f"{at}: bad template ({exc})"
        return
    if "password" in fields:
        yield f"{at}: {{password}} is not allowed; the password is written to the command's stdin"
    unknown = fields - TEMPLATE_FIELDS - {"password"}
    if unknown:
        allowed = ", ".join("{" + f + "}" for f in sorted(TEMPLATE_FIELDS))
        yield f"{at}: unknown placeholder(s) {', '.join(sorted(unknown))}; allowed: {allowed}"


def _with_xray_defaults(config: Config) -> Config:
    """Fill the per-protocol defaults of the common autoscript layout where a key was left out."""
    servers = []
    for server in config.servers:
        if server.panel is not None:
            pass
        elif server.protocol != "ssh" and server.commands is None:
            xray = server.xray or Xray()
            defaults = LAYOUTS[xray.layout][server.protocol]
            xray = attrs.evolve(
                xray,
                # One place or the other was given (both is an error): both say it now.
                quota_gb=xray.quota_gb or server.quota_gb,
                ip_limit=xray.ip_limit or server.ip_limit,
                config=xray.config or defaults.config,
                markers=xray.markers or defaults.markers,
                prefix=xray.prefix or defaults.prefix,
                prefixes=xray.prefixes or (defaults.prefixes if not xray.markers else ()),
                comment_uuid=xray.comment_uuid or defaults.comment_uuid,
                user_files=xray.user_files or defaults.user_files,
                usage_files=xray.usage_files or defaults.usage_files,
                account_list=xray.account_list or defaults.account_list,
                list_prefix=xray.list_prefix or defaults.list_prefix,
                path=xray.path or defaults.path,
                # A family's cron deletes an account on its date: the day after the last
                # day and the grace period.
                date_offset=0 if xray.layout == "custom" else config.shop.grace_days + 1,
            )
            server = attrs.evolve(server, xray=xray, quota_gb=xray.quota_gb,
                                  ip_limit=xray.ip_limit)
        elif server.protocol == "ssh" and server.commands is None and server.linux is not None:
            linux, preset = server.linux, LINUX_LAYOUTS[server.linux.layout]
            ip_limit = linux.ip_limit or server.ip_limit
            server = attrs.evolve(server, ip_limit=ip_limit, linux=attrs.evolve(
                linux, account_list=linux.account_list or preset.account_list,
                list_prefix=linux.list_prefix or preset.list_prefix,
                ip_files=linux.ip_files or preset.ip_files, ip_limit=ip_limit))
        servers.append(server)
    return attrs.evolve(config, servers=tuple(servers))


def secrets(config: Config) -> list[str]:
    """Values that must never be printed anywhere."""
    values = [config.telegram.token, config.pakasir.api_key, config.pakasir.webhook_secret]
    values += [getattr(s.panel, key) for s in config.servers if s.panel for key in PANEL_SECRETS]
    values.append(config.telegram.token.partition(":")[2])
    return [v for v in values if len(v) >= 6]
