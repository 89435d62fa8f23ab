"""A server sold through a PasarGuard panel: Marzban's API with its own changes.

The user's secret goes in `proxy_settings` (protocols left out get random ones) and its
inbounds come from groups, configured by name and resolved to ids on first contact:
`group_ids` is always sent, since a user without it has no inbound at all. Create answers
201, delete 204; `expire` goes out as epoch seconds and comes back as ISO; there is no
`links` field (share links are the plain text at `<subscription_url>/links`). An API key
(5.1+, the panel's `token`) replaces the login form when configured.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Final
from urllib.parse import urlsplit

from qrisbot.config import Server, Shop
from qrisbot.provision.delivery import PanelLinks
from qrisbot.provision.panels import marzban_answers as answers
from qrisbot.provision.panels.check import Finding, failed, missing, ok
from qrisbot.provision.panels.http import PanelError
from qrisbot.provision.panels.marzban import MarzbanBackend, proxy_settings
from qrisbot.provision.panels.marzban_answers import Group, PanelUser
from qrisbot.provision.port import Account

# app/models/validators.py UserValidator.validate_username.
PASARGUARD_USERNAME: Final = re.compile(r"[a-zA-Z0-9-_@.]{3,128}")
CONSECUTIVE_SPECIALS: Final = re.compile(r"[-_@.]{2,}")


class PasarGuardBackend(MarzbanBackend):
    """One server behind a PasarGuard panel."""

    dialect: ClassVar[str] = "pasarguard"

    def __init__(self, server: Server, shop: Shop, **kwargs: Any) -> None:
        super().__init__(server, shop, **kwargs)
        self._group_ids: list[int] | None = None

    def panel_accepts(self, name: str) -> bool:
        return (PASARGUARD_USERNAME.fullmatch(name) is not None
                and CONSECUTIVE_SPECIALS.search(name) is None)

    async def create(self, account: Account) -> PanelLinks:
        try:
            return await super().create(account)
        except PanelError as error:
            if error.status == 404:  # "Group not found": renamed or deleted since
                self._group_ids = None
            raise

    async def group_ids(self) -> list[int]:
        """The configured groups' ids, read from the panel once (and again after a group
        was not found)."""
        if self._group_ids is None:
            answer = await self._call("GET", "api/groups")
            found = answers.groups(answer.body, f"{self.server.id}: GET api/groups")
            ids = []
            for name in self.panel.groups:
                if name not in found:
                    known = ", ".join(sorted(found)) or "none"
                    raise PanelError(f"{self.server.id}: the panel has no group {name!r} "
                                     f"(it has: {known})", transient=False)
                if not found[name].enabled:
                    raise PanelError(f"{self.server.id}: the panel's group {name!r} is "
                                     "disabled: its users would get no inbound",
                                     transient=False)
                ids.append(found[name].id)
            self._group_ids = ids
        return list(self._group_ids)

    async def listed_groups(self) -> tuple[Group, ...]:
        """Every group of the panel with its inbound tags (GET api/groups, logging in to
        read them): what `qrisbot setup` offers to pick `groups` from."""
        answer = await self._call("GET", "api/groups")
        return tuple(answers.groups(answer.body, f"{self.server.id}: GET api/groups").values())

    async def _check_inbounds(self) -> list[Finding]:
        groups = answers.groups((await self._call("GET", "api/groups")).body,
                                f"{self.server.id}: GET api/groups")
        answer = await self._call("GET", "api/inbounds/details")
        tags = answers.inbound_protocols(answer.body,
                                         f"{self.server.id}: GET api/inbounds/details")
        protocol = self.server.protocol
        found = []
        for name in self.panel.groups:
            if name not in groups:
                known = ", ".join(sorted(groups)) or "none"
                found.append(missing(f"group {name!r}: not on the panel (panel.groups); it "
                                     f"has: {known}"))
                continue
            if not groups[name].enabled:
                found.append(failed(f"group {name!r}: disabled on the panel: its users get "
                                    "no inbound; enable it there"))
                continue
            served = [t for t in groups[name].inbound_tags if tags.get(t) == protocol]
            if not served:
                found.append(failed(f"group {name!r}: no {protocol} inbound in it (it has: "
                                    f"{', '.join(groups[name].inbound_tags) or 'none'}): add "
                                    "one to the "
                                    "group on the panel"))
            else:
                found.append(ok(f"group {name!r}: enabled, {protocol} inbounds "
                                f"{', '.join(served)}"))
        return found

    async def _access(self, secret: str) -> dict[str, Any]:
        protocol = self.server.protocol
        return {"proxy_settings": {protocol: proxy_settings(protocol, secret)},
                "group_ids": await self.group_ids()}

    async def _serves(self, user: PanelUser) -> bool:
        # Every PasarGuard user has settings for every protocol: its groups decide.
        return bool(set(user.group_ids) & set(await self.group_ids()))

    async def _links(self, user: PanelUser) -> list[str]:
        """The plain-text share links at `<subscription_url>/links`, asked of the panel
        itself (the path is the same whatever public prefix the panel writes)."""
        parts = [part for part in urlsplit(user.subscription_url).path.split("/") if part]
        if not parts:
            return []
        template = "/".join("{}" for _ in parts) + "/links"
        answer = await self._http.call("GET", template, *parts, plain=True)
        text = answer.body if isinstance(answer.body, str) else ""
        return [line.strip() for line in text.splitlines() if "://" in line]

    def _credentials(self) -> dict[str, str] | None:
        return {"X-Api-Key": self.panel.token} if self.panel.token else None
