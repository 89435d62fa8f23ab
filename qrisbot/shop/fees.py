"""The QRIS fee a buyer will pay on top of a price, from Pakasir's public fee table, for the
confirmation step (the QR itself shows the fee its create call returned).

The buyer is waiting for the confirmation, so the table gets a short deadline; an answer is
reused for a while, and after a failure the confirmation does not wait again for a minute
(it says "plus the QRIS fee" instead).
"""

from __future__ import annotations

import logging

import trio

from qrisbot.pakasir import Pakasir, PakasirError

log = logging.getLogger("qrisbot.checkout")

FEE_DEADLINE = 2.0  # seconds a confirmation waits for the fee table
KEEP = 3600.0  # seconds a fee read from the table is reused
QUIET_AFTER_FAILURE = 60.0  # seconds no confirmation waits for the table after a failure
MAX_KEPT = 256  # amounts remembered (prices x months: a handful in practice)


class Fees:
    def __init__(self, pakasir: Pakasir) -> None:
        self._pakasir = pakasir
        self._known: dict[int, tuple[int, float]] = {}  # amount -> (fee, when read)
        self._quiet_until = float("-inf")

    async def qris(self, amount: int) -> int | None:
        """The QRIS fee for `amount`, or None when the table cannot be had in time."""
        now = trio.current_time()
        known = self._known.get(amount)
        if known is not None and now - known[1] < KEEP:
            return known[0]
        if now < self._quiet_until:
            return None
        fee = None
        with trio.move_on_after(FEE_DEADLINE):
            try:
                fee = await self._pakasir.payment_fee(amount)
            except PakasirError as exc:
                log.info("Pakasir's fee table is not available: %s", exc)
        if fee is None:
            self._quiet_until = trio.current_time() + QUIET_AFTER_FAILURE
            return None
        if len(self._known) >= MAX_KEPT:
            self._known.clear()
        self._known[amount] = (fee, trio.current_time())
        return fee
