"""Making accounts on the operator's servers: recipes run over SSH, details for the buyer."""

from __future__ import annotations

import logging
from typing import Any, Protocol

import trio

from qrisbot.config import Server, Xray
from qrisbot.provision import existing, links, login, recipes
from qrisbot.provision.errors import AccountMissing, NoAnswer, ServerError, UsernameTaken
from qrisbot.provision.port import (
    Account,
    BackendError,
    Existing,
    Extension,
    Feature,
    Found,
    Presence,
    Removal,
    Removed,
    SecretKind,
)
from qrisbot.provision.recipes import (
    KEPT,
    MISSING,
    TAKEN,
    CustomCommands,
    LinuxUsers,
    Recipe,
    XrayMarkers,
)
from qrisbot.provision.ssh import CommandFailed, Connections

log = logging.getLogger("qrisbot.provision")

MAX_BATCH = 50  # accounts in one remote script

__all__ = ["Account", "AccountMissing", "BackendError", "Existing", "Extension", "Feature",
           "Found", "NoAnswer", "Presence", "Provisioner", "Removal", "Removed", "SecretKind",
           "ServerError", "SshProvisioner",
           "UsernameTaken", "can_extend", "can_read", "can_remove", "details"]


class Provisioner(Protocol):
    """What the shop needs from provisioning (the demo and clock tests plug a local one in)."""

    async def presence(self, server: Server, username: str) -> Presence: ...

    async def create(self, server: Server, account: Account) -> None: ...

    async def extend(self, server: Server, extension: Extension) -> None: ...

    async def remove(self, server: Server, removals: list[Removal]) -> dict[str, Removed]:
        """Username -> outcome; a username left out failed and is worth another try."""
        ...

    async def read_accounts(self, server: Server) -> Found:
        """The accounts the server holds (read-only; only where `can_read`)."""
        ...

    async def password_opens(self, server: Server, username: str, password: str) -> bool:
        """Does the password log in to this SSH account (a real login, nothing else)?"""
        ...

    def close(self) -> None: ...


def can_extend(server: Server) -> bool:
    """Can accounts on this server be renewed (custom commands need `extend`)?"""
    return recipe_for(server).can_extend()


def can_remove(server: Server) -> bool:
    """Can expired accounts on this server be removed (custom commands need `delete`)?"""
    return recipe_for(server).can_remove()


def can_read(server: Server) -> bool:
    """Can the accounts on this server be read (for import and drift checks)?"""
    return isinstance(recipe_for(server), (XrayMarkers, LinuxUsers))


def recipe_for(server: Server) -> Recipe:
    if server.commands is not None:
        return CustomCommands(server.commands)
    if server.protocol == "ssh":
        return LinuxUsers(server.linux)
    return XrayMarkers(server.protocol, server.xray or Xray())


class _Waiting:
    """An account waiting for its server's next batch, and what became of it."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self.error: Exception | None = None
        self.done = False

    def finish(self, error: Exception | None = None) -> None:
        self.error, self.done = error, True


class _Batches:
    def __init__(self) -> None:
        self.waiting: list[_Waiting] = []
        self.running = False
        self.finished = trio.Event()


class SshProvisioner:
    """Provisioning over SSH; the accounts waiting for a server go in one batch."""

    def __init__(self, connections: Connections | None = None) -> None:
        self._connections = connections or Connections()
        self._batches: dict[str, _Batches] = {}

    async def presence(self, server: Server, username: str) -> Presence:
        recipe = recipe_for(server)
        script = recipe.exists(username)
        result = await self._connections.get(server.ssh).run(script.command, script.stdin)
        found = recipe.presence(result.status, result.stdout)
        if found is None:
            raise CommandFailed(
                f"checking a username failed (exit {result.status})", result.status,
                _clean(result.stderr),
            )
        return found

    async def create(self, server: Server, account: Account) -> None:
        """Create the account (idempotent per order); raises UsernameTaken or ServerError.

        Accounts that arrive while a server is busy wait and go together in its next
        script: one lock, one restart of the server's VPN service for all of them.
        """
        recipe_for(server).secret_line(account)  # refuse a malformed secret right here
        batches = self._batches.setdefault(server.id, _Batches())
        mine = _Waiting(account)
        batches.waiting.append(mine)
        while not mine.done:
            if batches.running:
                await batches.finished.wait()
                continue
            batch, batches.waiting = batches.waiting[:MAX_BATCH], batches.waiting[MAX_BATCH:]
            batches.running = True
            try:
                await self._run_batch(server, batch)
            finally:
                for waiting in batch:
                    if not waiting.done:  # cancelled while the script ran: try again later
                        waiting.finish(CommandFailed("provisioning was interrupted", -1, ""))
                batches.running = False
                batches.finished.set()
                batches.finished = trio.Event()
        if mine.error is not None:
            raise mine.error
        log.info("account %s created on %s", account.username, server.id)

    async def extend(self, server: Server, extension: Extension) -> None:
        """Set the account's last day (idempotent: a date, not a number of days); raises
        AccountMissing, UsernameTaken (the name is someone else's) or ServerError."""
        script = recipes.extend(recipe_for(server), extension)
        result = await self._connections.get(server.ssh).run(script.command, script.stdin)
        if result.status == MISSING:
            raise AccountMissing(extension.username)
        if result.status == TAKEN:
            raise UsernameTaken(extension.username)
        if result.status != 0:
            stderr = _redacted(result.stderr, [extension.secret])
            raise CommandFailed(f"extending the account failed (exit {result.status}): "
                                f"{stderr}", result.status, stderr)
        log.info("account %s on %s extended to %s", extension.username, server.id,
                 extension.expires)

    async def remove(self, server: Server, removals: list[Removal]) -> dict[str, Removed]:
        """Remove expired accounts, MAX_BATCH to a script (one lock, one restart each)."""
        outcomes: dict[str, Removed] = {}
        recipe = recipe_for(server)
        for start in range(0, len(removals), MAX_BATCH):
            part = removals[start:start + MAX_BATCH]
            script = recipes.removal(recipe, part)
            result = await self._connections.get(server.ssh).run(script.command, script.stdin)
            statuses = recipes.results(result.stdout)
            for index, removal in enumerate(part):
                status = statuses.get(index, -1)
                if result.status == 0 and status == 0:
                    outcomes[removal.username] = Removed.GONE
                elif status == KEPT:
                    outcomes[removal.username] = Removed.KEPT
                elif status == TAKEN:
                    outcomes[removal.username] = Removed.FOREIGN
            if result.status != 0 or len(outcomes) < start + len(part):
                log.warning("removing accounts on %s: %d of %d not done (exit %d): %s",
                            server.id, start + len(part) - len(outcomes), len(part),
                            result.status, _redacted(result.stderr, [r.secret for r in part]))
        return outcomes

    async def _run_batch(self, server: Server, batch: list[_Waiting]) -> None:
        accounts = [waiting.account for waiting in batch]
        script = recipes.batch(recipe_for(server), accounts)
        try:
            result = await self._connections.get(server.ssh).run(script.command, script.stdin)
        except ServerError as exc:
            for waiting in batch:
                waiting.finish(exc)
            return
        stderr = _redacted(result.stderr, [account.secret for account in accounts])
        statuses = recipes.results(result.stdout)
        for index, waiting in enumerate(batch):
            status = statuses.get(index, -1)
            if result.status != 0 and status != TAKEN:
                status = result.status  # e.g. the lock or the restart failed: retry it all
            if status == 0:
                waiting.finish()
            elif status == TAKEN:
                waiting.finish(UsernameTaken(waiting.account.username))
            else:
                waiting.finish(CommandFailed(
                    f"creating the account failed (exit {status}): {stderr}", status, stderr))

    async def read_accounts(self, server: Server) -> Found:
        return await existing.existing_accounts(server, self._connections)

    async def password_opens(self, server: Server, username: str, password: str) -> bool:
        return await login.password_opens(server.ssh, username, password)

    def close(self) -> None:
        self._connections.close()


def _redacted(stderr: str, secrets: list[str]) -> str:
    """A server's stderr fit to show: the secrets out first (a cut must not leave part of
    one behind), then cleaned and cut."""
    for secret in secrets:
        stderr = stderr.replace(secret, "***")
    return _clean(stderr)


def _clean(text: str) -> str:
    printable = "".join(c if c.isprintable() or c == "\n" else "?" for c in text)
    return printable.strip()[-500:]


def details(server: Server, account: Account) -> dict[str, Any]:
    """Everything the buyer's message shows; stored in the ledger before it is sent."""
    base: dict[str, Any] = {
        "protocol": server.protocol,
        "host": server.domain,
        "username": account.username,
        "secret": account.secret,
        "expires": account.expires.isoformat(),
    }
    if server.protocol == "ssh":
        return base | {
            "kind": "ssh",
            "ports": [[label, port] for label, port in server.ports.items()],
            "payload": f"GET / HTTP/1.1[crlf]Host: {server.domain}[crlf]Upgrade: websocket"
                       "[crlf][crlf]",
        }
    if server.commands is not None or server.xray is None:
        return base | {"kind": "custom"}
    xray = server.xray
    build = links.BUILDERS[server.protocol]
    endpoints = []
    if xray.port_tls:
        endpoints.append(("TLS", links.Endpoint(server.domain, xray.port_tls, True, "ws",
                                                xray.path)))
    if xray.port_ntls:
        endpoints.append(("non-TLS", links.Endpoint(server.domain, xray.port_ntls, False, "ws",
                                                    xray.path)))
    if xray.grpc_service and xray.port_tls:
        endpoints.append(("gRPC", links.Endpoint(server.domain, xray.port_tls, True, "grpc",
                                                 xray.grpc_service)))
    name = f"{account.username}"
    return base | {
        "kind": "xray",
        "network": "ws" + (", grpc" if xray.grpc_service else ""),
        "path": xray.path,
        "ports": [[label, endpoint.port] for label, endpoint in endpoints
                  if endpoint.network == "ws"],
        "links": [[label, build(account.secret, endpoint, name)] for label, endpoint in endpoints],
    }


__all__ += ["CommandFailed"]
