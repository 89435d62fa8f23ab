"""A server sold through a Marzban 0.8 panel (and, by `PasarGuardBackend`, its fork).

One object per configured server, over the panel's HTTP API (reference/panels.md):
a token from the admin login form, fetched again once when the panel answers 401; users
with the shop's UUID / trojan password in `proxies`, in the configured inbound tags (none
configured: every inbound of the server's protocol); `expire` in UTC epoch seconds, set to
the end of the account's last day in the shop's zone; `data_limit` in bytes by the quota
rule (terms.py). A 409 on create is the order's own user when it carries the order's
secret (the create ran before and its answer was lost), anyone else's name otherwise.
The subscription URL carries a token made from the current second: it changes on every
read, so nothing here compares one.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import zoneinfo
from typing import Any, ClassVar, Final
from urllib.parse import urlsplit

import httpx
import trio

from qrisbot.config import Server, Shop
from qrisbot.provision.delivery import PanelLinks
from qrisbot.provision.panels import marzban_answers as answers
from qrisbot.provision.panels.check import Finding, failed, missing, not_logged_in, ok
from qrisbot.provision.panels.delivery import PanelShare, labelled
from qrisbot.provision.panels.http import SECONDS, Answer, LoginRefused, PanelError, PanelHttp
from qrisbot.provision.panels.marzban_answers import Malformed, PanelUser
from qrisbot.provision.panels.terms import GB, end_of_day, last_day, quota_bytes
from qrisbot.provision.port import (
    NAME,
    PASSWORD,
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

PROTOCOLS: Final = ("vmess", "vless", "trojan")
# app/models/user.py USERNAME_REGEXP, verbatim: 3-32 word characters before a boundary.
MARZBAN_USERNAME: Final = re.compile(
    r"^(?=\w{3,32}\b)[a-zA-Z0-9-_@.]+(?:_[a-zA-Z0-9-_@.]+)*$")
USER_NOT_FOUND: Final = "User not found"


class MarzbanBackend:
    """One server behind a Marzban 0.8 panel."""

    dialect: ClassVar[str] = "marzban"
    features: Final = frozenset({Feature.EXTEND, Feature.REMOVE, Feature.READ,
                                 Feature.QUOTA, Feature.USAGE,
                                 Feature.SUBSCRIPTION})  # no IP limit
    secret_kind: Final = SecretKind.UUID

    def __init__(self, server: Server, shop: Shop, *, seconds: float = SECONDS,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        panel = server.panel
        if panel is None or panel.type != self.dialect:
            raise ValueError(f"server {server.id!r} is not a {self.dialect} panel server")
        if server.protocol not in PROTOCOLS:
            raise ValueError(f"server {server.id!r}: a {self.dialect} panel sells vmess, "
                             "vless or trojan")
        self.server = server
        self.panel = panel
        self._zone = zoneinfo.ZoneInfo(shop.timezone)
        self._days_per_month = shop.days_per_month
        self._http = PanelHttp(server.id, panel, seconds=seconds, transport=transport)
        self._token = ""
        self._logging_in = trio.Lock()

    # --- the contract -----------------------------------------------------------------------

    def is_sellable_username(self, name: str) -> bool:
        """The shop's own rule and the panel's."""
        return is_sellable_username(name) and self.panel_accepts(name)

    def panel_accepts(self, name: str) -> bool:
        return MARZBAN_USERNAME.match(name) is not None

    async def presence(self, username: str) -> Presence:
        _check_name(username)
        return Presence.ABSENT if await self._read(username) is None else Presence.TAKEN

    async def create(self, account: Account) -> PanelLinks:
        body = {"username": account.username, **await self._access(account.secret),
                "expire": end_of_day(account.expires, self._zone),
                "data_limit": quota_bytes(self.server.quota_gb, months=account.months,
                                          hours=account.hours,
                                          days=account.days,
                                          days_per_month=self._days_per_month),
                "data_limit_reset_strategy": "no_reset", "status": "active",
                "note": f"qrisbot order {account.order_id}"}
        try:
            # Marzban answers 200, PasarGuard 201: either is a user made.
            await self._call("POST", "api/user", json=body, expect=(200, 201))
        except PanelError as error:
            if error.status != 409:
                raise
            # The name exists: this order's user when it has the order's secret (an earlier
            # create whose answer was lost), someone else's otherwise.
            user = await self._read(account.username)
            if user is None:
                raise PanelError(f"{self.server.id}: the panel said the name is taken but "
                                 "has no such user", transient=True, status=409) from None
            if not self._is_ours(user, account.secret):
                raise UsernameTaken(f"{self.server.id}: the name is taken on the panel"
                                    ) from None
            log.info("%s: the account was made by an earlier try", self.server.id)
        return await self._delivery(account.username, account.secret, account.expires)

    async def extend(self, extension: Extension) -> PanelLinks:
        """Set the account's expiry to the end of its new last day and add the extension's
        months x quota_gb to its traffic limit (usage kept). A repeat (the expiry already
        set: its answer was lost) adds nothing."""
        user = await self._read(extension.username)
        if user is None:
            raise AccountMissing(f"{self.server.id}: the account is not on the panel")
        if not self._is_ours(user, extension.secret):
            raise UsernameTaken(f"{self.server.id}: the name on the panel is someone else's")
        expire = end_of_day(extension.expires, self._zone)
        body: dict[str, Any] = {"expire": expire}
        if user.expire != expire:
            limit = self._renewed_limit(user, extension.months)
            if limit is not None:
                body["data_limit"] = limit
        await self._call("PUT", "api/user/{}", extension.username, json=body)
        return await self._delivery(extension.username, extension.secret, extension.expires)

    async def remove(self, removals: list[Removal]) -> dict[str, Removed]:
        done: dict[str, Removed] = {}
        for removal in removals:
            try:
                done[removal.username] = await self._remove(removal)
            except BackendError as error:  # left out: tried again later
                log.warning("%s: removing an account failed: %s", self.server.id, error)
        return done

    async def read_accounts(self) -> Found:
        found, notes = await self._users()
        accounts, skipped = [], len(notes)
        for user in found:
            secret = user.secret(self.server.protocol)
            why = None
            if not NAME.fullmatch(user.username):
                why = "a name the shop cannot take on"
            elif secret is None:
                why = f"no {self.server.protocol} settings"
            elif not await self._serves(user):
                why = "not in this server's " + ("inbounds" if self.dialect == "marzban"
                                                 else "groups")
            elif not (UUID.fullmatch(secret) or PASSWORD.fullmatch(secret)):
                why = f"its {self.server.protocol} secret has a shape the shop cannot take on"
            elif user.expire is None:
                why = "it never expires (give it a date on the panel to import it)"
            if why is not None or secret is None or user.expire is None:
                skipped += 1
                notes.append(f"{user.username[:64]}: {why}")
                continue
            accounts.append(Existing(user.username, secret, last_day(user.expire, self._zone)))
        return Found(tuple(accounts), skipped, tuple(notes), secrets_held=True)

    async def login_opens(self, username: str, password: str) -> bool:
        raise BackendError(f"{self.server.id}: a panel account has no login to prove",
                           transient=False)

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- beyond the contract ------------------------------------------------------------------

    async def share(self, username: str) -> PanelShare:
        """What the buyer receives: the panel's share links for the account and its
        subscription URL (absolute)."""
        _check_name(username)
        user = await self._read(username)
        if user is None:
            raise AccountMissing(f"{self.server.id}: the account is not on the panel")
        links = await self._links(user)
        return PanelShare(labelled(links), self._absolute(user.subscription_url))

    async def usage(self) -> dict[str, Usage]:
        """Username -> traffic, every account in one call."""
        found, _ = await self._users()
        return {user.username: Usage(user.used, user.data_limit) for user in found}

    async def delivery(self, username: str, secret: str, expires: dt.date) -> PanelLinks:
        return await self._delivery(username, secret, expires)

    async def check(self) -> list[Finding]:
        """`servers check`: logged in, the panel's version, and what the server sells
        through (its inbound tags; PasarGuard: its groups) there, of its protocol."""
        name = "Marzban" if self.dialect == "marzban" else "PasarGuard"
        try:
            if self._credentials() is None:
                await self._login(self._token)
            # Any admin may read it on Marzban; PasarGuard asks for "system read".
            system = await self._call("GET", "api/system", expect=(200, 403, 404))
        except BackendError as exc:
            return [not_logged_in(self.server, exc)]
        how = "API key" if self._credentials() is not None else "password"
        version = system.body.get("version") if isinstance(system.body, dict) else None
        found = [ok(f"logged in ({how})"),
                 ok(f"version: {name} {version}") if isinstance(version, str) and version
                 else ok(f"version: {name} (the panel did not say which)")]
        try:
            found.extend(await self._check_inbounds())
        except BackendError as exc:
            found.append(failed(f"inbounds: cannot read them: {exc}"))
        return found

    # --- the dialect (PasarGuard overrides these) -------------------------------------------

    async def _access(self, secret: str) -> dict[str, Any]:
        """The create body's part that gives the user the server's protocol."""
        protocol = self.server.protocol
        body: dict[str, Any] = {"proxies": {protocol: proxy_settings(protocol, secret)}}
        if self.panel.inbounds:  # none: the panel gives every inbound of the protocol
            body["inbounds"] = {protocol: list(self.panel.inbounds)}
        return body

    async def _serves(self, user: PanelUser) -> bool:
        """Is the user in one of this server's inbounds (read_accounts)?"""
        tags = user.inbounds.get(self.server.protocol, ())
        return bool(set(tags) & set(self.panel.inbounds)) if self.panel.inbounds else bool(tags)

    async def _check_inbounds(self) -> list[Finding]:
        answer = await self._call("GET", "api/inbounds")
        tags = answers.inbound_protocols(answer.body, f"{self.server.id}: GET api/inbounds")
        protocol = self.server.protocol
        have = ", ".join(f"{t} ({p})" for t, p in sorted(tags.items())) or "none"
        if not self.panel.inbounds:
            served = sorted(t for t, p in tags.items() if p == protocol)
            if not served:
                return [missing(f"inbounds: the panel has no {protocol} inbound (it has: "
                                f"{have}): add one in its core settings")]
            return [ok(f"inbounds: none configured, so every {protocol} inbound: "
                       f"{', '.join(served)}")]
        found = []
        for tag in self.panel.inbounds:
            if tag not in tags:
                found.append(missing(f"inbound {tag!r}: not on the panel (panel.inbounds); "
                                     f"it has: {have}"))
            elif tags[tag] != protocol:
                found.append(failed(f"inbound {tag!r}: it is {tags[tag]}, the server sells "
                                    f"{protocol}: name a {protocol} inbound in panel.inbounds"))
            else:
                found.append(ok(f"inbound {tag!r}: {protocol}"))
        return found

    async def _links(self, user: PanelUser) -> list[str]:
        if user.links is None:
            raise Malformed(f"{self.server.id}: the panel's user has no links")
        return list(user.links)

    def _credentials(self) -> dict[str, str] | None:
        """Headers that need no login (PasarGuard's API key); None: log in."""
        return None

    # --- the panel's API --------------------------------------------------------------------

    async def _call(self, method: str, path: str, *segments: str, **kwargs: Any) -> Answer:
        """A call with the admin's token; a 401 (the token expired, 24 h by default) logs
        in again, once."""
        fixed = self._credentials()
        if fixed is not None:
            try:
                return await self._http.call(method, path, *segments, headers=fixed, **kwargs)
            except PanelError as error:
                if error.status == 401:
                    raise LoginRefused(f"{self.server.id}: the panel refused the API key "
                                       "(token): is it still valid?", status=401) from None
                raise
        token = self._token or await self._login("")
        try:
            return await self._http.call(method, path, *segments, headers=_bearer(token),
                                         **kwargs)
        except PanelError as error:
            if error.status != 401:
                raise
        token = await self._login(token)
        return await self._http.call(method, path, *segments, headers=_bearer(token), **kwargs)

    async def _login(self, stale: str) -> str:
        """A fresh token, unless another task got one since `stale` was refused."""
        async with self._logging_in:
            if self._token != stale:
                return self._token
            self._token = ""
            form = {"username": self.panel.username, "password": self.panel.password}
            try:
                answer = await self._http.call("POST", "api/admin/token", form=form)
            except PanelError as error:
                if error.status == 401:
                    raise LoginRefused(f"{self.server.id}: the panel refused the shop's "
                                       "admin username or password", status=401) from None
                raise
            body = answer.body
            token = body.get("access_token") if isinstance(body, dict) else None
            if not isinstance(token, str) or not token:
                raise Malformed(f"{self.server.id}: the panel's login gave no token")
            self._http.keep_secret(token)
            self._token = token
            log.info("%s: logged in to the panel", self.server.id)
            return token

    async def _read(self, username: str) -> PanelUser | None:
        what = f"{self.server.id}: GET api/user"
        try:
            answer = await self._call("GET", "api/user/{}", username)
        except PanelError as error:
            if error.status == 404 and error.answer == USER_NOT_FOUND:
                return None
            if error.status == 404:
                raise PanelError(f"{what}: HTTP 404 without 'User not found': is the url "
                                 f"the {self.dialect} panel's?", transient=False,
                                 status=404) from None
            raise
        return answers.user(answer.body, what)

    async def _users(self) -> tuple[list[PanelUser], list[str]]:
        answer = await self._call("GET", "api/users")
        return answers.users(answer.body, f"{self.server.id}: GET api/users")

    async def _remove(self, removal: Removal) -> Removed:
        user = await self._read(removal.username)
        if user is None:
            return Removed.GONE
        if not self._is_ours(user, removal.secret):
            return Removed.FOREIGN
        if user.expire is None or last_day(user.expire, self._zone) > removal.expires:
            return Removed.KEPT  # renewed meanwhile (or made unlimited on the panel)
        try:
            await self._call("DELETE", "api/user/{}", removal.username, expect=(200, 204))
        except PanelError as error:
            if not (error.status == 404 and error.answer == USER_NOT_FOUND):
                raise
        return Removed.GONE

    async def listed_inbounds(self) -> dict[str, str]:
        """tag -> protocol of every inbound the panel has (GET api/inbounds, logging in to
        read them): what `qrisbot setup` offers to pick `inbounds` from."""
        answer = await self._call("GET", "api/inbounds")
        return answers.inbound_protocols(answer.body, f"{self.server.id}: GET api/inbounds")

    # --- the shop's rules -------------------------------------------------------------------

    def _is_ours(self, user: PanelUser, secret: str) -> bool:
        protocol = self.server.protocol
        return user.secret(protocol) == (secret if protocol == "trojan" else secret.lower())

    async def _delivery(self, username: str, secret: str, expires: dt.date) -> PanelLinks:
        return (await self.share(username)).delivery(self.server, username, secret, expires)

    def _renewed_limit(self, user: PanelUser, months: int) -> int | None:
        """The limit after a renewal: raised by the months' quota, usage untouched; an
        unlimited account stays so (None: leave it as it is)."""
        if self.server.quota_gb <= 0:
            return 0  # the seller sells unlimited traffic now
        if user.data_limit == 0:
            return None
        return user.data_limit + self.server.quota_gb * max(months, 0) * GB

    def _absolute(self, url: str) -> str | None:
        """The panel gives a relative subscription URL unless it has a prefix configured:
        joined with `sub_url` (or, without one, the panel's own address)."""
        if not url:
            return None
        if urlsplit(url).scheme in ("http", "https"):
            return url
        base = self.panel.sub_url
        if not base:
            parts = urlsplit(self.panel.url)
            base = f"{parts.scheme}://{parts.netloc}"
        return base.rstrip("/") + "/" + url.lstrip("/")


def proxy_settings(protocol: str, secret: str) -> dict[str, str]:
    if protocol == "trojan":
        return {"password": secret}
    if protocol == "vless":
        return {"id": secret, "flow": ""}
    return {"id": secret}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _check_name(username: str) -> None:
    if not NAME.fullmatch(username):
        raise ValueError("invalid username")
