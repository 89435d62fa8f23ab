"""The few update objects the shop reads, parsed defensively (unknown fields ignored)."""

from __future__ import annotations

import contextvars
from typing import Any

import attrs

# The update being handled in this task; dialogue steps record it (Ledger.save_draft).
current_update: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "current_update", default=None)


@attrs.frozen
class User:
    id: int
    first_name: str = ""
    language_code: str | None = None


@attrs.frozen
class Message:
    message_id: int
    chat_id: int
    chat_type: str
    sender: User | None
    text: str | None


@attrs.frozen
class CallbackQuery:
    id: str
    sender: User
    data: str | None
    message_id: int | None
    chat_id: int | None
    chat_type: str | None


@attrs.frozen
class Update:
    update_id: int
    message: Message | None = None
    callback: CallbackQuery | None = None


def private_chat(update: Update) -> int | None:
    """The private chat the update comes from (None for groups and channels)."""
    if update.message is not None and update.message.chat_type == "private":
        return update.message.chat_id
    callback = update.callback
    if callback is not None and callback.chat_type == "private":
        return callback.chat_id
    return None


def parse_update(raw: object) -> Update | None:
    """An Update, or None when even `update_id` is unusable. Malformed parts become None."""
    if not isinstance(raw, dict) or not _is_int(raw.get("update_id")):
        return None
    return Update(
        update_id=raw["update_id"],
        message=_message(raw.get("message")),
        callback=_callback(raw.get("callback_query")),
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _user(raw: object) -> User | None:
    if not isinstance(raw, dict) or not _is_int(raw.get("id")):
        return None
    name = raw.get("first_name")
    lang = raw.get("language_code")
    return User(
        id=raw["id"],
        first_name=name if isinstance(name, str) else "",
        language_code=lang if isinstance(lang, str) else None,
    )


def _chat(raw: object) -> tuple[int, str] | None:
    if not isinstance(raw, dict) or not _is_int(raw.get("id")):
        return None
    kind = raw.get("type")
    return raw["id"], kind if isinstance(kind, str) else ""


def _message(raw: object) -> Message | None:
    if not isinstance(raw, dict) or not _is_int(raw.get("message_id")):
        return None
    chat = _chat(raw.get("chat"))
    if chat is None:
        return None
    text = raw.get("text")
    return Message(
        message_id=raw["message_id"],
        chat_id=chat[0],
        chat_type=chat[1],
        sender=_user(raw.get("from")),
        text=text if isinstance(text, str) else None,
    )


def _callback(raw: Any) -> CallbackQuery | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        return None
    sender = _user(raw.get("from"))
    if sender is None:
        return None
    message = raw.get("message")
    chat = _chat(message.get("chat")) if isinstance(message, dict) else None
    message_id = message.get("message_id") if isinstance(message, dict) else None
    data = raw.get("data")
    return CallbackQuery(
        id=raw["id"],
        sender=sender,
        data=data if isinstance(data, str) else None,
        message_id=message_id if _is_int(message_id) else None,
        chat_id=chat[0] if chat else None,
        chat_type=chat[1] if chat else None,
    )
