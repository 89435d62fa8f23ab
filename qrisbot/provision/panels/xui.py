"""A server sold through a 3x-ui panel (2.x, 3.0, 3.1+): one object per configured server.

The session (xui_session.py) finds the version family and logs in; this module keeps the
shop's rules (reference/panels.md, issue 18 section 3):
- A client goes in every configured inbound. 3.0+: one email in all of them with one
  `subId`. 2.x, where an email may appear once in the whole panel: `<username>` in the
  first inbound, `<username>-<inbound id>` in the others, with the same UUID and `subId`.
  The username check asks for those emails across the whole panel.
- `subId` is derived from the creating order and the buyer's secret: a create repeated
  after a lost answer recognises its own client (same secret) and only adds what is
  missing; any other secret under the name is UsernameTaken. The subscription URL is a
  bearer credential, so it must not be guessable from the order id alone.
- `totalGB` is bytes and `expiryTime` milliseconds (the end of the last day in the shop's
  zone); `limitIp` is the server's `ip_limit`. A renewal raises the limit by the quota rule
  (terms.py) and never resets usage; the renewal's order id in the client's `comment`
  makes a repeated renewal raise it once.
- 2.x and 3.0 refuse to delete an inbound's last client: that client is disabled and
  emptied instead (a fresh random UUID, 1 byte of traffic, an expiry in 1970) and marked
  in its comment; the account counts as removed and a later purchase of the name reuses
  that client (its usage reset).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
import zoneinfo
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import attrs
import httpx

from qrisbot.config import Server, Shop
from qrisbot.provision.delivery import PanelLinks
from qrisbot.provision.panels.check import Finding, failed, missing, not_logged_in, ok
from qrisbot.provision.panels.delivery import PanelShare, labelled
from qrisbot.provision.panels.http import SECONDS, PanelError, PanelHttp
from qrisbot.provision.panels.terms import end_of_day, last_day, quota_bytes
from qrisbot.provision.panels.xui_clients import (
    Client,
    Entry,
    Inbound,
    Snapshot,
    share_link,
    snapshot,
)
from qrisbot.provision.panels.xui_session import Family, FamilyChanged, Refused, XuiSession
from qrisbot.provision.port import (
    NAME,
    UUID,
    Account,
    AccountMissing,
    BackendError,
    Existing,
    Extension,
    Feature,
    Found,
    Presence,
    Removal,
    Removed,
    SecretKind,
    Usage,
    UsernameTaken,
    is_sellable_username,
)

log = logging.getLogger("qrisbot.provision.panels")

T = TypeVar("T")
MARK: Final = "qrisbot"  # comment: "qrisbot <creating order> [<last renewal order>]"
REMOVED: Final = "qrisbot: removed"  # comment of a client emptied instead of deleted
PROTOCOLS: Final = ("vmess", "vless", "trojan")
_TAKEN: Final = ("Duplicate email", "email already in use")
_LAST_CLIENT: Final = "no client remained"


def sub_id(order_id: str, secret: str) -> str:
    """The subscription id of the account an order makes (16 hex digits, as 3x-ui's own)."""
    return hashlib.sha256(f"qrisbot:{order_id}:{secret.lower()}".encode()).hexdigest()[:16]


def is_emptied(entry: Entry) -> bool:
    """A client the shop emptied instead of deleting it: the name is free for a new sale."""
    return entry.comment == REMOVED and not entry.enable


class XuiBackend:
    """One server behind a 3x-ui panel (its configured inbounds)."""

    features: Final = frozenset({Feature.EXTEND, Feature.REMOVE, Feature.READ, Feature.QUOTA,
                                 Feature.USAGE, Feature.IP_LIMIT, Feature.SUBSCRIPTION})
    secret_kind: Final = SecretKind.UUID

    def __init__(self, server: Server, shop: Shop, *, seconds: float = SECONDS,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        panel = server.panel
        if panel is None or panel.type != "3x-ui":
            raise ValueError(f"server {server.id!r} is not a 3x-ui panel server")
        if server.protocol not in PROTOCOLS:
            raise ValueError(f"server {server.id!r}: a 3x-ui panel sells vmess, vless or trojan")
        if not panel.inbound_ids:
            raise ValueError(f"server {server.id!r}: panel.inbound_ids is empty")
        self.server = server
        self.panel = panel
        self._zone = zoneinfo.ZoneInfo(shop.timezone)
        self._days_per_month = shop.days_per_month
        self._http = PanelHttp(server.id, panel, seconds=seconds, transport=transport)
        self._session = XuiSession(server.id, panel, self._http)

    @property
    def family(self) -> Family | None:
        """The version family found on contact (None before the first call)."""
        return self._session.family

    # --- the contract -----------------------------------------------------------------------

    def is_sellable_username(self, name: str) -> bool:
        # The shop's rule, which has no '-': 2.x's `<username>-<inbound id>` emails cannot
        # meet another name.
        return is_sellable_username(name)

    async def presence(self, username: str) -> Presence:
        _check_name(username)

        async def look(family: Family) -> Presence:
            found = await self._snapshot(family)
            live = [e for e in self._entries(found, family, username) if not is_emptied(e)]
            return Presence.TAKEN if live else Presence.ABSENT

        return await self._run(look)

    async def create(self, account: Account) -> PanelLinks:
        """Make the client in every configured inbound; a repeat for the same order adds
        only what is missing; raises UsernameTaken when the name is someone else's."""
        if not UUID.fullmatch(account.secret.lower()):
            raise ValueError("a 3x-ui client's secret is a UUID")
        total = quota_bytes(self.server.quota_gb, months=account.months, days=account.days,
                            hours=account.hours,
                            days_per_month=self._days_per_month)
        client = Client(account.username, account.secret,
                        sub_id(account.order_id, account.secret), total,
                        self._expiry(account), self.server.ip_limit,
                        f"{MARK} {account.order_id}")
        share = await self._run(lambda family: self._create(family, client))
        log.info("account %s created on %s", account.username, self.server.id)
        if share is None:  # 3.1+: the panel's own links (clients/links)
            share = await self.share(account.username)
        return share.delivery(self.server, account.username, account.secret, account.expires)

    async def extend(self, extension: Extension) -> PanelLinks:
        """Set the account's last day and raise its traffic limit by the extension's paid
        months (once per renewal order)."""
        _check_name(extension.username)
        await self._run(lambda family: self._extend(family, extension))
        log.info("account %s on %s extended to %s", extension.username, self.server.id,
                 extension.expires)
        return (await self.share(extension.username)).delivery(
            self.server, extension.username, extension.secret, extension.expires)

    async def remove(self, removals: list[Removal]) -> dict[str, Removed]:
        outcomes: dict[str, Removed] = {}

        async def remove_all(family: Family) -> None:
            found = await self._snapshot(family)
            for removal in removals:
                if removal.username in outcomes:
                    continue
                try:
                    outcomes[removal.username] = await self._remove(family, found, removal)
                except FamilyChanged:
                    raise
                except BackendError as exc:
                    log.warning("removing %s on %s failed: %s", removal.username,
                                self.server.id, exc)

        await self._run(remove_all)
        return outcomes

    async def read_accounts(self) -> Found:
        return await self._run(self._read)

    async def login_opens(self, username: str, password: str) -> bool:
        """Does the panel's client of that name have this secret? (Not a login: a panel
        account has none; Feature.LOGIN_PROOF is not claimed.)"""
        _check_name(username)

        async def check(family: Family) -> bool:
            live = [e for e in self._entries(await self._snapshot(family), family, username)
                    if not is_emptied(e)]
            return bool(live) and all(e.key.lower() == password.lower() for e in live)

        return await self._run(check)

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- beyond the contract ------------------------------------------------------------------

    async def share(self, username: str) -> PanelShare:
        """What the buyer receives: the panel's share links (3.1+: `clients/links`; older:
        built from each inbound's stream settings, none for REALITY and the like, which the
        subscription carries) and `sub_url` + subId."""
        _check_name(username)
        return await self._run(lambda family: self._delivery(family, username))

    async def usage(self) -> dict[str, Usage]:
        """Username -> traffic, every account in one call."""
        return await self._run(self._usage)

    async def delivery(self, username: str, secret: str, expires: dt.date) -> PanelLinks:
        return (await self.share(username)).delivery(self.server, username, secret, expires)

    async def listed_inbounds(self) -> tuple[Inbound, ...]:
        """Every inbound of the panel, by id (logging in to read them): what `qrisbot setup`
        offers to pick `inbound_ids` from. Reads nothing of the configured ones."""
        found = await self._run(self._snapshot)
        return tuple(found.inbounds[i] for i in sorted(found.inbounds))

    async def check(self) -> list[Finding]:
        """`servers check`: logged in, the version family, the configured inbounds there
        and of the server's protocol."""
        try:
            family = await self._session.current()
        except BackendError as exc:
            return [not_logged_in(self.server, exc)]
        found = [ok(f"logged in ({'API token' if self.panel.token else 'password'})"),
                 ok(f"version: 3x-ui {family.value}")]
        try:
            inbounds = (await self._run(self._snapshot)).inbounds
        except BackendError as exc:
            return [*found, failed(f"inbounds: cannot read them: {exc}")]
        have = ", ".join(f"{i} ({b.protocol})" for i, b in sorted(inbounds.items())) or "none"
        protocol = self.server.protocol
        for inbound_id in self.panel.inbound_ids:
            inbound = inbounds.get(inbound_id)
            if inbound is None:
                found.append(missing(f"inbound {inbound_id}: not on the panel (panel."
                                     f"inbound_ids); the panel has: {have}"))
            elif inbound.protocol != protocol:
                found.append(failed(f"inbound {inbound_id} ({inbound.remark}): it is "
                                    f"{inbound.protocol}, the server sells {protocol}: put a "
                                    f"{protocol} inbound's id in panel.inbound_ids"))
            else:
                found.append(ok(f"inbound {inbound_id} ({inbound.remark}): {protocol}, port "
                                f"{inbound.port}"))
        return found

    # --- per family ---------------------------------------------------------------------------

    async def _run(self, operation: Callable[[Family], Awaitable[T]]) -> T:
        """Run with the panel's family; once more from the top if logging in again found
        another one (the panel was upgraded meanwhile)."""
        for attempt in range(2):
            family = await self._session.current()
            try:
                return await operation(family)
            except FamilyChanged as exc:
                if attempt:
                    raise PanelError(str(exc), transient=True) from None
        raise AssertionError("unreachable")

    async def _snapshot(self, family: Family) -> Snapshot:
        obj = await self._session.api(family, "GET", "inbounds/list")
        return snapshot(f"{self.server.id}: inbounds/list", obj)

    def _emails(self, family: Family, username: str) -> dict[int, str]:
        """Configured inbound -> the client's email there."""
        first, *others = self.panel.inbound_ids
        if family is not Family.V2:
            return dict.fromkeys(self.panel.inbound_ids, username)
        return {first: username} | {i: f"{username}-{i}" for i in others}

    def _entries(self, found: Snapshot, family: Family, username: str) -> list[Entry]:
        """Every client of the panel under one of the account's emails (anywhere: the
        email rule is panel-wide)."""
        emails = {*self._emails(family, username).values(), username}
        return [e for email in sorted(emails) for e in found.of(email)]

    def _mine(self, found: Snapshot, family: Family, username: str, secret: str
              ) -> list[Entry]:
        """The account's live clients; UsernameTaken when one has another secret."""
        live = [e for e in self._entries(found, family, username) if not is_emptied(e)]
        if any(e.key.lower() != secret.lower() for e in live):
            raise UsernameTaken(username)
        return live

    def _configured(self, found: Snapshot) -> set[str]:
        missing = [i for i in self.panel.inbound_ids if i not in found.inbounds]
        if missing:
            raise PanelError(f"{self.server.id}: inbound {missing[0]} is not on the panel "
                             "(panel.inbound_ids)", transient=True)
        return {found.inbounds[i].protocol for i in self.panel.inbound_ids}

    async def _create(self, family: Family, client: Client) -> PanelShare | None:
        """Make the client; before 3.1, what the buyer receives, from the inbound list read
        for it (a second read would give the same)."""
        found = await self._snapshot(family)
        protocols = self._configured(found)
        self._mine(found, family, client.email, client.secret)
        missing: list[int] = []
        for inbound_id, email in self._emails(family, client.email).items():
            there = [e for e in found.of(email) if e.inbound.id == inbound_id]
            if there and not is_emptied(there[0]):
                continue  # made by an earlier try of this order
            if there:
                await self._update(family, there[0], attrs.evolve(client, email=email), protocols)
                await self._reset(family, there[0])
            else:
                missing.append(inbound_id)
        try:
            if family is Family.V3_1 and missing:
                await self._session.api(family, "POST", "clients/add", json={
                    "client": client.to_json(protocols), "inboundIds": missing})
            for inbound_id in missing if family is not Family.V3_1 else ():
                email = self._emails(family, client.email)[inbound_id]
                protocol = found.inbounds[inbound_id].protocol
                one = attrs.evolve(client, email=email).to_json({protocol})
                await self._session.api(family, "POST", "inbounds/addClient", json={
                    "id": inbound_id, "settings": json.dumps({"clients": [one]})})
        except Refused as exc:
            if any(text in exc.msg for text in _TAKEN):
                raise UsernameTaken(client.email) from None
            raise
        if family is Family.V3_1:
            return None
        links = [link for inbound_id, email in self._emails(family, client.email).items()
                 if (link := share_link(found.inbounds[inbound_id], self.server.domain,
                                        client.secret, email)) is not None]
        return PanelShare(labelled(links), self._subscription(client.sub_id))

    async def _extend(self, family: Family, extension: Extension) -> None:
        found = await self._snapshot(family)
        protocols = self._configured(found)
        live = self._mine(found, family, extension.username, extension.secret)
        if not live:
            raise AccountMissing(extension.username)
        base = live[0]
        expiry = end_of_day(extension.expires, self._zone) * 1000
        total = base.total
        marks = base.comment.split()
        if total > 0 and extension.months > 0 and extension.order_id not in marks[2:]:
            # not raised by this renewal yet
            total += quota_bytes(self.server.quota_gb, months=extension.months, days=0,
                                 days_per_month=self._days_per_month)
        made_by = marks[1] if len(marks) > 1 and marks[0] == MARK else extension.made_by
        client = Client(base.email, extension.secret,
                        base.sub_id or sub_id(extension.made_by, extension.secret), total,
                        expiry, self.server.ip_limit,
                        f"{MARK} {made_by} {extension.order_id}")
        if family is Family.V3_1:
            await self._update(family, base, client, protocols)
            return
        for entry in live:
            await self._update(family, entry, attrs.evolve(client, email=entry.email), protocols)

    async def _remove(self, family: Family, found: Snapshot, removal: Removal) -> Removed:
        try:
            live = self._mine(found, family, removal.username, removal.secret)
        except UsernameTaken:
            return Removed.FOREIGN
        if not live:
            return Removed.GONE
        base = live[0]
        if base.expiry <= 0 or last_day(base.expiry // 1000, self._zone) > removal.expires:
            return Removed.KEPT  # renewed meanwhile (or made unlimited by the seller)
        if family is Family.V3_1:
            await self._session.api(family, "POST", "clients/del/{}", base.email)
            return Removed.GONE
        for entry in live:
            try:
                await self._session.api(family, "POST", "inbounds/{}/delClient/{}",
                                        str(entry.inbound.id), entry.key)
            except Refused as exc:
                if _LAST_CLIENT not in exc.msg:
                    raise
                await self._empty(family, entry)
        return Removed.GONE

    async def _empty(self, family: Family, entry: Entry) -> None:
        """The inbound's last client cannot be deleted (2.x, 3.0): nothing left in it."""
        stranger = str(uuid.uuid4())
        await self._update(family, entry, Client(
            entry.email, stranger, uuid.uuid4().hex[:16], total=1, expiry=1,
            limit_ip=self.server.ip_limit, comment=REMOVED, enable=False),
            {entry.inbound.protocol})

    async def _update(self, family: Family, entry: Entry, client: Client,
                      protocols: set[str]) -> None:
        body = client.to_json(protocols, entry.raw)
        if family is Family.V3_1:
            await self._session.api(family, "POST", "clients/update/{}", entry.email, json=body)
            return
        await self._session.api(family, "POST", "inbounds/updateClient/{}", entry.key, json={
            "id": entry.inbound.id, "settings": json.dumps({"clients": [body]})})

    async def _reset(self, family: Family, entry: Entry) -> None:
        """A reused client starts from zero traffic."""
        if family is Family.V3_1:
            await self._session.api(family, "POST", "clients/resetTraffic/{}", entry.email)
        else:
            await self._session.api(family, "POST", "inbounds/{}/resetClientTraffic/{}",
                                    str(entry.inbound.id), entry.email)

    async def _read(self, family: Family) -> Found:
        found = await self._snapshot(family)
        first = self.panel.inbound_ids[0]
        accounts: dict[str, Existing] = {}  # by lower-case email, as the panel compares
        skipped, notes = 0, []
        for entry in found.entries:
            inbound = entry.inbound.id
            if inbound not in self.panel.inbound_ids or is_emptied(entry):
                continue
            if family is Family.V2 and inbound != first and entry.email.endswith(f"-{inbound}"):
                continue  # the same account's email in another inbound
            if entry.email.lower() in accounts:
                continue  # 3.0+: one email in several inbounds
            why = ("not a name the shop sells" if not NAME.fullmatch(entry.email)
                   else "no UUID" if not UUID.fullmatch(entry.key.lower())
                   else "no expiry date" if entry.expiry <= 0 else "")
            if why:
                skipped += 1
                notes.append(f"{entry.email[:40]}: {why}")
                continue
            accounts[entry.email.lower()] = Existing(
                entry.email, entry.key, last_day(entry.expiry // 1000, self._zone))
        return Found(tuple(accounts.values()), skipped, tuple(notes), secrets_held=True)

    async def _delivery(self, family: Family, username: str) -> PanelShare:
        if family is Family.V3_1:
            got = await self._session.api(family, "GET", "clients/get/{}", username)
            record = got.get("client") if isinstance(got, dict) else None
            subscription = record.get("subId") if isinstance(record, dict) else None
            if not isinstance(subscription, str):
                raise PanelError(f"{self.server.id}: clients/get: no client in the answer",
                                 transient=True)
            shared = await self._session.api(family, "GET", "clients/links/{}", username)
            links = [s for s in shared if isinstance(s, str)] if isinstance(shared, list) \
                else []
        else:
            found = await self._snapshot(family)
            live = [e for e in self._entries(found, family, username) if not is_emptied(e)
                    and e.inbound.id in self.panel.inbound_ids]
            if not live:
                raise AccountMissing(username)
            subscription = live[0].sub_id
            links = [link for e in live if (link := share_link(
                e.inbound, self.server.domain, e.key, e.email)) is not None]
        return PanelShare(labelled(links), self._subscription(subscription))

    def _subscription(self, sub: str | None) -> str | None:
        return self.panel.sub_url + sub if self.panel.sub_url and sub else None

    async def _usage(self, family: Family) -> dict[str, Usage]:
        found = await self._snapshot(family)
        first = self.panel.inbound_ids[0]
        usage: dict[str, Usage] = {}
        for entry in found.entries:
            if entry.inbound.id != first or is_emptied(entry):
                continue
            emails = set(self._emails(family, entry.email).values())
            used = sum(found.used.get(email.lower(), 0) for email in emails)
            usage[entry.email] = Usage(used, entry.total)
        return usage

    def _expiry(self, account: Account) -> int:
        return end_of_day(account.expires, self._zone) * 1000


def _check_name(username: str) -> None:
    if not NAME.fullmatch(username):
        raise ValueError("invalid username")

