"""Pakasir QRIS client: API v2 (default) and the legacy v1 endpoints.

Every response is validated; anything unexpected becomes a PakasirError whose message never
carries the API key (v1 puts it in the query string, so no URL leaves this module).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Literal
from urllib.parse import quote

import attrs
import httpx

from qrisbot.pacing import Bucket, Keyed

log = logging.getLogger("qrisbot.pakasir")

PENDING = "pending"
COMPLETED = "completed"
CANCELED = "canceled"
EXPIRED = "expired"
_STATES = {"pending": PENDING, "completed": COMPLETED, "canceled": CANCELED,
           "cancelled": CANCELED, "expired": EXPIRED}
_TRANSIENT = {408, 425, 429, 500, 502, 503, 504}
# The transaction `check_credentials` asks about: no order of the shop (VPN...) is named so.
PROBE = "qrisbot-credentials-check"
PROBE_AMOUNT = 500


class PakasirError(Exception):
    """A call failed. `transient` says whether trying again later may help."""

    def __init__(self, message: str, *, transient: bool, status: int = 0) -> None:
        super().__init__(message)
        self.transient = transient
        self.status = status


class Refused(PakasirError):
    """Pakasir refused the shop's credentials: nothing can be paid until the operator
    fixes `settings` (keys of `[pakasir]`; v1 does not say which of the two)."""

    def __init__(self, message: str, *, settings: tuple[str, ...], status: int) -> None:
        super().__init__(message, transient=False, status=status)
        self.settings = settings


@attrs.frozen
class Transaction:
    txn_id: str
    order_id: str
    amount: int
    fee: int
    total: int
    qr_string: str = attrs.field(repr=False)
    expired_at: dt.datetime | None


@attrs.frozen
class Accepted:
    """Pakasir took the shop's credentials on a call that makes nothing (`check_credentials`).

    `project_known`: Pakasir's answer showed the project was found (its "not found" named
    the transaction asked for). False when its answer did not say which of the two it could
    not find: the key was not refused, but a wrong slug is only told by the first QRIS.
    `answer`: what Pakasir said, for the operator (never the key)."""

    project_known: bool
    answer: str


@attrs.frozen
class Status:
    state: str  # one of PENDING, COMPLETED, CANCELED, EXPIRED, or Pakasir's own word
    order_id: str
    amount: int
    completed_at: dt.datetime | None


class Pakasir:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        project: str,
        api_key: str,
        base_url: str,
        version: Literal[1, 2] = 2,
    ) -> None:
        self._client = client
        self._project = project
        self._key = api_key
        self._base = base_url.rstrip("/")
        self.version = version
        # Pakasir's limits: create and cancel 2/s; status once per 4 s per transaction.
        self._writes = Bucket(rate=2.0, burst=2.0)
        self._status_checks = Keyed(rate=0.25, burst=1.0)

    async def create(self, order_id: str, amount: int) -> Transaction:
        """Create (v2: find-or-create, safe to repeat) a QRIS transaction."""
        await self._writes.take()
        if self.version == 2:
            body = await self._request(
                "POST",
                f"/api/v2/create-transaction/{self._path(self._project)}/{self._path(order_id)}",
                json={"method": "qris", "amount": amount},
                # Create is find-or-create: only the project in its path can be unknown.
                unknown=("project",),
            )
            payment = body
            txn_id = _text(body, "txn_id")
            qr_string = _text(body, "qr_string")
        else:
            body = await self._request(
                "POST", "/api/transactioncreate/qris", json=self._v1_fields(order_id, amount)
            )
            inner = body.get("payment")
            if not isinstance(inner, dict):
                raise _malformed("no 'payment' object")
            payment = inner
            txn_id = order_id  # v1 has no transaction id of its own
            qr_string = _text(payment, "payment_number")
        if _text(payment, "order_id") != order_id:
            raise _malformed("order_id differs from the one asked for")
        paid_amount = _int(payment, "amount")
        if paid_amount != amount:
            raise _malformed(f"amount {paid_amount} differs from {amount}")
        fee = _int(payment, "fee") if payment.get("fee") is not None else 0
        total = _int(payment, "total_payment") if payment.get("total_payment") else amount + fee
        if fee < 0 or total < amount:
            raise _malformed("negative fee")
        return Transaction(
            txn_id=txn_id, order_id=order_id, amount=amount, fee=fee, total=total,
            qr_string=qr_string, expired_at=_time(payment.get("expired_at")),
        )

    async def status(self, order_id: str, txn_id: str, amount: int) -> Status:
        await self._status_checks.take(txn_id)
        if self.version == 2:
            body = await self._request(
                "GET",
                f"/api/v2/transaction-status/{self._path(self._project)}/{self._path(txn_id)}",
            )
            info = body.get("transaction", body)
        else:
            body = await self._request(
                "GET", "/api/transactiondetail", params=self._v1_fields(order_id, amount)
            )
            info = body.get("transaction")
        if not isinstance(info, dict):
            raise _malformed("no transaction object")
        state = _text(info, "status").strip().lower()
        return Status(
            state=_STATES.get(state, state),
            order_id=_text(info, "order_id"),
            amount=_int(info, "amount"),
            completed_at=_time(info.get("completed_at")),
        )

    async def payment_fee(self, amount: int) -> int:
        """The QRIS fee Pakasir's fee table gives for `amount` (what the buyer pays on top).

        Nothing is made and no key is sent (the table is public); the fee the create call
        returns stays the one charged."""
        body = await self._request("GET", f"/api/v2/payment-fee/{int(amount)}", keyed=False)
        fee = _int(body, "qris")
        if fee < 0:
            raise _malformed("negative fee")
        return fee

    async def cancel(self, order_id: str, txn_id: str, amount: int) -> None:
        await self._writes.take()
        if self.version == 2:
            await self._request(
                "POST",
                f"/api/v2/cancel-transaction/{self._path(self._project)}/{self._path(txn_id)}",
            )
        else:
            await self._request(
                "POST", "/api/transactioncancel", json=self._v1_fields(order_id, amount)
            )

    async def check_credentials(self) -> Accepted:
        """Ask Pakasir about a transaction that cannot exist: nothing is made, nothing costs.

        v2 (`transaction-status/{project}/{probe}`): a refused key is 401/403 -> Refused
        (api_key); a "not found" that names the project -> Refused (project); a "not found"
        that names the transaction -> Accepted, project known; any other "not found" ->
        Accepted, project not known. v1 (`transactiondetail`, both in the query): 401/403 ->
        Refused naming both settings, as Pakasir v1 does not say which. Other answers (5xx,
        429, the network) raise PakasirError."""
        await self._status_checks.take(PROBE)
        try:
            if self.version == 2:
                body = await self._request(
                    "GET", f"/api/v2/transaction-status/{self._path(self._project)}/{PROBE}")
            else:
                body = await self._request("GET", "/api/transactiondetail",
                                           params=self._v1_fields(PROBE, PROBE_AMOUNT))
        except Refused:
            raise
        except PakasirError as exc:
            if exc.transient or not 400 <= exc.status < 500:
                raise
            said = str(exc).lower()
            project = "project" in said or "proyek" in said
            transaction = "transaction" in said or "transaksi" in said
            if project and not transaction:
                raise Refused(str(exc), settings=("project",), status=exc.status) from None
            return Accepted(project_known=transaction and not project, answer=str(exc))
        # A transaction by the probe's id (Pakasir answered as for a real one): accepted.
        return Accepted(project_known=True, answer=f"found ({', '.join(sorted(body))})")

    def _v1_fields(self, order_id: str, amount: int) -> dict[str, Any]:
        return {"project": self._project, "order_id": order_id, "amount": amount,
                "api_key": self._key}

    @staticmethod
    def _path(value: str) -> str:
        return quote(value, safe="")

    async def _request(self, method: str, path: str, unknown: tuple[str, ...] = (), *,
                       keyed: bool = True, **kwargs: Any) -> dict[str, Any]:
        """One call; a non-2xx answer raises PakasirError, a refused key (401/403) or a 404
        that can only mean the settings `unknown` names raises Refused (`keyed`: the call
        carries the key; a call without it refuses nothing of the shop)."""
        headers = {"X-Api-Key": self._key} if self.version == 2 and keyed else {}
        try:
            # Create is find-or-create, cancel and status change nothing twice: a call
            # lost on a stale connection may go out again.
            response = await self._client.request(
                method, self._base + path, headers=headers,
                extensions={"resend_if_stale": True}, **kwargs
            )
        except httpx.TimeoutException:
            raise PakasirError("Pakasir did not answer in time", transient=True) from None
        except httpx.HTTPError as exc:
            raise PakasirError(f"network error ({type(exc).__name__})", transient=True) from None
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if not 200 <= status < 300:
            message = body.get("message") if isinstance(body, dict) else None
            text = str(message)[:200] if message else "no message"
            if self._key:
                text = text.replace(self._key, "***")  # an echo of the key stays here
            if keyed and (status in (401, 403) or (status == 404 and unknown)):
                settings = (unknown if status == 404 else ("api_key",) if self.version == 2
                            else ("project", "api_key"))
                raise Refused(f"HTTP {status}: {text}", settings=settings, status=status)
            raise PakasirError(
                f"HTTP {status}: {text}", transient=status in _TRANSIENT, status=status
            )
        if not isinstance(body, dict):
            raise _malformed("body is not a JSON object")
        return body


def _malformed(what: str) -> PakasirError:
    return PakasirError(f"unexpected response: {what}", transient=True)


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise _malformed(f"'{key}' missing or not text")
    return value


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _malformed(f"'{key}' missing or not a whole number")
    return value


def _time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        # Nanoseconds: Python keeps microseconds only.
        head, dot, rest = value.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits):]
        try:
            parsed = dt.datetime.fromisoformat(f"{head}.{digits[:6]}{zone}".replace("Z", "+00:00"))
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
