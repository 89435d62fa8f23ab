"""What can go wrong on a server, as the shop sees it: the names callers have used since
before the backend contract (`port`), kept so `except ServerError` reads as it always did."""

from __future__ import annotations

from qrisbot.provision.port import AccountMissing, BackendError, NoAnswer, UsernameTaken

ServerError = BackendError

__all__ = ["AccountMissing", "BackendError", "NoAnswer", "ServerError", "UsernameTaken"]
