"""The contract every backend keeps: what the shop may ask of one server, the records that
cross the boundary, and the errors it may raise.

A backend is one object per server, built from that server's own config section; what it
can do is declared as data (`features`), never guessed from its class. Foreign errors
(paramiko, httpx, a panel's `success: false`) are mapped to this family once, inside the
backend that met them.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from typing import Protocol

import attrs

from qrisbot.provision.delivery import Delivery

# Shapes of the values that name an account; every backend refuses others before anything
# is sent (the conversation validated them already: defence in depth).
# A name an autoscript family's menu makes (`Budi2779`, `20245161x`) or the shop sells.
NAME = re.compile(r"[A-Za-z0-9_]{1,32}")
PASSWORD = re.compile(r"[!-9;-~]{6,32}")  # printable ASCII without space and ':'
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ORDER_ID = re.compile(r"[A-Za-z0-9]{1,64}")
# The shop's own name rule (a backend may add its panel's on top): the names new accounts
# are sold under.
USERNAME = re.compile(r"[a-z][a-z0-9_]{2,15}")

# Names the shop never sells, whatever the server says: system and service accounts and
# groups a server commonly has. Refused before the server is asked (with their own message:
# a fixed list), so asking about them tells a stranger nothing about the server.
RESERVED = frozenset("""
    adm admin administrator audio avahi backup bin cdrom chrony daemon dialout dip disk
    dnsmasq docker floppy fuse games gnats input irc kmem kvm list lp lxd mail man
    messagebus mysql netdev news nginx nobody nogroup ntp operator plugdev polkitd postfix
    proxy render root sasl shadow src sshd staff sudo sync sys syslog
    tape tcpdump tss tty ubuntu debian centos user users utmp uucp uuidd video voice wheel
    xray v2ray www
""".split())
RESERVED_PREFIXES = ("systemd", "qrisbot")


def is_sellable_username(name: str) -> bool:
    """A well-formed name that is not reserved (the server is asked only about these)."""
    return (USERNAME.fullmatch(name) is not None and name not in RESERVED
            and not name.startswith(RESERVED_PREFIXES))


class Feature(enum.StrEnum):
    """What a backend can do beyond checking and creating accounts."""

    EXTEND = "extend"  # set an account's last day
    REMOVE = "remove"  # remove an expired account
    READ = "read"  # list the accounts the server holds (import, drift)
    LOGIN_PROOF = "login_proof"  # a real login proves a claimed account's secret
    QUOTA = "quota"  # a traffic limit per account
    USAGE = "usage"  # the traffic each account used, read in one call (`usage`)
    IP_LIMIT = "ip_limit"  # devices / IPs at once per account
    SUBSCRIPTION = "subscription"  # a subscription URL per account


class SecretKind(enum.StrEnum):
    """What the buyer's secret is on this server."""

    PASSWORD = "password"  # noqa: S105  (a kind, not a secret) chosen by the buyer (SSH)
    UUID = "uuid"  # made by the shop (Xray, panels; a trojan password has its shape too)


# --- errors -------------------------------------------------------------------------------

class BackendError(Exception):
    """The server could not do what was asked.

    `transient`: worth trying again later (the order waits; nothing the buyer did).
    `silent`: the server did not answer at all (down, unreachable, key refused), which the
    health watch reports as an outage.
    """

    transient = True
    silent = False

    def __init__(self, *args: object, transient: bool | None = None) -> None:
        super().__init__(*args)
        if transient is not None:
            self.transient = transient


class NoAnswer(BackendError):
    """The server did not answer in time: wedged, which to the shop is as silent as down."""

    silent = True


class UsernameTaken(BackendError):
    """The username exists on the server and is not this order's account."""

    transient = False


class AccountMissing(BackendError):
    """The account to extend is not (or no longer) on its server."""

    transient = False


# --- records ------------------------------------------------------------------------------

class Presence(enum.Enum):
    ABSENT = "absent"
    TAKEN = "taken"


class Removed(enum.Enum):
    """What removing an account came to."""

    GONE = "gone"  # removed now, or it was not there any more
    KEPT = "kept"  # its date on the server moved on (renewed meanwhile): left alone
    FOREIGN = "foreign"  # the name on the server is someone else's: left alone


def check_identity(username: str, secret: str, *order_ids: str) -> None:
    """Every value that names an account: refused unless well-formed."""
    if not NAME.fullmatch(username):
        raise ValueError("invalid username")
    if not all(ORDER_ID.fullmatch(order_id) for order_id in order_ids):
        raise ValueError("invalid order id")
    if not (PASSWORD.fullmatch(secret) or UUID.fullmatch(secret)):
        raise ValueError("invalid secret")


@attrs.frozen
class Account:
    """An account to create, tagged with the order that makes it."""

    order_id: str
    username: str
    secret: str = attrs.field(repr=False)  # SSH password or Xray UUID / trojan password
    expires: dt.date  # the last day the buyer has access
    months: int
    days: int
    hours: int = 0  # a trial's length (months 0): its share of a month's quota

    def __attrs_post_init__(self) -> None:
        check_identity(self.username, self.secret, self.order_id)


@attrs.frozen
class Extension:
    """Set an existing account's last day to `expires` (a date, not "plus N days": running
    it twice changes nothing), and, where the server counts traffic (Feature.QUOTA), add
    `months` paid months' quota to its limit, once per renewal order."""

    order_id: str  # the renewal
    made_by: str  # the order that created the account (its tag on the server)
    username: str
    secret: str = attrs.field(repr=False)
    expires: dt.date
    months: int = 0  # paid months (0: days given by the operator add no traffic)

    def __attrs_post_init__(self) -> None:
        check_identity(self.username, self.secret, self.order_id, self.made_by)


@attrs.frozen
class Removal:
    """Remove an account whose last day was `expires`: only if the server still has it
    with that day (a later one means it was renewed meanwhile)."""

    made_by: str
    username: str
    secret: str = attrs.field(repr=False)
    expires: dt.date

    def __attrs_post_init__(self) -> None:
        check_identity(self.username, self.secret, self.made_by)


@attrs.frozen
class Existing:
    """An account read from a server."""

    username: str
    # "" for an SSH account whose password the server does not keep (only its hash)
    secret: str = attrs.field(repr=False)
    # The last day the server itself lets the account in (the rule: see ssh's leeway); for
    # the shop's own accounts on a family's Xray layout, their last day and the grace.
    last_day: dt.date
    uid: int | None = None  # an SSH account's Linux user, as read (`bind_imported` checks it)


@attrs.frozen
class Usage:
    """An account's traffic as its server counts it (Feature.QUOTA), in bytes."""

    used: int
    limit: int  # 0 = unlimited

    @property
    def share(self) -> float:
        """The part of the limit used (0 when unlimited)."""
        return self.used / self.limit if self.limit > 0 else 0.0


@attrs.frozen
class Found:
    accounts: tuple[Existing, ...]
    skipped: int  # entries that were not an account the shop can take on
    # the skipped entries worth naming to the operator: "<name>: <why>" (never a secret)
    notes: tuple[str, ...] = ()
    # The secrets read are those the buyers' links hold, so drift compares them (a panel's;
    # an SSH server keeps only a password's hash).
    secrets_held: bool = False


# --- the contract -------------------------------------------------------------------------

class Backend(Protocol):
    """One server, as the shop reaches it. Every method may raise BackendError (or
    ValueError for a malformed record); `remove` reports per account instead."""

    @property
    def features(self) -> frozenset[Feature]: ...

    @property
    def secret_kind(self) -> SecretKind: ...

    def is_sellable_username(self, name: str) -> bool:
        """A name the shop may sell here (asked before the server is)."""
        ...

    async def presence(self, username: str) -> Presence: ...

    async def create(self, account: Account) -> Delivery:
        """Create the account; a repeat for the same order succeeds (idempotent); raises
        UsernameTaken when the name is someone else's. Gives what the buyer receives."""
        ...

    async def extend(self, extension: Extension) -> Delivery:
        """Set the account's last day (Feature.EXTEND); raises AccountMissing, or
        UsernameTaken when the name is someone else's. Gives what the buyer receives."""
        ...

    async def remove(self, removals: list[Removal]) -> dict[str, Removed]:
        """Username -> outcome (Feature.REMOVE); a username left out failed and is worth
        another try."""
        ...

    async def read_accounts(self) -> Found:
        """The accounts the server holds (read-only; Feature.READ)."""
        ...

    async def login_opens(self, username: str, password: str) -> bool:
        """Does this secret log in to the account (a real login; Feature.LOGIN_PROOF)?"""
        ...

    async def delivery(self, username: str, secret: str, expires: dt.date) -> Delivery:
        """What the buyer receives for an account the shop did not just make (a claim, an
        import, the account's details shown again): a panel is asked for its current links."""
        ...

    async def usage(self) -> dict[str, Usage]:
        """Username -> traffic, every account of the server in one call (Feature.USAGE)."""
        ...

    async def aclose(self) -> None: ...
