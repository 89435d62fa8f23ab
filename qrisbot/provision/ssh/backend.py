"""A server reached over SSH: the recipe its config section names, run in scripts that
create accounts in batches (one lock, one restart of the VPN service for all of them)."""

from __future__ import annotations

import datetime as dt
import logging

import trio
import trio.lowlevel

from qrisbot.config import Server, Xray
from qrisbot.provision import links
from qrisbot.provision.delivery import CustomDetails, Delivery, SshDetails, XrayLinks
from qrisbot.provision.errors import AccountMissing, ServerError, UsernameTaken
from qrisbot.provision.port import (
    Account,
    BackendError,
    Extension,
    Feature,
    Found,
    Presence,
    Removal,
    Removed,
    SecretKind,
    Usage,
)
from qrisbot.provision.ssh import existing, login, recipes
from qrisbot.provision.ssh.connections import CommandFailed, Connections
from qrisbot.provision.ssh.recipes import (
    KEPT,
    MISSING,
    TAKEN,
    CustomCommands,
    LinuxUsers,
    Recipe,
    XrayMarkers,
)

log = logging.getLogger("qrisbot.provision")

MAX_BATCH = 50  # accounts in one remote script


def recipe_for(server: Server) -> Recipe:
    if server.commands is not None:
        return CustomCommands(server.commands)
    if server.protocol == "ssh":
        return LinuxUsers(server.linux)
    return XrayMarkers(server.protocol, server.xray or Xray())


def features_of(server: Server) -> frozenset[Feature]:
    """What an SSH server's recipe can do, from its config section alone."""
    recipe, found = recipe_for(server), set()
    if recipe.can_extend():
        found.add(Feature.EXTEND)
    if recipe.can_remove():
        found.add(Feature.REMOVE)
    if isinstance(recipe, (XrayMarkers, LinuxUsers)):
        found.add(Feature.READ)
    if isinstance(recipe, XrayMarkers) and recipe.xray.user_files:
        found |= {Feature.QUOTA, Feature.IP_LIMIT}  # the family's per-user files
    if isinstance(recipe, LinuxUsers) and recipe.linux.ip_files:
        found.add(Feature.IP_LIMIT)
    if server.protocol == "ssh":
        found.add(Feature.LOGIN_PROOF)  # the buyer's password opens a real login
    return frozenset(found)


def secret_kind_of(server: Server) -> SecretKind:
    return SecretKind.PASSWORD if server.protocol == "ssh" else SecretKind.UUID


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


class SshBackend:
    """One server reached over SSH; the accounts waiting for it go in one batch.

    `connections` is shared by every SSH backend of a registry: servers on the same VPS
    share one connection and its lock, so their scripts never run at the same time.
    """

    def __init__(self, server: Server, connections: Connections) -> None:
        self.server = server
        self._recipe: Recipe = recipe_for(server)
        self._connections = connections
        self._batches = _Batches()

    @property
    def features(self) -> frozenset[Feature]:
        return features_of(self.server)

    @property
    def secret_kind(self) -> SecretKind:
        return secret_kind_of(self.server)

    def is_sellable_username(self, name: str) -> bool:
        return recipes.is_sellable_username(name)

    async def presence(self, username: str) -> Presence:
        recipe = self._recipe
        script = recipe.exists(username)
        result = await self._connections.get(self.server.ssh).run(script.command, script.stdin)
        found = recipe.presence(result.status, result.stdout)
        if found is None:
            raise CommandFailed(
                f"checking a username failed (exit {result.status})", result.status,
                _clean(result.stderr),
            )
        return found

    async def delivery(self, username: str, secret: str, expires: dt.date) -> Delivery:
        await trio.lowlevel.checkpoint()
        return delivery_for(self.server, username, secret, expires)

    async def usage(self) -> dict[str, Usage]:
        raise BackendError(f"{self.server.id}: the server counts no traffic per account",
                           transient=False)

    async def create(self, account: Account) -> Delivery:
        """Create the account (idempotent per order); raises UsernameTaken or ServerError.

        Accounts that arrive while a server is busy wait and go together in its next
        script: one lock, one restart of the server's VPN service for all of them.
        """
        self._recipe.secret_line(account)  # refuse a malformed secret right here
        batches = self._batches
        mine = _Waiting(account)
        batches.waiting.append(mine)
        while not mine.done:
            if batches.running:
                await batches.finished.wait()
                continue
            batch, batches.waiting = batches.waiting[:MAX_BATCH], batches.waiting[MAX_BATCH:]
            batches.running = True
            try:
                await self._run_batch(batch)
            finally:
                for waiting in batch:
                    if not waiting.done:  # cancelled while the script ran: try again later
                        waiting.finish(CommandFailed("provisioning was interrupted", -1, ""))
                batches.running = False
                batches.finished.set()
                batches.finished = trio.Event()
        if mine.error is not None:
            raise mine.error
        log.info("account %s created on %s", account.username, self.server.id)
        return delivery_for(self.server, account.username, account.secret, account.expires)

    async def extend(self, extension: Extension) -> Delivery:
        """Set the account's last day (idempotent: a date, not a number of days); raises
        AccountMissing, UsernameTaken (the name is someone else's) or ServerError."""
        script = recipes.extend(self._recipe, extension)
        result = await self._connections.get(self.server.ssh).run(script.command, script.stdin)
        if result.status == MISSING:
            raise AccountMissing(extension.username)
        if result.status == TAKEN:
            raise UsernameTaken(extension.username)
        if result.status != 0:
            stderr = _redacted(result.stderr, [extension.secret])
            raise CommandFailed(f"extending the account failed (exit {result.status}): "
                                f"{stderr}", result.status, stderr)
        log.info("account %s on %s extended to %s", extension.username, self.server.id,
                 extension.expires)
        return delivery_for(self.server, extension.username, extension.secret,
                            extension.expires)

    async def remove(self, removals: list[Removal]) -> dict[str, Removed]:
        """Remove expired accounts, MAX_BATCH to a script (one lock, one restart each)."""
        outcomes: dict[str, Removed] = {}
        recipe = self._recipe
        for start in range(0, len(removals), MAX_BATCH):
            part = removals[start:start + MAX_BATCH]
            script = recipes.removal(recipe, part)
            result = await self._connections.get(self.server.ssh).run(script.command, script.stdin)
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
                            self.server.id, start + len(part) - len(outcomes), len(part),
                            result.status, _redacted(result.stderr, [r.secret for r in part]))
        return outcomes

    async def _run_batch(self, batch: list[_Waiting]) -> None:
        accounts = [waiting.account for waiting in batch]
        script = recipes.batch(self._recipe, accounts)
        try:
            result = await self._connections.get(self.server.ssh).run(script.command, script.stdin)
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

    async def read_accounts(self) -> Found:
        return await existing.existing_accounts(self.server, self._connections)

    async def login_opens(self, username: str, password: str) -> bool:
        return await login.password_opens(self.server.ssh, username, password)

    async def aclose(self) -> None:
        """Nothing of its own to close: the registry closes the shared connections."""
        await trio.lowlevel.checkpoint()


def _redacted(stderr: str, secrets: list[str]) -> str:
    """A server's stderr fit to show: the secrets out first (a cut must not leave part of
    one behind), then cleaned and cut."""
    for secret in secrets:
        stderr = stderr.replace(secret, "***")
    return _clean(stderr)


def _clean(text: str) -> str:
    printable = "".join(c if c.isprintable() or c == "\n" else "?" for c in text)
    return printable.strip()[-500:]


def delivery_for(server: Server, username: str, secret: str, expires: dt.date) -> Delivery:
    """What the buyer receives for an account on this server (stored before it is sent)."""
    host = server.domain
    if server.protocol == "ssh":
        return SshDetails(
            protocol=server.protocol, host=host, username=username, secret=secret,
            expires=expires, ports=tuple(server.ports.items()),
            payload=f"GET / HTTP/1.1[crlf]Host: {host}[crlf]Upgrade: websocket[crlf][crlf]")
    if server.commands is not None or server.xray is None:
        return CustomDetails(protocol=server.protocol, host=host, username=username,
                             secret=secret, expires=expires)
    xray = server.xray
    build = links.BUILDERS[server.protocol]
    endpoints = []
    if xray.port_tls:
        endpoints.append(("TLS", links.Endpoint(host, xray.port_tls, True, "ws", xray.path)))
    if xray.port_ntls:
        endpoints.append(("non-TLS", links.Endpoint(host, xray.port_ntls, False, "ws",
                                                    xray.path)))
    if xray.grpc_service and xray.port_tls:
        endpoints.append(("gRPC", links.Endpoint(host, xray.port_tls, True, "grpc",
                                                 xray.grpc_service)))
    return XrayLinks(
        protocol=server.protocol, host=host, username=username, secret=secret,
        expires=expires, network="ws" + (", grpc" if xray.grpc_service else ""),
        path=xray.path,
        ports=tuple((label, e.port) for label, e in endpoints if e.network == "ws"),
        links=tuple((label, build(secret, e, username)) for label, e in endpoints))
