"""Setup's Pakasir step: the project slug and API key, checked with a call that makes
nothing; and the QRIS fee of a price, from Pakasir's fee table."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import trio

from qrisbot import http
from qrisbot.pakasir import Accepted, Pakasir, PakasirError, Refused
from qrisbot.setup.prompts import Terminal, printable
from qrisbot.setup.secrets_file import PAKASIR_KEY, allowed
from qrisbot.setup.session import PLACEHOLDERS, Session

SLUG = re.compile(r"[A-Za-z0-9_-]{1,64}")  # as config.py checks it


def credentials(s: Session) -> None:
    t = s.terminal
    t.say("pakasir_where")
    current_project = s.doc.get("pakasir", "project")
    project: str | None = None
    key: str | None = None
    kept = s.api_key()
    while True:
        if project is None:
            default = current_project if isinstance(current_project, str) and (
                current_project not in PLACEHOLDERS) else None
            project = t.ask("pakasir_project", _slug(t), default=default)
        if key is None:
            typed = t.secret("pakasir_key", _key(t), keep=kept is not None)
            key = typed or kept
        assert key is not None
        accepted = _checked(s, project, key)
        if isinstance(accepted, Accepted):
            break
        if "api_key" in accepted.settings:
            key = kept = None  # asked again, and Enter no longer keeps the refused one
        if "project" in accepted.settings:
            project = current_project = None
    s.doc.set("pakasir", "project", project)
    s.secrets.set(PAKASIR_KEY, key)
    s.doc.drop("pakasir", "api_key")  # it lives in secrets.env now
    t.say("pakasir_ok" if accepted.project_known else "pakasir_ok_key", project=project)


def _slug(t: Terminal) -> Callable[[str], str]:
    def check(answer: str) -> str:
        if not SLUG.fullmatch(answer):
            raise t.wrong("pakasir_slug_shape")
        return answer

    return check


def _key(t: Terminal) -> Callable[[str], str]:
    def check(answer: str) -> str:
        if not allowed(answer) or any(c.isspace() for c in answer):
            raise t.wrong("pakasir_key_shape")
        return answer

    return check


def _checked(s: Session, project: str, key: str) -> Accepted | Refused:
    t = s.terminal
    while True:
        try:
            return trio.run(_check, s, project, key)
        except Refused as exc:
            if set(exc.settings) >= {"project", "api_key"}:
                t.say("pakasir_refused_both", project=project)
            elif "project" in exc.settings:
                t.say("pakasir_refused_project", project=project)
            else:
                t.say("pakasir_refused_key")
            return exc
        except PakasirError as exc:
            t.say("pakasir_unreachable", url=s.pakasir_url, why=printable(str(exc), 200))
            t.pause("enter_retry")


async def _check(s: Session, project: str, key: str) -> Accepted:
    async with http.client(20.0) as client:
        return await _client(s, client, project, key).check_credentials()


def _client(s: Session, client: httpx.AsyncClient, project: str, key: str) -> Pakasir:
    version = s.doc.get("pakasir", "api_version")
    return Pakasir(client, project=project, api_key=key, base_url=s.pakasir_url,
                   version=2 if version != 1 else 1)


def fee(s: Session, amount: int) -> int | None:
    """The QRIS fee a buyer pays on top of `amount`; None when Pakasir did not say."""
    async def ask() -> int:
        async with http.client(10.0) as client:
            return await _client(s, client, "-", "").payment_fee(amount)

    try:
        return trio.run(ask)
    except PakasirError:
        return None
