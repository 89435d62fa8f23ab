"""Claiming an account made before the shop (imported, nobody's yet): Akun saya ->
Tambah akun lama -> server -> username -> proof. For an Xray account the proof is its
UUID or Trojan password, typed or inside a share link, compared with the one on record
(read from the server at import); for an SSH account its password, tried by a real login
to the server. The account message shown after the claim carries what the server gives now
(a panel: its current links and subscription URL; those stored at import if it cannot be
asked).
A right proof makes the account the user's, to renew with reminders; a wrong one never
says which part was wrong, is logged without what was typed, and a user gets MAX_FAILURES
of them an hour.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import re
import time

import attrs

from qrisbot.config import Server
from qrisbot.ledger import Account
from qrisbot.provision import Account as Made
from qrisbot.provision import Feature, ServerError, details
from qrisbot.provision.port import NAME, PASSWORD
from qrisbot.shop import messages
from qrisbot.shop.buttons import Press
from qrisbot.shop.dialogue import Dialogue, Draft, Tables
from qrisbot.shop.messages import Outgoing, cancel_row
from qrisbot.shop.texts import text
from qrisbot.telegram.api import TelegramError
from qrisbot.telegram.types import Message

log = logging.getLogger("qrisbot.claims")

MAX_FAILURES = 5  # wrong proofs per user per hour
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12}")
_TROJAN = re.compile(r"trojan://([^@\s]{1,64})@")


def secrets_in(proof: str) -> set[str]:
    """What the buyer's text may hold: UUIDs (typed, in a vless link, or in a vmess link's
    base64 JSON), a trojan link's password, or the text itself."""
    proof = proof.strip()[:4096]
    found = {proof} | {u.lower() for u in _UUID.findall(proof)}
    found |= set(_TROJAN.findall(proof))
    for blob in re.findall(r"vmess://([A-Za-z0-9+/=_-]{1,4000})", proof):
        try:
            decoded = json.loads(base64.b64decode(blob + "=" * (-len(blob) % 4),
                                                  altchars=b"-_"))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            continue
        if isinstance(decoded, dict) and isinstance(decoded.get("id"), str):
            found.add(decoded["id"].lower())
    return found


class Claims:
    def __init__(self, dialogue: Dialogue) -> None:
        self.d = dialogue
        self.lang = dialogue.lang
        self.tables = Tables(
            typed={"claim_username": self._on_username, "claim_proof": self._on_proof},
            steps={("csrv", "claim_server"): self._choose_server},
            acts={"claim": self._offer},
            reprompts={"claim_server": self._reoffer, "claim_username": self._reask,
                       "claim_proof": self._reask},
        )

    def _limited(self, user_id: int) -> bool:
        return self.d.ledger.claim_failures(user_id, time.time() - 3600) >= MAX_FAILURES

    async def _offer(self, chat_id: int, user_id: int, press: Press) -> None:
        holding = self.d.ledger.servers_with_unowned()
        servers = [s for s in self.d.config.servers if s.id in holding]
        if not servers:
            await self.d.stale(chat_id)
            return
        if self._limited(user_id):
            await self.d.say(chat_id, "claim_too_many")
            return
        rows = self.d.server_choice(servers, "csrv")
        await self.d.ask(chat_id, Draft(step="claim_server"), Outgoing(
            text("ask_claim_server", self.lang), [*rows, cancel_row(self.lang)]))

    async def _reoffer(self, chat_id: int, draft: Draft) -> None:
        await self._offer(chat_id, chat_id, Press("claim"))

    async def _choose_server(self, chat_id: int, user_id: int, draft: Draft, press: Press
                             ) -> None:
        if self.d.config.server(press.value) is None:
            await self.d.restart(chat_id)
            return
        await self._ask_username(chat_id, Draft(step="claim_username", server=press.value))

    async def _ask_username(self, chat_id: int, draft: Draft) -> None:
        await self.d.ask(chat_id, attrs.evolve(draft, step="claim_username"), Outgoing(
            text("ask_claim_username", self.lang), [cancel_row(self.lang)]))

    async def _reask(self, chat_id: int, draft: Draft) -> None:
        await self._ask_username(chat_id, draft)

    async def _on_username(self, message: Message, draft: Draft, raw: str) -> None:
        # Whether the name exists is not said here (nor after the proof): a stranger
        # learns nothing about the server's accounts.
        server = self.d.config.server(draft.server or "")
        ask = "ask_claim_password" if server is not None and Feature.LOGIN_PROOF in \
            self.d.checkout.backends.backend(server).features else "ask_claim_proof"
        await self.d.ask(message.chat_id, attrs.evolve(
            draft, step="claim_proof", username=raw.strip()[:64]), Outgoing(
            text(ask, self.lang), [cancel_row(self.lang)]))

    async def _on_proof(self, message: Message, draft: Draft, raw: str) -> None:
        chat_id = message.chat_id
        user_id = message.sender.id if message.sender else chat_id
        try:  # the proof is a secret: it should not stay in the chat
            await self.d.bot.delete_message(chat_id, message.message_id)
        except TelegramError as exc:
            log.info("could not delete a claim proof: %s", exc.description)
        self.d.save(chat_id, None)
        if self._limited(user_id):
            await self.d.say(chat_id, "claim_too_many")
            return
        username = draft.username or ""
        account = (self.d.ledger.unowned(draft.server, username)
                   if draft.server is not None and NAME.fullmatch(username) else None)
        server = self.d.config.server(account.server_id) if account is not None else None
        proven: tuple[str, str] | None = None
        if account is not None and server is not None:
            try:
                proven = await self._proof(server, account, raw)
            except ServerError as exc:  # not the buyer's fault: no failure counted
                log.warning("claim on %s could not be checked: %s", server.id, exc)
                await self.d.say(chat_id, "claim_server_down")
                return
        if account is None or proven is None or not self.d.ledger.assign(
                account, user_id, chat_id, self.lang, secret=proven[0], details=proven[1]):
            self.d.ledger.claim_failed(user_id, time.time())
            log.warning("claim by user %d on %s failed (%d this hour)", user_id,
                        draft.server, self.d.ledger.claim_failures(user_id,
                                                                   time.time() - 3600))
            await self.d.say(chat_id, "claim_failed")
            return
        log.info("account %d claimed by user %d", account.id, user_id)
        await self.d.say(chat_id, "claim_done", username=account.username)
        claimed = self.d.ledger.account(account.id)
        if claimed is not None and server is not None:
            await self.d.send(chat_id, Outgoing(messages.account_detail(
                claimed, server.name, self.lang)))

    async def _proof(self, server: Server, account: Account, raw: str
                     ) -> tuple[str, str] | None:
        """The account's secret and details when `raw` proves it, else None. An SSH
        password is tried by logging in to the server (the shop had only its hash there:
        once proven it is the account's, as a bought one's is); an Xray UUID or Trojan
        password is compared with the one read from the server at import."""
        backend = self.d.checkout.backends.backend(server)
        if Feature.LOGIN_PROOF in backend.features:
            password = raw.strip()
            if not PASSWORD.fullmatch(password) or not await \
                    backend.login_opens(account.username,
                                                                password):
                return None
            made = Made(order_id=account.tag, username=account.username, secret=password,
                        expires=account.expires_on, months=0, days=0)
            return password, json.dumps(details(server, made))
        if not proves(account.protocol, account.secret, raw):
            return None
        try:  # proven already: a panel that cannot be asked leaves the import's links
            delivery = await backend.delivery(account.username, account.secret,
                                              account.expires_on)
        except ServerError as exc:
            log.warning("claim on %s: the panel's links could not be read (%s); the "
                        "imported ones are shown", server.id, exc)
            return account.secret, account.details
        return account.secret, json.dumps(delivery.to_json())


def proves(protocol: str, secret: str, proof: str) -> bool:
    """Does the buyer's text hold the account's secret? A UUID is the same UUID in any
    case (VMess / VLESS read it so); a Trojan password is compared exactly, capitals and
    all (the protocol does, and the buyer's link keeps them)."""
    if protocol == "trojan":
        expected = secret
    elif _UUID.fullmatch(secret):
        expected = secret.lower()
    else:
        return False
    return any(hmac.compare_digest(candidate.encode(), expected.encode())
               for candidate in secrets_in(proof))
