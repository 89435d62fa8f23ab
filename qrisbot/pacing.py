"""Token buckets that keep the shop under Telegram's and Pakasir's rate limits.

`Bucket.take` hands out reservations in arrival order: when the bucket is empty, each
caller learns how long to wait for its own token, so waiters are served first come, first
served.
"""

from __future__ import annotations

import attrs
import trio


class Bucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate  # tokens per second
        self.burst = burst  # most tokens saved up while idle
        self._tokens = burst
        self._stamp: float | None = None

    def _refill(self) -> float:
        now = trio.current_time()
        if self._stamp is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        return now

    def reserve(self) -> float:
        """Take a token (going into debt if need be); seconds to wait before using it."""
        self._refill()
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def delay(self) -> float:
        """Seconds until a token is there, taking none."""
        self._refill()
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    def idle(self) -> bool:
        """Full again: forgetting this bucket loses nothing."""
        return self.delay() == 0 and self._tokens >= self.burst

    async def take(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await trio.sleep(delay)


class Keyed:
    """One bucket per key (e.g. a Pakasir transaction), forgotten once idle."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[object, Bucket] = {}
        self._prune_at = 1024

    async def take(self, key: object) -> None:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(self.rate, self.burst)
            if len(self._buckets) >= self._prune_at:
                self._buckets = {k: b for k, b in self._buckets.items() if not b.idle()}
                self._prune_at = max(1024, 2 * len(self._buckets))
        await bucket.take()


@attrs.define
class _Chat:
    bucket: Bucket
    lock: trio.Lock = attrs.Factory(trio.Lock)


class TelegramPacer:
    """About 30 messages/s overall and 1 message/s per chat, with short bursts.

    A bucket lets through at most burst + rate x T messages in any T seconds; with these
    numbers no second holds more than 28 messages overall or 3 in one chat, which leaves
    room for requests that bunch up on the way (connection pool, network). A chat's token
    is spent when its message really goes, after its overall turn, so a chat's messages
    cannot pile up behind a long broadcast and then leave together.
    """

    def __init__(self, overall: float = 25.0, overall_burst: float = 3.0,
                 per_chat: float = 1.0, chat_burst: float = 2.0) -> None:
        self._overall = Bucket(overall, overall_burst)
        self._per_chat = (per_chat, chat_burst)
        self._chats: dict[object, _Chat] = {}
        self._prune_at = 1024

    async def wait(self, chat_id: object) -> None:
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _Chat(Bucket(*self._per_chat))
            if len(self._chats) >= self._prune_at:
                self._prune()
        async with chat.lock:  # one message of a chat at a time, in order
            delay = chat.bucket.delay()
            if delay > 0:
                await trio.sleep(delay)
            await self._overall.take()
            chat.bucket.reserve()

    def _prune(self) -> None:
        """Forget chats that are quiet and full again (a broadcast touches thousands)."""
        self._chats = {
            key: chat for key, chat in self._chats.items()
            if chat.lock.locked() or chat.lock.statistics().tasks_waiting or not chat.bucket.idle()
        }
        self._prune_at = max(1024, 2 * len(self._chats))
