"""Loopback fakes of the Bot API and Pakasir, and a provisioning stand-in (tests and demo)."""

from __future__ import annotations

from typing import Any


def config_for(
    telegram_url: str, token: str, pakasir_url: str, project: str, api_key: str,
    database: str, servers: list[dict[str, Any]], shop: dict[str, Any] | None = None,
    **pakasir: Any,
) -> dict[str, Any]:
    """A raw configuration (as read from TOML) pointing at the fakes."""
    return {
        "shop": {"name": "Toko Test", "database": database, "max_months": 12, **(shop or {})},
        "telegram": {"token": token, "api_url": telegram_url, "poll_timeout": 10},
        "pakasir": {"project": project, "api_key": api_key, "api_url": pakasir_url,
                    "api_version": 2, "check_interval": 5, "payment_timeout": 300, **pakasir},
        "servers": servers,
    }
