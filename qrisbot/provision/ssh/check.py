"""`qrisbot servers check`: can the shop reach a server, and does its recipe have what it needs?"""

from __future__ import annotations

import time

import attrs

from qrisbot.config import Server
from qrisbot.provision.ssh.backend import recipe_for
from qrisbot.provision.ssh.connections import Connections, SshError


@attrs.frozen
class Report:
    server: Server
    error: str | None = None  # could not connect or run anything
    connect_ms: float | None = None  # first command: connect, key check, login, run
    round_trip_ms: float | None = None  # a command on the open connection
    findings: tuple[tuple[bool, str], ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None and all(good for good, _ in self.findings)


async def check(server: Server, connections: Connections) -> Report:
    """Connect (verifying the host key), time a harmless command, run the recipe's checks."""
    connection = connections.get(server.ssh)
    try:
        started = time.monotonic()
        await connection.run("true")
        connected = time.monotonic()
        await connection.run("true")
        round_trip = time.monotonic()
        result = await connection.run(recipe_for(server).needs())
    except SshError as exc:
        return Report(server, error=str(exc))
    findings = []
    for line in result.stdout.splitlines():
        verdict, _, what = line.partition(" ")
        if verdict in ("ok", "missing") and what:
            findings.append((verdict == "ok", what))
    if not findings:
        findings.append((False, f"the checks printed nothing (exit {result.status})"))
    return Report(server, connect_ms=(connected - started) * 1000,
                  round_trip_ms=(round_trip - connected) * 1000, findings=tuple(findings))
