"""Bot API calls over httpx with Telegram's error rules encoded once.

The token lives in every URL path, so no URL, request or httpx exception ever leaves this
module: errors are translated to the exceptions below, built from Telegram's description.
"""

from __future__ import annotations

import enum
import json
import logging
import random
from collections.abc import Sequence
from typing import Any

import attrs
import httpx
import trio

from qrisbot.pacing import TelegramPacer

log = logging.getLogger("qrisbot.telegram")

Keyboard = Sequence[Sequence[tuple[str, str]]]
# Calls that put a message in front of someone: Telegram rate-limits these.
PACED = frozenset({"sendMessage", "sendPhoto", "sendDocument", "editMessageText",
                   "editMessageCaption", "editMessageReplyMarkup"})


class TelegramError(Exception):
    """A Bot API call failed; `description` is Telegram's own text (never the URL)."""

    def __init__(self, description: str, code: int = 0) -> None:
        super().__init__(f"{code} {description}" if code else description)
        self.description = description
        self.code = code


class BadRequest(TelegramError):
    pass


class Unauthorized(TelegramError):
    """The token is wrong or revoked: nothing will work until the operator fixes it."""


class Forbidden(TelegramError):
    """E.g. the buyer blocked the bot: give up on that chat."""


class Conflict(TelegramError):
    pass


class Unavailable(TelegramError):
    """Network errors, 5xx and repeated 429s outlasted the retries."""


@attrs.frozen
class Bot:
    """Who the token belongs to (getMe)."""

    id: int
    username: str
    first_name: str = ""


class MemberStatus(enum.StrEnum):
    """A person's standing in a chat, as getChatMember names it."""

    CREATOR = "creator"
    ADMINISTRATOR = "administrator"
    MEMBER = "member"
    RESTRICTED = "restricted"
    LEFT = "left"
    KICKED = "kicked"


@attrs.frozen
class ChatMember:
    """getChatMember's answer, as far as the shop reads it."""

    status: MemberStatus
    is_member: bool = False  # `restricted` only: restricted, yet still in the chat

    @property
    def has_joined(self) -> bool:
        """In the chat now: its owner, an admin, a member, or restricted but still there."""
        return self.status in (MemberStatus.CREATOR, MemberStatus.ADMINISTRATOR,
                               MemberStatus.MEMBER) or (
            self.status is MemberStatus.RESTRICTED and self.is_member)


def keyboard(rows: Keyboard) -> dict[str, Any]:
    return {
        "inline_keyboard": [
            [{"text": label, "callback_data": data} for label, data in row] for row in rows
        ]
    }


class BotApi:
    """`client` is the transport (tests point it at the loopback fake via `base_url`)."""

    def __init__(
        self, client: httpx.AsyncClient, token: str, base_url: str, *, attempts: int = 6,
        pacer: TelegramPacer | None = None,
    ) -> None:
        self._client = client
        self._prefix = f"{base_url.rstrip('/')}/bot{token}/"
        self._attempts = attempts
        self._pacer = pacer or TelegramPacer()

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        attempts: int | None = None,
    ) -> Any:
        """Call `method`, retrying 429 (after `retry_after`), 5xx and network errors."""
        attempts = attempts or self._attempts
        delay = 1.0
        params = params or {}
        for attempt in range(1, attempts + 1):
            if method in PACED:
                await self._pacer.wait(str(params.get("chat_id")))
            try:
                return await self._once(method, params, files)
            except _Retry as retry:
                if attempt == attempts:
                    raise Unavailable(retry.description, retry.code) from None
                wait = retry.after if retry.after is not None else delay * random.uniform(1, 1.5)
                delay = min(delay * 2, 30.0)
                log.warning("telegram %s: %s; retrying in %.1fs", method, retry.description, wait)
                await trio.sleep(wait)
        raise AssertionError("unreachable")

    async def _once(
        self,
        method: str,
        params: dict[str, Any],
        files: dict[str, tuple[str, bytes, str]] | None,
    ) -> Any:
        try:
            # A stale keep-alive to the Bot API is far likelier than a message the API
            # took and never answered; delivery is at-least-once anyway.
            again = {"resend_if_stale": True}
            if files:
                data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
                response = await self._client.post(self._prefix + method, data=data, files=files,
                                                   extensions=again)
            else:
                response = await self._client.post(self._prefix + method, json=params,
                                                   extensions=again)
        except httpx.HTTPError as exc:
            # str(exc) of some httpx errors names the URL; keep only the error's kind.
            raise _Retry(f"network error ({type(exc).__name__})", 0, None) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if response.status_code >= 500 or response.status_code == 429:
                raise _Retry(f"HTTP {response.status_code}", response.status_code, None)
            raise BadRequest(f"unreadable response (HTTP {response.status_code})",
                             response.status_code)
        if body.get("ok") is True:
            return body.get("result")
        code = body.get("error_code")
        code = code if isinstance(code, int) else response.status_code
        description = str(body.get("description") or f"HTTP {response.status_code}")[:300]
        parameters = body.get("parameters")
        # retry_after is read before the status: it has been seen on a 400.
        if isinstance(parameters, dict) and isinstance(parameters.get("retry_after"), int | float):
            raise _Retry(description, code, float(parameters["retry_after"]) + 0.5)
        if code == 400 and "message is not modified" in description:
            return True
        if code >= 500 or code == 429:
            raise _Retry(description, code, None)
        error = {400: BadRequest, 401: Unauthorized, 403: Forbidden, 409: Conflict}.get(
            code, TelegramError
        )
        raise error(description, code)

    # --- the calls the shop makes -----------------------------------------------------------

    async def get_me(self, *, attempts: int | None = None) -> Bot:
        """The bot the token belongs to. Unauthorized: Telegram refused the token;
        Unavailable: no answer within `attempts` (default: the client's) tries."""
        result = await self.call("getMe", attempts=attempts)
        if not isinstance(result, dict) or not isinstance(result.get("id"), int) or \
                isinstance(result.get("id"), bool) or not isinstance(result.get("username"), str):
            raise TelegramError("unexpected getMe answer (no id or username)")
        name = result.get("first_name")
        return Bot(id=result["id"], username=result["username"],
                   first_name=name if isinstance(name, str) else "")

    async def get_chat_member(self, chat: str | int, user_id: int, *,
                              attempts: int | None = None) -> ChatMember:
        """Where `user_id` stands in `chat` (an @username or an id). BadRequest "chat not
        found" when there is no such chat; "member list is inaccessible" when the bot may
        not see a channel's members (it is not one of its admins)."""
        result = await self.call("getChatMember", {"chat_id": chat, "user_id": user_id},
                                 attempts=attempts)
        status = result.get("status") if isinstance(result, dict) else None
        if not isinstance(status, str) or status not in {m.value for m in MemberStatus}:
            raise TelegramError("unexpected getChatMember answer (no known status)")
        return ChatMember(MemberStatus(status), result.get("is_member") is True)

    async def get_updates(self, offset: int | None, wait: int) -> list[Any]:
        """Long poll: Telegram holds the request up to `wait` seconds for new updates."""
        params: dict[str, Any] = {
            "timeout": wait,
            "allowed_updates": ["message", "callback_query"],
        }
        if offset is not None:
            params["offset"] = offset
        result = await self.call("getUpdates", params, attempts=1)
        return result if isinstance(result, list) else []

    async def send_message(
        self, chat_id: int, text: str, buttons: Keyboard | None = None
    ) -> int | None:
        params: dict[str, Any] = {
            "chat_id": chat_id,
            "text": text,
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": True},
        }
        if buttons:
            params["reply_markup"] = keyboard(buttons)
        return _message_id(await self.call("sendMessage", params))

    async def send_photo(
        self, chat_id: int, png: bytes, caption: str, buttons: Keyboard | None = None
    ) -> int | None:
        params: dict[str, Any] = {"chat_id": str(chat_id), "caption": caption,
                                  "parse_mode": "HTML"}
        if buttons:
            params["reply_markup"] = keyboard(buttons)
        files = {"photo": ("qris.png", png, "image/png")}
        return _message_id(await self.call("sendPhoto", params, files=files))

    async def send_document(
        self, chat_id: int, document: bytes | str, file_name: str, caption: str
    ) -> str | None:
        """A file to the chat: `document` is its bytes (uploaded) or the file_id of one
        uploaded before (sent again without uploading). Its file_id, for sending it again."""
        params: dict[str, Any] = {"chat_id": str(chat_id), "caption": caption,
                                  "parse_mode": "HTML"}
        if isinstance(document, str):
            result = await self.call("sendDocument", {**params, "document": document})
        else:
            files = {"document": (file_name, document, "application/octet-stream")}
            result = await self.call("sendDocument", params, files=files)
        sent = result.get("document") if isinstance(result, dict) else None
        file_id = sent.get("file_id") if isinstance(sent, dict) else None
        return file_id if isinstance(file_id, str) else None

    async def edit_text(
        self, chat_id: int, message_id: int, text: str, buttons: Keyboard | None = None
    ) -> None:
        await self.call("editMessageText", {
            "chat_id": chat_id, "message_id": message_id, "text": text, "parse_mode": "HTML",
            "reply_markup": keyboard(buttons or []),
            "link_preview_options": {"is_disabled": True},
        })

    async def edit_caption(
        self, chat_id: int, message_id: int, caption: str, buttons: Keyboard | None = None
    ) -> None:
        await self.call("editMessageCaption", {
            "chat_id": chat_id, "message_id": message_id, "caption": caption,
            "parse_mode": "HTML", "reply_markup": keyboard(buttons or []),
        })

    async def delete_message(self, chat_id: int, message_id: int) -> bool:
        """True when the message is gone; False when Telegram would not delete it."""
        try:
            await self.call("deleteMessage", {"chat_id": chat_id, "message_id": message_id})
        except BadRequest:
            return False
        return True

    async def answer_callback(self, callback_id: str, text: str | None = None) -> None:
        params: dict[str, Any] = {"callback_query_id": callback_id}
        if text:
            params["text"] = text[:200]
        try:
            await self.call("answerCallbackQuery", params, attempts=2)
        except BadRequest:
            pass  # "query is too old": the spinner has already gone
        except Unavailable as exc:
            log.info("could not answer a callback query: %s", exc.description)


def _message_id(result: Any) -> int | None:
    if isinstance(result, dict) and isinstance(result.get("message_id"), int):
        return int(result["message_id"])
    return None


class _Retry(Exception):
    def __init__(self, description: str, code: int, after: float | None) -> None:
        super().__init__(description)
        self.description = description
        self.code = code
        self.after = after
