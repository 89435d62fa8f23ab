"""Token buckets that keep the shop under Telegram's and Pakasir's rate limits.

`Bucket.take` hands out reservations in arrival order: when the bucket is empty, each
caller learns how long to wait for its own token, so waiters are served first come, first
served.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

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


class _Idle(Protocol):
    def idle(self) -> bool: ...


T = TypeVar("T", bound=_Idle)


class _PerKey(Generic[T]):
    """State per key (a chat, a transaction), forgotten once idle.

    Idle entries are swept when the map has doubled since the last sweep, so thousands of
    one-off keys (a broadcast, many transactions) cost memory only for a while.
    """

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._items: dict[object, T] = {}
        self._sweep_at = 1024

    def get(self, key: object) -> T:
        item = self._items.get(key)
        if item is None:
            item = self._items[key] = self._make()
            if len(self._items) >= self._sweep_at:
                self._items = {k: v for k, v in self._items.items() if not v.idle()}
                self._sweep_at = max(1024, 2 * len(self._items))
        return item


class Keyed:
    """One bucket per key (e.g. a Pakasir transaction)."""

    def __init__(self, rate: float, burst: float) -> None:
        self._buckets = _PerKey(lambda: Bucket(rate, burst))

    async def take(self, key: object) -> None:
        await self._buckets.get(key).take()


@attrs.define
class _Chat:
    bucket: Bucket
    lock: trio.Lock = attrs.Factory(trio.Lock)

    def idle(self) -> bool:
        """Quiet and full again."""
        stats = self.lock.statistics()
        return not stats.locked and not stats.tasks_waiting and self.bucket.idle()


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
        self._chats = _PerKey(lambda: _Chat(Bucket(per_chat, chat_burst)))

    async def wait(self, chat_id: object) -> None:
        chat = self._chats.get(chat_id)
        async with chat.lock:  # one message of a chat at a time, in order
            delay = chat.bucket.delay()
            if delay > 0:
                await trio.sleep(delay)
            await self._overall.take()
            chat.bucket.reserve()
