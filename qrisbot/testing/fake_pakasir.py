"""A loopback fake of Pakasir (API v2 and legacy v1) that a test drives as the payment network.

`pay(order_id)` is a buyer scanning and paying; `fail(...)` makes the next calls misbehave.
Transactions follow Pakasir's documented shapes, fee rule and find-or-create behaviour.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from typing import Any

import attrs
import httpx
import trio

from qrisbot.testing.http import Drop, Fake, Request, Response


@attrs.define
class Txn:
    txn_id: str
    order_id: str
    amount: int
    fee: int
    status: str = "pending"
    completed_at: str | None = None
    created: float = 0.0

    @property
    def total(self) -> int:
        return self.amount + self.fee

    @property
    def qr_string(self) -> str:
        # Shaped like a real QRIS payload (EMVCo TLV), unique per transaction.
        return (f"00020101021226610016ID.CO.PAKASIR.WWW0118{self.txn_id[:18]:0<18}"
                f"5204481253033605405{self.total:05d}5802ID5907Pakasir6007JAKARTA6304ABCD")


@attrs.frozen
class Fault:
    status: int = 500
    body: bytes = b'{"message": "internal error"}'
    delay: float = 0.0
    drop: bool = False


# A v2 call's path: Pakasir answers 404 "project not found" for a slug it does not know
# (checked before the key), "transaction not found" for a transaction of a known project.
V2_CALL = re.compile(r"/api/v2/(create-transaction|transaction-status|cancel-transaction)"
                     r"/[^/]+/[^/]+")


def fee_for(amount: int) -> int:
    return round(0.007 * amount + 310)


# The rest of Pakasir's fee table (GET /api/v2/payment-fee/{amount}); the shop reads "qris".
OTHER_FEES = {"bri_va": 3500, "bni_va": 3500, "permata_va": 3500, "cimb_niaga_va": 3500}


class FakePakasir(Fake):
    def __init__(self, project: str = "toko-test", api_key: str = "pk-test-secret-key") -> None:
        self.project = project
        self.api_key = api_key
        self.transactions: dict[str, Txn] = {}
        self.calls: list[tuple[str, str]] = []  # (call, order_id)
        self._faults: dict[str, list[Fault]] = {}
        self._txn_ids = itertools.count(1001)
        # Pakasir answers one status call per `status_every` seconds per transaction (4 s)
        # and 429 to the rest; 0 (the default) does not enforce it.
        self.status_every = 0.0
        self.limited = 0  # 429s answered
        self._last_status: dict[str, float] = {}

    # --- driving it -------------------------------------------------------------------------

    def pay(self, order_id: str, *, settled_late: bool = False) -> bool:
        """The buyer pays. False when the transaction is missing or no longer pending;
        `settled_late`: a payment the bank settles after the transaction was cancelled
        (the buyer scanned it in time), which Pakasir then reports as completed."""
        txn = self.transactions.get(order_id)
        if txn is None or (txn.status != "pending" and not settled_late):
            return False
        txn.status = "completed"
        txn.completed_at = dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).isoformat(
            timespec="milliseconds")
        return True

    async def notify(
        self, url: str, order_id: str, *, secret: str | None, body: bytes | None = None,
        content_type: str | None = "application/json",
    ) -> int:
        """POST the completion webhook as Pakasir does (v2 shape, X-Secret header).

        Returns the receiver's HTTP status."""
        txn = self.transactions.get(order_id)
        if body is None:
            assert txn is not None
            body = json.dumps({
                "txn_id": txn.txn_id, "order_id": txn.order_id, "amount": txn.amount,
                "is_sandbox": True, "status": txn.status, "completed_at": txn.completed_at,
            }).encode()
        headers = {"X-Secret": secret} if secret is not None else {}
        if content_type:
            headers["Content-Type"] = content_type
        async with httpx.AsyncClient() as client:
            response = await client.post(url, content=body, headers=headers)
        return response.status_code

    def fail(self, call: str, fault: Fault | None = None, *, times: int = 1) -> None:
        """call: create, status, cancel (v1 and v2 alike), fee (the fee table)."""
        self._faults.setdefault(call, []).extend([fault or Fault()] * times)

    def count(self, call: str, order_id: str | None = None) -> int:
        return sum(1 for c, o in self.calls if c == call and (order_id is None or o == order_id))

    # --- the API ----------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        route = self._route(request)
        if route is None:
            if V2_CALL.fullmatch(request.path):  # a v2 call naming another project
                return _message(404, "project not found")
            return _message(404, "not found")
        call, order_id, txn_id = route
        self.calls.append((call, order_id or txn_id or ""))
        faults = self._faults.get(call)
        if faults:
            fault = faults.pop(0)
            if fault.delay:
                await trio.sleep(fault.delay)
            if fault.drop:
                raise Drop
            return Response(fault.status, fault.body)
        if call == "status" and self.status_every:
            key, now = order_id or txn_id or "", trio.current_time()
            if now - self._last_status.get(key, -self.status_every) < self.status_every:
                self.limited += 1
                return _message(429, "too many requests")
            self._last_status[key] = now
        if call == "fee":  # the public fee table: no key
            return Response.json({"qris": fee_for(int(order_id or 0))} | OTHER_FEES)
        v2 = request.path.startswith("/api/v2/")
        params = self._v1_params(request) if not v2 else {}
        if v2 and request.headers.get("x-api-key") != self.api_key:
            return _message(401, "invalid api key")
        if not v2 and (params.get("api_key") != self.api_key
                       or params.get("project") != self.project):
            return _message(401, "invalid project or api key")
        if call == "create":
            return self._create(request, order_id or "", v2, params)
        txn = self._lookup(order_id, txn_id)
        if txn is None:
            return _message(404, "transaction not found")
        if not v2 and _int(params.get("amount")) != txn.amount:
            return _message(400, "amount does not match")
        if call == "status":
            return Response.json(self._describe(txn, v2))
        if call == "cancel":
            if txn.status != "pending":
                return _message(400, f"transaction is {txn.status}")
            txn.status = "canceled"
            return Response.json({"message": "transaction canceled"} if v2 else {"success": True})
        if call == "simulate":
            return Response.json({"success": self.pay(txn.order_id)})
        return _message(404, "not found")

    def _route(self, request: Request) -> tuple[str, str | None, str | None] | None:
        path = request.path
        m = re.fullmatch(r"/api/v2/payment-fee/([0-9]{1,9})", path)
        if m and request.method == "GET":
            return "fee", m.group(1), None  # the amount in the order's place
        m = re.fullmatch(r"/api/v2/create-transaction/([^/]+)/([^/]+)", path)
        if m and request.method == "POST" and m.group(1) == self.project:
            return "create", m.group(2), None
        m = re.fullmatch(r"/api/v2/transaction-status/([^/]+)/([^/]+)", path)
        if m and request.method == "GET" and m.group(1) == self.project:
            return "status", None, m.group(2)
        m = re.fullmatch(r"/api/v2/cancel-transaction/([^/]+)/([^/]+)", path)
        if m and request.method == "POST" and m.group(1) == self.project:
            return "cancel", None, m.group(2)
        v1 = {
            ("POST", "/api/transactioncreate/qris"): "create",
            ("GET", "/api/transactiondetail"): "status",
            ("POST", "/api/transactioncancel"): "cancel",
            ("POST", "/api/paymentsimulation"): "simulate",
        }.get((request.method, path))
        if v1 is None:
            return None
        order_id = self._v1_params(request).get("order_id")
        return v1, str(order_id) if order_id is not None else None, None

    @staticmethod
    def _v1_params(request: Request) -> dict[str, Any]:
        if request.method == "GET":
            return dict(request.query)
        try:
            body = request.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def _lookup(self, order_id: str | None, txn_id: str | None) -> Txn | None:
        if order_id is not None:
            return self.transactions.get(order_id)
        return next((t for t in self.transactions.values() if t.txn_id == txn_id), None)

    def _create(self, request: Request, order_id: str, v2: bool, params: dict[str, Any]
                ) -> Response:
        if v2:
            try:
                body = request.json()
            except ValueError:
                return _message(400, "invalid json")
            amount = _int(body.get("amount")) if isinstance(body, dict) else None
            if not isinstance(body, dict) or body.get("method") != "qris":
                return _message(400, "unsupported method")
        else:
            amount = _int(params.get("amount"))
        if amount is None or not 500 <= amount <= 10_000_000:
            return _message(400, "amount must be between 500 and 10000000")
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", order_id):
            return _message(400, "invalid order_id")
        txn = self.transactions.get(order_id)
        if txn is None:
            txn = Txn(f"TXN{next(self._txn_ids)}", order_id, amount, fee_for(amount),
                      created=trio.current_time())
            self.transactions[order_id] = txn
        elif txn.amount != amount:
            return _message(400, "order_id already used with another amount")
        expires = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=24)).strftime(
            "%Y-%m-%dT%H:%M:%S.%f") + "123Z"
        payment = {
            "project": self.project, "order_id": order_id, "amount": txn.amount,
            "fee": txn.fee, "total_payment": txn.total, "payment_method": "qris",
            "expired_at": expires,
        }
        if v2:
            return Response.json(payment | {
                "txn_id": txn.txn_id, "qr_string": txn.qr_string, "va_number": None,
                "is_sandbox": True, "status": txn.status,
            })
        return Response.json({"payment": payment | {"payment_number": txn.qr_string}})

    def _describe(self, txn: Txn, v2: bool) -> dict[str, Any]:
        info = {"order_id": txn.order_id, "amount": txn.amount, "status": txn.status,
                "completed_at": txn.completed_at}
        if v2:
            return info | {"txn_id": txn.txn_id, "is_sandbox": True}
        return {"transaction": info | {"project": self.project, "payment_method": "qris"}}


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _message(status: int, message: str) -> Response:
    return Response.json({"message": message}, status)
