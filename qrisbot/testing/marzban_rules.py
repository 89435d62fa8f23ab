"""The input rules of Marzban 0.8 and PasarGuard, as their pydantic models enforce them.

Each check returns an error message (the panel's own wording, pydantic's "Value error, "
prefix included) or None; the fake gathers them into FastAPI's 422 shape.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

# Marzban's rule (app/models/user.py USERNAME_REGEXP), kept verbatim: the lookahead wants
# 3-32 *word* characters before a boundary, so "ab.cd" and "a-b" are refused although the
# character class allows "." and "-", and a name may pass 32 after a "." ("abc.<40 more>").
MARZBAN_USERNAME = re.compile(r"^(?=\w{3,32}\b)[a-zA-Z0-9-_@.]+(?:_[a-zA-Z0-9-_@.]+)*$")
MARZBAN_USERNAME_ERROR = ("Value error, Username only can be 3 to 32 characters and contain "
                          "a-z, 0-9, and underscores in between.")

PROTOCOLS = ("vmess", "vless", "trojan", "shadowsocks")
STRATEGIES = ("no_reset", "day", "week", "month", "year")


def username_error(dialect: str, value: Any) -> str | None:
    if not isinstance(value, str):
        return "Input should be a valid string"
    if dialect == "marzban":
        return None if MARZBAN_USERNAME.match(value) else MARZBAN_USERNAME_ERROR
    # PasarGuard: app/models/validators.py UserValidator.validate_username (3-128 there).
    if not 3 <= len(value) <= 128:
        return "Value error, Username only can be 3 to 128 characters."
    if not re.match(r"^[a-zA-Z0-9-_@.]+$", value):
        return ("Value error, Username can only contain alphanumeric characters, "
                "-, _, @, and .")
    if re.search(r"[-_@.]{2,}", value):
        return "Value error, Username cannot have consecutive special characters"
    return None


def password_errors(password: str, username: str | None = None) -> list[str]:
    """PasarGuard's admin password rule (app/models/validators.py PasswordValidator)."""
    errors = []
    if len(password.encode()) > 72:
        errors.append("Password too long: maximum 72 bytes when UTF-8 encoded")
    if len(password) < 12:
        errors.append("Password must be at least 12 characters long")
    if len(re.findall(r"\d", password)) < 2:
        errors.append("Password must contain at least 2 digits")
    if len(re.findall(r"[A-Z]", password)) < 2:
        errors.append("Password must contain at least 2 uppercase letters")
    if len(re.findall(r"[a-z]", password)) < 2:
        errors.append("Password must contain at least 2 lowercase letters")
    if not re.search(r"[!@#$%^&*()\-_=+\[\]{}|;:,.<>?/~`]", password):
        errors.append("Password must contain at least one special character")
    if username and username.lower() in password.lower():
        errors.append("Password cannot contain the username")
    if '"' in password:
        errors.append('Password cannot contain the double quote (") character')
    return errors


def optional_int(value: Any, *, minimum: int | None = None) -> tuple[int | None, str | None]:
    """An int field that may be null; floats are cut, strings refused (the panels'
    cast_to_int validators)."""
    if value is None:
        return None, None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, "Value error, must be an integer or a float, not a string"
    number = int(value)
    if minimum is not None and number < minimum:
        return None, f"Input should be greater than or equal to {minimum}"
    return number, None


def expire_seconds(dialect: str, value: Any) -> tuple[int | None, str | None]:
    """`expire` as UTC epoch seconds (None = never). Marzban takes an int only; PasarGuard
    an int or an ISO datetime, naive meaning UTC (app/utils/helpers.py
    fix_datetime_timezone)."""
    if value is None or value == 0:
        return None, None
    if isinstance(value, str) and dialect == "pasarguard":
        try:
            when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None, "Input should be a valid datetime"
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return int(when.timestamp()), None
    if isinstance(value, bool) or not isinstance(value, int):
        return None, "Input should be a valid integer"
    return value, None


def iso(seconds: int | None) -> str | None:
    """How PasarGuard (pydantic v2) writes a UTC datetime: "2027-01-15T08:00:00Z"."""
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")
