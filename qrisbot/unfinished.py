"""What `check-config` finds in a valid configuration that is not ready to sell yet.

Errors: a key file that is not there or is not a private key (every SSH call would fail).
Warnings: values still as `config.toml.example` has them (the token, the project slug, the
API key), no admins to tell, documentation names and addresses (RFC 2606 / 5737) where a
real server belongs, a known_hosts file no `servers trust` has written yet, a limit a
panel cannot enforce (Marzban and PasarGuard have no IP limit).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import attrs

from qrisbot.config import Config, Server

# The example's placeholders, by key path (tests/test_cli.py checks the example has these).
PLACEHOLDERS: Final = {
    "$.telegram.token": "123456:ABC-replace-with-your-bot-token",
    "$.pakasir.project": "slug",
    "$.pakasir.api_key": "key",
}
BOTFATHER_TOKEN = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{35}")
# Names that never reach a real machine (RFC 2606, RFC 6761).
DOCUMENTATION_NAME = re.compile(
    r"(.*\.)?(example(\.(com|net|org))?|test|invalid)\.?", re.IGNORECASE)


@attrs.frozen
class Findings:
    errors: tuple[str, ...]
    warnings: tuple[str, ...]


def findings(config: Config) -> Findings:
    errors: list[str] = []
    warnings: list[str] = []
    values = {"$.telegram.token": config.telegram.token,
              "$.pakasir.project": config.pakasir.project,
              "$.pakasir.api_key": config.pakasir.api_key}
    for key, value in values.items():
        if value == PLACEHOLDERS[key]:
            warnings.append(f"{key}: still the example's placeholder; put in your own")
    token = config.telegram.token
    if token != PLACEHOLDERS["$.telegram.token"] and not BOTFATHER_TOKEN.fullmatch(token):
        warnings.append("$.telegram.token: does not look like a token from @BotFather "
                        "(digits, a colon and 35 characters)")
    if not config.shop.admins:
        warnings.append("$.shop.admins: none; nobody is told of failed orders or servers "
                        "down (add your Telegram user id)")
    for i, server in enumerate(config.servers):
        _server(f"$.servers[{i}]", server, errors, warnings)
    return Findings(tuple(errors), tuple(warnings))


def _server(at: str, server: Server, errors: list[str], warnings: list[str]) -> None:
    if _is_documentation(server.domain):
        warnings.append(f"{at}.domain: {server.domain} is a documentation name "
                        "that no buyer can reach")
    if server.panel is not None:
        host = urlsplit(server.panel.url).hostname or ""
        if _is_documentation(host):
            warnings.append(f"{at}.panel.url: {host} is a documentation name")
        if server.ip_limit and server.panel.type in ("marzban", "pasarguard"):
            # PasarGuard's hwid_limit counts devices that report an id, not IPs at once.
            warnings.append(f"{at}.ip_limit: {server.panel.type} has no IP limit; "
                            "buyers there are not limited")
        return
    if _is_documentation(server.ssh.host):
        warnings.append(f"{at}.ssh.host: {server.ssh.host} is a documentation address")
    key_problem = _key_problem(Path(server.ssh.key_file))
    if key_problem:
        errors.append(f"{at}.ssh.key_file: {server.ssh.key_file} {key_problem}")
    if not Path(server.ssh.known_hosts).exists():
        warnings.append(f"{at}.ssh.known_hosts: {server.ssh.known_hosts} does not exist yet; "
                        f"run: qrisbot servers trust {server.id}")


def _is_documentation(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return DOCUMENTATION_NAME.fullmatch(host) is not None
    return any(address in ipaddress.ip_network(net) for net in (
        "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"))


def _key_problem(path: Path) -> str | None:
    """Why the daemon could not use this private key (None: it can, as far as root sees)."""
    import paramiko

    try:
        paramiko.PKey.from_path(path)
    except FileNotFoundError:
        return "does not exist"
    except PermissionError:
        return None  # not ours to read; `servers check` says whether the daemon's user can
    except (OSError, paramiko.SSHException, ValueError) as exc:
        return f"is not a private key without passphrase ({type(exc).__name__})"
    return None
