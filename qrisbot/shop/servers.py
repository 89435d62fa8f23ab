"""The servers as the shop sells them right now: on/off switches and how each last answered.

Both live in the ledger's meta table, so a seller's Disable survives a restart and the CLI
sees what the daemon saw. A server the shop cannot use (SSH cannot connect or its key is
refused; a panel refuses connections, hangs, only its proxy's 502-504 page comes, or it
refuses the shop's login) is reported to the admins once, with the reason, and again when
it comes back.
"""

from __future__ import annotations

import json
import logging
import time
from typing import NoReturn

import attrs
import trio

from qrisbot.config import Config, Server
from qrisbot.ledger import Ledger
from qrisbot.provision import Backends, NoAnswer, ServerError
from qrisbot.shop.notify import Notifier

log = logging.getLogger("qrisbot.servers")

PROBE_INTERVAL = 300  # seconds between checks that every server still answers
PROBE_DEADLINE = 120  # seconds a probe may take; a server silent for longer is down
PROBE_USERNAME = "qrisbotprobe"  # looked up, never created


@attrs.frozen
class LastResult:
    at: float
    ok: bool
    detail: str


class Servers:
    def __init__(self, config: Config, ledger: Ledger, notifier: Notifier | None = None) -> None:
        self.config = config
        self.ledger = ledger
        self.notifier = notifier
        self._down: set[str] = set()

    # --- on sale or not ---------------------------------------------------------------------

    def selling(self, server: Server) -> bool:
        switch = self.ledger.meta(f"server:{server.id}:enabled")
        return server.enabled if switch is None else switch == "1"

    def for_sale(self) -> list[Server]:
        return [s for s in self.config.servers if self.selling(s)]

    def set_selling(self, server: Server, on: bool, by: str) -> None:
        self.ledger.set_meta(f"server:{server.id}:enabled", "1" if on else "0")
        self.ledger.record("server_enabled" if on else "server_disabled",
                           f"{server.id} by {by}")
        log.info("server %s %s by %s", server.id, "enabled" if on else "disabled", by)

    # --- how it last answered -----------------------------------------------------------

    def provisioned(self, server: Server, error: Exception | None) -> None:
        """Record how making an account went (shown in /admin), and what it says of health."""
        detail = "" if error is None else str(error)[:300]
        self.ledger.set_meta(f"server:{server.id}:last", json.dumps(
            {"at": time.time(), "ok": error is None, "detail": detail}))
        self.answered(server, error)

    def answered(self, server: Server, error: Exception | None) -> None:
        """Any outcome of a call to the server: tell the admins when it goes silent (the
        error's `silent`) or comes back."""
        detail = "" if error is None else str(error)[:300]
        silent = isinstance(error, ServerError) and error.silent
        if silent and server.id not in self._down:
            self._down.add(server.id)
            log.warning("server %s stopped answering: %s", server.id, detail)
            if self.notifier:
                self.notifier.tell("notify_server_down", name=server.name, error=detail)
        elif not silent and server.id in self._down:
            self._down.discard(server.id)
            log.info("server %s answers again", server.id)
            if self.notifier:
                self.notifier.tell("notify_server_up", name=server.name)

    def last(self, server: Server) -> LastResult | None:
        """The last provisioning outcome on the server."""
        raw = self.ledger.meta(f"server:{server.id}:last")
        if raw is None:
            return None
        value = json.loads(raw)
        return LastResult(float(value["at"]), bool(value["ok"]), str(value["detail"]))

    async def probe(self, backends: Backends) -> NoReturn:
        """Every PROBE_INTERVAL, ask each server on sale a harmless question, all at once:
        a wedged server delays no other server's probe."""
        while True:
            await trio.sleep(PROBE_INTERVAL)
            async with trio.open_nursery() as probes:
                for server in self.for_sale():
                    probes.start_soon(self._probe_one, backends, server)

    async def _probe_one(self, backends: Backends, server: Server) -> None:
        with trio.move_on_after(PROBE_DEADLINE):
            try:
                await backends.backend(server).presence(PROBE_USERNAME)
            except ServerError as exc:
                self.answered(server, exc)
            else:
                self.answered(server, None)
            return
        self.answered(server, NoAnswer(f"no answer within {PROBE_DEADLINE} s"))
