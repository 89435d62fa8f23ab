"""What can go wrong on a server, as the shop sees it (no module outside provision/ knows
which transport or tool failed)."""

from __future__ import annotations


class ServerError(Exception):
    """The server could not do what was asked. Worth retrying later unless it says so;
    `silent` when the server did not answer at all (down, unreachable, key refused)."""

    silent = False


class NoAnswer(ServerError):
    """The server did not answer in time: wedged, which to the shop is as silent as down."""

    silent = True


class UsernameTaken(Exception):
    """The username exists on the server and is not this order's account."""


class AccountMissing(Exception):
    """The account to extend is not (or no longer) on its server."""
