"""Server id -> backend: each server's backend built once, from that server's own config
section (the way httpx picks a transport per URL), and closed together at the end."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from qrisbot.config import Server, Shop
from qrisbot.provision.port import Backend
from qrisbot.provision.ssh.backend import SshBackend
from qrisbot.provision.ssh.connections import Connections


class Backends(Protocol):
    """What the shop holds: the backend of any configured server."""

    def backend(self, server: Server) -> Backend: ...

    async def aclose(self) -> None: ...


class Registry:
    """The daemon's and the operator commands' backends. `make` (tests, the demo) builds a
    server's backend instead of its configured kind."""

    def __init__(self, connections: Connections | None = None,
                 make: Callable[[Server], Backend] | None = None, *,
                 shop: Shop | None = None) -> None:
        # One pool for every SSH backend: servers on one VPS share a connection and its lock.
        self._connections = connections or Connections()
        # A panel's dates and quotas follow the shop's time zone and month.
        self._shop = shop or Shop()
        self._make = make or self._configured
        self._built: dict[str, Backend] = {}

    def backend(self, server: Server) -> Backend:
        built = self._built.get(server.id)
        # A server's section changes only between runs; a test may hand in another one.
        if built is None or getattr(built, "server", server) != server:
            built = self._built[server.id] = self._make(server)
        return built

    def _configured(self, server: Server) -> Backend:
        if server.panel is None:
            return SshBackend(server, self._connections)
        # Imported here: an SSH-only shop never loads the panels' code.
        if server.panel.type == "3x-ui":
            from qrisbot.provision.panels.xui import XuiBackend

            return XuiBackend(server, self._shop)
        if server.panel.type == "marzban":
            from qrisbot.provision.panels.marzban import MarzbanBackend

            return MarzbanBackend(server, self._shop)
        from qrisbot.provision.panels.pasarguard import PasarGuardBackend

        return PasarGuardBackend(server, self._shop)

    async def aclose(self) -> None:
        """Close every backend built, then the shared SSH connections."""
        try:
            for backend in self._built.values():
                await backend.aclose()
        finally:
            self._connections.close()
