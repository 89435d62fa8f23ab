"""Taking on the SSH users `accounts import` found: each is marked as the shop's on its
server (its comment field, `recipes.bind_imported`), on the very user that was read (its
uid), so a renewal or removal later never reaches a stranger the seller's menu gave the
name to meanwhile — whatever uid the stranger got.
"""

from __future__ import annotations

import enum
import re

from qrisbot.config import Server
from qrisbot.provision.port import Existing
from qrisbot.provision.ssh import recipes
from qrisbot.provision.ssh.connections import CommandFailed, Connections

_OUTCOME = re.compile(r"(bound|gone|changed|shop|comment|failed) (\S{1,64})")


class Bound(enum.Enum):
    BOUND = "bound"  # the shop's now (or already)
    GONE = "gone"  # no such user any more
    CHANGED = "changed"  # the name has another uid: made again since it was read
    SHOP = "shop"  # a shop order's user (another ledger's): not an account made before
    COMMENT = "comment"  # its comment field holds something someone wrote: not overwritten
    FAILED = "failed"  # usermod failed


WHY = {
    Bound.GONE: "no longer on the server",
    Bound.CHANGED: "made again (another uid) while it was read",
    Bound.SHOP: "made by a shop order that is not in this ledger",
    Bound.COMMENT: "its comment field (GECOS) is in use; empty it to take it on",
    Bound.FAILED: "usermod failed",
}


async def bind(server: Server, users: list[Existing]) -> dict[str, Bound]:
    """Mark each user (read with its uid) as the shop's, over a connection of its own;
    raises SshError. A user the server did not answer for is FAILED."""
    if not users:
        return {}
    script = recipes.bind_imported([(u.username, u.uid if u.uid is not None else -1)
                                    for u in users])
    connections = Connections()
    try:
        result = await connections.get(server.ssh).run(script.command)
    finally:
        connections.close()
    if result.status != 0:
        raise CommandFailed(f"marking the imported users failed (exit {result.status})",
                            result.status, result.stderr[:500])
    asked = {u.username for u in users}
    outcomes = {name: Bound.FAILED for name in asked}
    for line in result.stdout.splitlines():
        match = _OUTCOME.fullmatch(line.strip())
        if match is not None and match[2] in asked:
            outcomes[match[2]] = Bound(match[1])
    return outcomes
