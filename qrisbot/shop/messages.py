"""Messages built from orders and servers: texts.py strings plus their buttons."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import attrs

from qrisbot.config import Server
from qrisbot.ledger import Order
from qrisbot.shop.texts import Html, label, rupiah, text
from qrisbot.telegram.api import Keyboard

PROTOCOL_NAMES = {"ssh": "SSH", "vmess": "VMess", "vless": "VLESS", "trojan": "Trojan"}


@attrs.frozen
class Outgoing:
    text: Html
    buttons: Keyboard | None = None


def plain(key: str, lang: str, **values: object) -> Outgoing:
    return Outgoing(text(key, lang, **values))


def cancel_row(lang: str, data: str = "cancel") -> list[tuple[str, str]]:
    return [(text("button_cancel", lang), data)]


def qr_caption(order: Order, zone: dt.tzinfo) -> Html:
    deadline = dt.datetime.fromtimestamp(order.deadline, zone)
    return text(
        "qr_caption", order.language, order_id=order.id, price=rupiah(order.amount),
        fee=rupiah(order.fee or 0), total=rupiah(order.total or order.amount),
        deadline=deadline.strftime("%H:%M:%S %Z").strip() + deadline.strftime(" (%d-%m-%Y)"),
    )


def qr_buttons(order: Order) -> Keyboard:
    return [cancel_row(order.language, f"qcancel:{order.id}")]


def qr_failed(order: Order) -> Outgoing:
    return Outgoing(
        text("qr_failed", order.language),
        [[(text("button_retry", order.language), f"retry:{order.id}"),
          (text("button_cancel", order.language), f"qcancel:{order.id}")]],
    )


def paid_caption(order: Order) -> Html:
    return text("paid_caption", order.language, order_id=order.id)


def expired_caption(order: Order) -> Html:
    return text("expired_caption", order.language, order_id=order.id)


def cancelled_caption(order: Order) -> Html:
    return text("cancelled_caption", order.language, order_id=order.id)


def provision_delayed(order: Order) -> Outgoing:
    return plain("provision_delayed", order.language, order_id=order.id)


def provision_needs_admin(order: Order) -> Outgoing:
    return plain("provision_needs_admin", order.language, order_id=order.id)


def server_button(server: Server, lang: str, full: bool) -> tuple[str, str]:
    protocol = PROTOCOL_NAMES[server.protocol]
    if full:
        return (label("server_button_full", lang, name=server.name, protocol=protocol),
                f"full:{server.id}")
    return (label("server_button", lang, name=server.name, protocol=protocol,
                  price=rupiah(server.price_per_month)), f"srv:{server.id}")


def account(order: Order) -> Html:
    """The delivery message, from the details stored when the account was made."""
    info: dict[str, Any] = order.account_details()
    lang = order.language
    expires = dt.date.fromisoformat(info["expires"]).strftime("%d-%m-%Y")
    ports = Html("".join(
        text("port_line", lang, label=label, port=port) + "\n" for label, port in info["ports"]
    )) if info.get("ports") else Html("")
    protocol = PROTOCOL_NAMES.get(info["protocol"], info["protocol"])
    secret_label = "UUID" if info["protocol"] in ("vmess", "vless") else "Password"
    if info["kind"] == "ssh":
        return text("account_ssh", lang, order_id=order.id, host=info["host"],
                    username=info["username"], password=info["secret"], expires=expires,
                    ports=ports, payload=info["payload"])
    if info["kind"] == "xray":
        links = Html("\n\n".join(
            f"<b>{html.escape(label)}</b>\n<code>{html.escape(link)}</code>"
            for label, link in info["links"]
        ))
        return text("account_xray", lang, order_id=order.id, protocol=protocol,
                    host=info["host"], username=info["username"], secret_label=secret_label,
                    secret=info["secret"], network=info["network"], path=info["path"],
                    expires=expires, ports=ports, links=links)
    return text("account_custom", lang, order_id=order.id, protocol=protocol, host=info["host"],
                username=info["username"], secret_label=secret_label, secret=info["secret"],
                expires=expires)
