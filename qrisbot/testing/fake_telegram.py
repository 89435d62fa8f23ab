"""A loopback fake of the Telegram Bot API that a test (or the demo) drives as a buyer.

It keeps what the bot sent to each chat, queues what buyers type and tap as updates for
long polling, and answers the way Telegram does — including its errors, which a test can
inject (`fail`) or provoke (`block`).
"""

from __future__ import annotations

import collections
import html
import itertools
import json
import re
from collections.abc import Callable
from typing import Any

import attrs
import trio

from qrisbot.testing.http import Drop, Fake, Request, Response

BOT_ID = 1  # the fake bot's user id (getMe)
LIMITED = frozenset({"sendMessage", "sendPhoto", "sendDocument", "editMessageText",
                     "editMessageCaption", "editMessageReplyMarkup"})
UPLOAD_LIMIT = 50 * 1024 * 1024  # what a bot may upload (multipart) to the Bot API


@attrs.define
class Sent:
    """A message the bot sent, as it now stands."""

    chat_id: int
    message_id: int
    text: str | None = None
    caption: str | None = None
    photo: bytes | None = None
    document: bytes | None = None  # a file sent with sendDocument, and its name
    file_name: str | None = None
    buttons: list[list[dict[str, Any]]] = attrs.Factory(list)
    deleted: bool = False
    edits: int = 0

    @property
    def body(self) -> str:
        return self.text if self.text is not None else (self.caption or "")

    def button_data(self) -> list[str]:
        return [b.get("callback_data", "") for row in self.buttons for b in row]

    def button_labels(self) -> list[str]:
        return [b.get("text", "") for row in self.buttons for b in row]


@attrs.frozen
class Fault:
    status: int
    description: str
    retry_after: float | None = None
    drop: bool = False
    hang: bool = False  # never answer (as if Telegram stalled)


@attrs.define
class Channel:
    """A public channel getChatMember can be asked about. Telegram shows a channel's members
    only to its admins: while the bot is not one, asking about anyone else is refused."""

    id: int
    username: str  # without the @
    bot_is_admin: bool = True
    members: dict[int, dict[str, Any]] = attrs.Factory(dict)  # user id -> its ChatMember


class FakeTelegram(Fake):
    def __init__(self, token: str = "123456:TEST-token-for-the-fake", *,
                 limits: bool = False) -> None:
        self.token = token
        # Enforce Telegram's flood limits (30 messages/s overall, a short burst per chat).
        self.limits = limits
        self.rate_limited = 0  # 429s answered
        self._recent: collections.deque[tuple[float, int]] = collections.deque()
        self.sent: list[Sent] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answered_callbacks: list[str] = []
        self.blocked: set[int] = set()
        self.commands: list[dict[str, Any]] = []
        self.chat_commands: dict[int, list[dict[str, Any]]] = {}  # scope: one chat
        self.deleted_user_messages: list[tuple[int, int]] = []
        self.uploads = 0  # documents uploaded (not those sent again by file_id)
        self._documents: dict[str, tuple[str, bytes]] = {}  # file_id -> name, bytes
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._callback_ids = itertools.count(1)
        self._faults: dict[str, list[Fault]] = {}
        self.channels: list[Channel] = []
        self._changed = trio.Event()
        self._pollers = 0

    # --- driving it as buyers ---------------------------------------------------------------

    def user_sends(
        self, chat_id: int, text: str, *, chat_type: str = "private", user_id: int | None = None
    ) -> int:
        message_id = self._next_message_id(chat_id)
        self._push({"message": {
            "message_id": message_id, "date": 0, "text": text,
            "chat": {"id": chat_id, "type": chat_type},
            "from": {"id": user_id or chat_id, "is_bot": False, "first_name": "Buyer"},
        }})
        return message_id

    def user_taps(
        self, chat_id: int, message_id: int, data: str, *, user_id: int | None = None,
        chat_type: str = "private",
    ) -> str:
        """A callback query, as if the buyer tapped a button (data may be forged)."""
        callback_id = str(next(self._callback_ids))
        self._push({"callback_query": {
            "id": callback_id, "chat_instance": "x", "data": data,
            "from": {"id": user_id or chat_id, "is_bot": False, "first_name": "Buyer"},
            "message": {"message_id": message_id, "date": 0,
                        "chat": {"id": chat_id, "type": chat_type}},
        }})
        return callback_id

    def tap(self, chat_id: int, button: str) -> str:
        """Tap the button whose label or data matches `button` on the latest message with it."""
        for message in reversed(self.messages(chat_id)):
            for row in message.buttons:
                for b in row:
                    if button in (b.get("text"), b.get("callback_data")) or re.fullmatch(
                        button, b.get("callback_data", "")
                    ):
                        return self.user_taps(chat_id, message.message_id, b["callback_data"])
        raise LookupError(f"no button {button!r} in chat {chat_id}")

    def messages(self, chat_id: int, *, include_deleted: bool = False) -> list[Sent]:
        return [m for m in self.sent
                if m.chat_id == chat_id and (include_deleted or not m.deleted)]

    async def wait_for(
        self, chat_id: int, predicate: Callable[[Sent], bool] | str, *, after: int = 0
    ) -> Sent:
        """The first message to chat_id (message_id > after) matching; waits for it."""
        if isinstance(predicate, str):
            needle = predicate
            predicate = lambda m: needle in m.body  # noqa: E731
        while True:
            for message in self.sent:
                if (message.chat_id == chat_id and message.message_id > after
                        and predicate(message)):
                    return message
            await self.changed()

    async def changed(self) -> None:
        """Wait for the next Bot API call or pushed update."""
        await self._changed.wait()

    def fail(self, method: str, status: int, description: str, *,
             retry_after: float | None = None, times: int = 1, drop: bool = False,
             hang: bool = False) -> None:
        """Answer the next `times` calls of `method` with this error."""
        self._faults.setdefault(method, []).extend(
            [Fault(status, description, retry_after, drop, hang)] * times
        )

    def add_channel(self, username: str, *, bot_is_admin: bool = True) -> Channel:
        """A public channel `@username` (the bot one of its admins unless told otherwise)."""
        channel = Channel(-1001000000000 - len(self.channels), username.lstrip("@"),
                          bot_is_admin)
        self.channels.append(channel)
        return channel

    def joins(self, channel: Channel, user_id: int, status: str = "member",
              **fields: Any) -> None:
        """`user_id` is now `status` in the channel (left, kicked, restricted with
        is_member=..., administrator, creator: as Telegram reports them)."""
        channel.members[user_id] = {"status": status, **fields}

    def leaves(self, channel: Channel, user_id: int) -> None:
        self.joins(channel, user_id, "left")

    def block(self, chat_id: int) -> None:
        self.blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        self.blocked.discard(chat_id)

    # --- the Bot API ------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", request.path)
        if match is None:
            return _error(404, "Not Found")
        if match.group(1) != self.token:
            return _error(401, "Unauthorized")
        method = match.group(2)
        params = self._params(request)
        if method == "sendDocument" and isinstance(params.get("document"), bytes):
            params["document_name"] = request.file_names().get("document", "")
        self.calls.append((method, params))
        faults = self._faults.get(method)
        if faults:
            fault = faults.pop(0)
            if fault.hang:
                await trio.sleep_forever()
            if fault.drop:
                raise Drop
            return _error(fault.status, fault.description, fault.retry_after)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        if self.limits and method in LIMITED and self._over_limit(params):
            self.rate_limited += 1
            return _error(429, "Too Many Requests: retry after 1", retry_after=1)
        response: Response = await handler(params)
        self._notify()
        return response

    def _params(self, request: Request) -> dict[str, Any]:
        if request.headers.get("content-type", "").startswith("application/json"):
            value = request.json()
            return value if isinstance(value, dict) else {}
        fields, files = request.form()
        params: dict[str, Any] = {**request.query, **fields, **files}
        for key in ("reply_markup", "allowed_updates", "commands"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _api_getUpdates(self, params: dict[str, Any]) -> Response:
        offset = int(params.get("offset") or 0)
        if offset:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        wait = float(params.get("timeout") or 0)
        if not self._updates and wait > 0:
            with trio.move_on_after(wait):
                while not self._updates:
                    await self.changed()
        limit = int(params.get("limit") or 100)
        return _ok(self._updates[:limit])

    async def _api_getMe(self, params: dict[str, Any]) -> Response:
        return _ok({"id": BOT_ID, "is_bot": True, "first_name": "Shop",
                    "username": "shop_bot"})

    async def _api_getChatMember(self, params: dict[str, Any]) -> Response:
        chat, user_id = params.get("chat_id"), params.get("user_id")
        if isinstance(user_id, str) and user_id.lstrip("-").isdigit():
            user_id = int(user_id)  # a form field
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            return _error(400, "Bad Request: invalid user_id specified")
        channel = self._channel(chat)
        if channel is None:
            return _error(400, "Bad Request: chat not found")
        if user_id == BOT_ID:  # the bot may always ask where it stands itself
            member: dict[str, Any] = {"status": "administrator", "can_be_edited": False} if (
                channel.bot_is_admin) else {"status": "left"}
        elif not channel.bot_is_admin:
            return _error(400, "Bad Request: member list is inaccessible")
        else:
            member = channel.members.get(user_id, {"status": "left"})
        user = {"id": user_id, "is_bot": user_id == BOT_ID, "first_name": "Buyer"}
        return _ok({**member, "user": user})

    def _channel(self, chat: Any) -> Channel | None:
        """The channel `chat_id` names: "@username" (any case) or its numeric id."""
        for channel in self.channels:
            if isinstance(chat, str) and chat.startswith("@"):
                if chat[1:].lower() == channel.username.lower():
                    return channel
            elif str(chat) == str(channel.id):
                return channel
        return None

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> Response:
        return _ok(True)

    async def _api_setMyCommands(self, params: dict[str, Any]) -> Response:
        commands = params.get("commands")
        for c in commands if isinstance(commands, list) else []:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", c.get("command", "")) or not (
                1 <= len(c.get("description", "")) <= 256
            ):
                return _error(400, "Bad Request: BOT_COMMAND_INVALID")
        scope = params.get("scope")
        if isinstance(scope, dict) and scope.get("type") == "chat":
            self.chat_commands[int(scope.get("chat_id", 0))] = list(commands or [])
        else:
            self.commands = list(commands or [])
        return _ok(True)

    async def _api_sendMessage(self, params: dict[str, Any]) -> Response:
        text = params.get("text")
        if not isinstance(text, str) or not 1 <= _length(params, text) <= 4096:
            return _error(400, "Bad Request: message text is empty or too long")
        return self._store(params, text=text)

    async def _api_sendPhoto(self, params: dict[str, Any]) -> Response:
        photo = params.get("photo")
        if not isinstance(photo, bytes) or not photo.startswith(b"\x89PNG"):
            return _error(400, "Bad Request: wrong file identifier/HTTP URL specified")
        caption = params.get("caption", "")
        if _length(params, caption) > 1024:
            return _error(400, "Bad Request: message caption is too long")
        return self._store(params, caption=caption, photo=photo)

    async def _api_sendDocument(self, params: dict[str, Any]) -> Response:
        document = params.get("document")
        if isinstance(document, bytes):
            if len(document) > UPLOAD_LIMIT:
                return _error(413, "Request Entity Too Large")
            if not document:
                return _error(400, "Bad Request: file must be non-empty")
            name = str(params.get("document_name") or "document")
            file_id = f"BQACAgIAAx{len(self._documents) + 1:08d}"
        elif isinstance(document, str) and document in self._documents:
            file_id = document
            name, document = self._documents[document]
        else:
            return _error(400, "Bad Request: wrong file identifier/HTTP URL specified")
        caption = params.get("caption", "")
        if _length(params, caption) > 1024:
            return _error(400, "Bad Request: message caption is too long")
        response = self._store(params, caption=caption, document=document, file_name=name)
        if response.status == 200:
            if file_id not in self._documents:
                self.uploads += 1
            self._documents[file_id] = (name, document)
            body = json.loads(response.body)
            body["result"]["document"] = {"file_id": file_id, "file_unique_id": file_id[-8:],
                                          "file_name": name, "file_size": len(document)}
            response = Response.json(body)
        return response

    def _store(self, params: dict[str, Any], **content: Any) -> Response:
        chat_id = int(params["chat_id"])
        if chat_id in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        problem = _check_markup(params.get("reply_markup"))
        if problem:
            return _error(400, f"Bad Request: {problem}")
        if params.get("parse_mode") == "HTML" and not _valid_html(
            content.get("text") or content.get("caption") or ""
        ):
            return _error(400, "Bad Request: can't parse entities")
        message = Sent(chat_id, self._next_message_id(chat_id), **content,
                       buttons=_buttons(params.get("reply_markup")))
        self.sent.append(message)
        return _ok({"message_id": message.message_id, "chat": {"id": chat_id}, "date": 0})

    def _find(self, params: dict[str, Any]) -> Sent | None:
        chat_id, message_id = int(params.get("chat_id", 0)), int(params.get("message_id", 0))
        for message in self.sent:
            if message.chat_id == chat_id and message.message_id == message_id:
                return None if message.deleted else message
        return None

    async def _api_editMessageText(self, params: dict[str, Any]) -> Response:
        message = self._find(params)
        if message is None:
            return _error(400, "Bad Request: message to edit not found")
        if message.photo is not None:
            return _error(400, "Bad Request: there is no text in the message to edit")
        text = params.get("text")
        if not isinstance(text, str) or not 1 <= _length(params, text) <= 4096:
            return _error(400, "Bad Request: MESSAGE_TOO_LONG")
        return self._edit(message, params, "text")

    async def _api_editMessageCaption(self, params: dict[str, Any]) -> Response:
        message = self._find(params)
        if message is None:
            return _error(400, "Bad Request: message to edit not found")
        if _length(params, str(params.get("caption", ""))) > 1024:
            return _error(400, "Bad Request: message caption is too long")
        return self._edit(message, params, "caption")

    def _edit(self, message: Sent, params: dict[str, Any], field: str | None) -> Response:
        """Change `field` (text or caption; None: only the buttons) and the buttons."""
        new = params.get(field, "") if field else None
        buttons = _buttons(params.get("reply_markup"))
        if (field is None or getattr(message, field) == new) and message.buttons == buttons:
            return _error(400, "Bad Request: message is not modified: specified new message "
                               "content and reply markup are exactly the same")
        if field is not None:
            setattr(message, field, new)
        message.buttons = buttons
        message.edits += 1
        return _ok({"message_id": message.message_id})

    async def _api_editMessageReplyMarkup(self, params: dict[str, Any]) -> Response:
        message = self._find(params)
        if message is None:
            return _error(400, "Bad Request: message to edit not found")
        return self._edit(message, params, None)

    async def _api_deleteMessage(self, params: dict[str, Any]) -> Response:
        message = self._find(params)
        if message is None:
            # Buyers' own messages are not stored: deleting those works, like in private chats.
            chat_id = int(params.get("chat_id", 0))
            if any(m.chat_id == chat_id and m.message_id == int(params.get("message_id", 0))
                   for m in self.sent):
                return _error(400, "Bad Request: message to delete not found")
            self.deleted_user_messages.append((chat_id, int(params.get("message_id", 0))))
            return _ok(True)
        message.deleted = True
        return _ok(True)

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> Response:
        self.answered_callbacks.append(str(params.get("callback_query_id")))
        return _ok(True)

    # --- internals --------------------------------------------------------------------------

    def _over_limit(self, params: dict[str, Any]) -> bool:
        """More than 30 messages overall, or 4 to one chat, within the last second?"""
        now = trio.current_time()
        while self._recent and self._recent[0][0] <= now - 1.0:
            self._recent.popleft()
        chat_id = int(params.get("chat_id", 0))
        same_chat = sum(1 for _, chat in self._recent if chat == chat_id)
        if len(self._recent) >= 30 or same_chat >= 4:
            return True
        self._recent.append((now, chat_id))
        return False

    def _push(self, update: dict[str, Any]) -> None:
        update["update_id"] = next(self._update_ids)
        self._updates.append(update)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))


def _ok(result: Any) -> Response:
    return Response.json({"ok": True, "result": result})


def _error(status: int, description: str, retry_after: float | None = None) -> Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return Response.json(body, status)


def _buttons(markup: Any) -> list[list[dict[str, Any]]]:
    if isinstance(markup, dict) and isinstance(markup.get("inline_keyboard"), list):
        return [list(row) for row in markup["inline_keyboard"]]
    return []


def _check_markup(markup: Any) -> str | None:
    for row in _buttons(markup):
        for button in row:
            data = button.get("callback_data", "")
            if not 1 <= len(data.encode()) <= 64:
                return "BUTTON_DATA_INVALID"
            if not button.get("text"):
                return "BUTTON_TEXT_EMPTY"
    return None


_TAG = re.compile(r"<(/?)(b|i|u|s|code|pre|a)(\s[^>]*)?>")


def _length(params: dict[str, Any], text: str) -> int:
    """Telegram's measure: UTF-16 code units of the text after entity parsing."""
    if params.get("parse_mode") == "HTML":
        text = html.unescape(_TAG.sub("", text))
    return len(text.encode("utf-16-le")) // 2


def _valid_html(text: str) -> bool:
    """Rough check of Telegram's HTML rules: known tags balanced, no stray < or &."""
    stack: list[str] = []
    position = 0
    for match in _TAG.finditer(text):
        if "<" in text[position:match.start()]:
            return False
        closing, tag = match.group(1), match.group(2)
        if closing:
            if not stack or stack.pop() != tag:
                return False
        else:
            stack.append(tag)
        position = match.end()
    # Telegram takes every numerical entity (html.escape writes ' as &#x27;) and four named.
    if "<" in text[position:] or re.search(r"&(?!(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)",
                                           text):
        return False
    return not stack
