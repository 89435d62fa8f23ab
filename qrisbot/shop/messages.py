"""Messages built from orders and servers: texts.py strings plus their buttons."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import attrs

from qrisbot.config import Server
from qrisbot.ledger import (
    AWAITING,
    DELIVERED,
    EXPIRED,
    FAILED,
    NEW,
    PAID,
    PROVISIONED,
    PROVISIONING,
    REFUNDED,
    REMOVED,
    RENEWAL,
    TRIAL,
    Account,
    Breakdown,
    Order,
)
from qrisbot.provision.delivery import Delivery
from qrisbot.provision.panels.terms import GB
from qrisbot.provision.port import Usage
from qrisbot.shop.buttons import pack
from qrisbot.shop.texts import TEXTS, Html, gigabytes, label, months, rupiah, text
from qrisbot.telegram import limits
from qrisbot.telegram.api import Keyboard

PROTOCOL_NAMES = {"ssh": "SSH", "vmess": "VMess", "vless": "VLESS", "trojan": "Trojan"}


@attrs.frozen
class Outgoing:
    text: Html
    buttons: Keyboard | None = None


def plain(key: str, lang: str, **values: object) -> Outgoing:
    return Outgoing(text(key, lang, **values))


def _of(key: str, order: Order) -> str:
    """The text for the order: a renewal's own ("diperpanjang", never "akun sedang
    dibuat") where it has one."""
    return f"{key}_renewal" if order.kind == RENEWAL and f"{key}_renewal" in TEXTS else key


def about(key: str, order: Order, **values: object) -> Outgoing:
    """A message about the order, in its language, naming it."""
    return plain(_of(key, order), order.language, order_id=order.id, **values)


def cancel_row(lang: str, data: str = pack("cancel")) -> list[tuple[str, str]]:
    return [(text("button_cancel", lang), data)]


def prices(amount: int, fee: int | None, lang: str) -> Html:
    """What the buyer will pay: the price, the QRIS fee and their total; or the price "plus
    the QRIS fee" when the fee is not known."""
    if fee is None:
        return text("prices_no_fee", lang, price=rupiah(amount))
    return text("prices", lang, price=rupiah(amount), fee=rupiah(fee),
                total=rupiah(amount + fee))


def breakdown(shown: Breakdown, fee: int | None, lang: str, offer_percent: int = 0
              ) -> Html:
    """`prices`, with the discount (and what gave it) between the price and the total: a
    personal offer (`offer_percent`) as the buyer's own discount."""
    if not shown.discount:
        return prices(shown.amount, fee, lang)
    if shown.offer_id is not None:
        values = {"price": rupiah(shown.list_amount), "discount": rupiah(shown.discount),
                  "label": text("offer_label", lang, percent=offer_percent),
                  "net": rupiah(shown.amount)}
        if fee is None:
            return text("prices_offer_no_fee", lang, **values)
        return text("prices_offer", lang, **values, fee=rupiah(fee),
                    total=rupiah(shown.amount + fee))
    source = shown.promo_code or str(shown.discount_source or "")
    values = {"price": rupiah(shown.list_amount), "code": source,
              "discount": rupiah(shown.discount), "net": rupiah(shown.amount)}
    if fee is None:
        return text("prices_discount_no_fee", lang, **values)
    return text("prices_discount", lang, **values, fee=rupiah(fee),
                total=rupiah(shown.amount + fee))


def _deadline(order: Order, zone: dt.tzinfo) -> str:
    deadline = dt.datetime.fromtimestamp(order.deadline, zone)
    return deadline.strftime("%H:%M:%S %Z").strip() + deadline.strftime(" (%d-%m-%Y)")


def _total(order: Order) -> str:
    return rupiah(order.total or order.amount)


def qr_caption(order: Order, zone: dt.tzinfo) -> Html:
    return text(
        _of("qr_caption", order), order.language, order_id=order.id,
        price=rupiah(order.amount), fee=rupiah(order.fee or 0), total=_total(order),
        deadline=_deadline(order, zone), username=order.username,
        months=months(order.months, order.language),
    )


def qr_buttons(order: Order) -> Keyboard:
    lang = order.language
    return [[(label("button_check", lang), pack("qcheck", order.id)),
             (label("button_cancel", lang), pack("qcancel", order.id))]]


def qr_moved_caption(order: Order) -> Html:
    return text("qr_moved_caption", order.language, order_id=order.id)


def _what(order: Order, server_name: str) -> Html:
    """What the order buys, in a few words."""
    lang = order.language
    return text("what_renewal" if order.kind == RENEWAL else "what_purchase", lang,
                protocol=PROTOCOL_NAMES.get(order.protocol, order.protocol),
                username=order.username, server=server_name, months=months(order.months, lang))


def awaiting_note(order: Order, server_name: str, zone: dt.tzinfo) -> Outgoing:
    """An order awaits payment: said before anything else the buyer asked for, with the QR
    again, a check and Batal."""
    lang = order.language
    return Outgoing(
        text("awaiting_note", lang, order_id=order.id, what=_what(order, server_name),
             total=_total(order), deadline=_deadline(order, zone)),
        [[(label("button_show_qr", lang), pack("qshow", order.id)),
          (label("button_check", lang), pack("qcheck", order.id))],
         cancel_row(lang, pack("qcancel", order.id))])


def payment_state(order: Order, zone: dt.tzinfo, *, answered: bool) -> Outgoing:
    """Where the order's payment stands, as the ledger has it after a fresh status check
    (`answered`: Pakasir answered that check)."""
    lang, renewal = order.language, order.kind == RENEWAL
    if order.state in (NEW, AWAITING):
        if not answered:
            return plain("payment_check_failed", lang, order_id=order.id)
        return plain("payment_not_yet", lang, order_id=order.id, total=_total(order),
                     deadline=_deadline(order, zone),
                     then=text("then_renewal" if renewal else "then_purchase", lang))
    if order.state in (PAID, PROVISIONING):
        return about("payment_seen", order)
    if order.state in (PROVISIONED, DELIVERED):
        return about("order_done", order)
    if order.state == FAILED:
        return (provision_delayed(order) if order.retryable and not order.needs_attention
                else provision_needs_admin(order))
    if order.state == REFUNDED:
        return plain("buyer_refunded", lang, order_id=order.id)
    if order.needs_attention:  # closed, but a payment arrived that the admin must settle
        return provision_needs_admin(order)
    if not answered:
        return plain("payment_check_failed", lang, order_id=order.id)
    if order.state == EXPIRED:
        return plain("order_expired_unpaid", lang, order_id=order.id)
    return plain("order_cancelled_unpaid", lang, order_id=order.id)


def qr_failed(order: Order) -> Outgoing:
    return Outgoing(
        text("qr_failed", order.language),
        [[(text("button_retry", order.language), pack("retry", order.id)),
          (text("button_cancel", order.language), pack("qcancel", order.id))]],
    )


def paid_caption(order: Order) -> Html:
    return text(_of("paid_caption", order), order.language, order_id=order.id)


def expired_caption(order: Order) -> Html:
    return text("expired_caption", order.language, order_id=order.id)


def cancelled_caption(order: Order) -> Html:
    return text("cancelled_caption", order.language, order_id=order.id)


def provision_delayed(order: Order) -> Outgoing:
    return about("provision_delayed", order)


def provision_needs_admin(order: Order) -> Outgoing:
    key = "renewal_needs_admin" if order.kind == RENEWAL else "provision_needs_admin"
    return plain(key, order.language, order_id=order.id)


def server_button(server: Server, lang: str, full: bool, per_month: int) -> tuple[str, str]:
    """A server in the menu, with the buyer's price a month (`per_month`: a reseller's own)."""
    protocol = PROTOCOL_NAMES[server.protocol]
    if full:
        return (label("server_button_full", lang, name=server.name, protocol=protocol),
                pack("full", server.id))
    return (label("server_button", lang, name=server.name, protocol=protocol,
                  price=rupiah(per_month)), pack("srv", server.id))


def when(moment: dt.datetime) -> str:
    return moment.strftime("%H:%M %d-%m-%Y")


def account(order: Order, trial_ends: dt.datetime | None = None) -> Html:
    """The delivery message, from the details stored when the account was made."""
    info: dict[str, Any] = order.account_details()
    protocol = PROTOCOL_NAMES.get(info["protocol"], info["protocol"])
    if order.kind == TRIAL and trial_ends is not None:
        title = text("account_trial", order.language, protocol=protocol,
                     when=when(trial_ends), order_id=order.id)
    elif order.kind == RENEWAL and order.days == 0:
        # No day added: the operator's reconcile recorded the secret the panel has now.
        title = text("account_relinked", order.language, protocol=protocol, order_id=order.id,
                     date=dt.date.fromisoformat(info["expires"]).strftime("%d-%m-%Y"))
    elif order.kind == RENEWAL:
        title = text("account_extended", order.language, protocol=protocol, order_id=order.id,
                     date=dt.date.fromisoformat(info["expires"]).strftime("%d-%m-%Y"))
    else:
        title = text("account_ready", order.language, protocol=protocol, order_id=order.id)
    return _account_body(info, order.language, title)


def receipt(order: Order, server_name: str, days: int, zone: dt.tzinfo) -> Html:
    """What was paid for (a paid order only): order, what it bought, the amount paid with
    its fee, when, in the shop's time zone."""
    lang = order.language
    paid = dt.datetime.fromtimestamp(order.paid_at or order.updated_at, zone)
    what = text("receipt_renewal" if order.kind == RENEWAL else "receipt_purchase", lang,
                protocol=PROTOCOL_NAMES.get(order.protocol, order.protocol),
                username=order.username, server=server_name,
                months=months(order.months, lang), days=days)
    return text("receipt", lang, order_id=order.id, what=what, total=_total(order),
                price=rupiah(order.amount), fee=rupiah(order.fee or 0),
                when=(paid.strftime("%d-%m-%Y %H:%M %Z")).strip())


def account_detail(account: Account, server_name: str, lang: str, *,
                   current: Delivery | None = None, usage: Usage | None = None,
                   unread: bool = False) -> Html:
    """The account message again (Detail in "my accounts"), with its current expiry; on a
    panel its `current` links and `usage` as just read, or (`unread`) the stored details
    and a line saying its traffic cannot be read now."""
    info = account.account_details()
    if current is not None:
        info = current.to_json() | {"expires": account.expires_on.isoformat()}
    protocol = PROTOCOL_NAMES.get(info["protocol"], info["protocol"])
    title = text("account_detail", lang, protocol=protocol, server=server_name)
    if usage is not None:
        title = Html(f"{title}\n{traffic(usage, lang)}")
    elif unread:
        title = Html(f"{title}\n{text('traffic_unread', lang)}")
    return _account_body(info, lang, title)


def traffic(usage: Usage, lang: str) -> Html:
    """"Kuota: 12,3 GB dari 100 GB terpakai (12%)"; "Kuota: tanpa batas (…)"."""
    used = gigabytes(usage.used, lang)
    if usage.limit <= 0:
        return text("traffic_unlimited", lang, used=used)
    return text("traffic_used", lang, used=used, limit=gigabytes(usage.limit, lang),
                percent=percent(usage))


def percent(usage: Usage) -> int:
    """The whole percent of the limit used, rounded down (89.9 % is not yet 90)."""
    return usage.used * 100 // usage.limit if usage.limit > 0 else 0


def traffic_reminder(account: Account, server_name: str, usage: Usage, *, quota_gb: int,
                     renewable: bool) -> Outgoing:
    """Most of the account's traffic is used: how much, and (where renewing adds traffic)
    that a renewal adds `quota_gb` a month and keeps the rest; Perpanjang when renewable."""
    lang = account.language
    adds = renewable and quota_gb > 0
    renewal = (text("traffic_renewal_adds", lang, quota=gigabytes(quota_gb * GB, lang))
               if adds else Html(""))
    body = text("traffic_reminder", lang,
                protocol=PROTOCOL_NAMES.get(account.protocol, account.protocol),
                username=account.username, server=server_name,
                used=gigabytes(usage.used, lang), limit=gigabytes(usage.limit, lang),
                percent=percent(usage), renewal=renewal)
    buttons = [[(label("button_renew_now", lang), pack("ren", account.id))]] if renewable else None
    return Outgoing(body, buttons)


def reminder(account: Account, server_name: str, *, renewable: bool, today: dt.date
             ) -> Outgoing:
    lang = account.language
    body = text("reminder", lang, protocol=PROTOCOL_NAMES.get(account.protocol, account.protocol),
                username=account.username, server=server_name,
                status=_status(account, today, lang, dt.UTC))
    buttons = [[(label("button_renew_now", lang), pack("ren", account.id))]] if renewable else None
    return Outgoing(body, buttons)


def winback_offer(percent: int, until: dt.datetime, lang: str) -> Outgoing:
    """A win-back offer: the discount, until when, and a button to the shop."""
    return Outgoing(text("winback_offer", lang, percent=percent, until=when(until)),
                    [[(label("button_winback_shop", lang), pack("shop"))]])


def lifecycle(account: Account, what: str, server_name: str, *, removal_day: dt.date,
              renewable: bool) -> Outgoing:
    """The account ran out ("ran_out", with when it will be removed) or was removed."""
    lang = account.language
    body = text(f"account_{what}", lang,
                protocol=PROTOCOL_NAMES.get(account.protocol, account.protocol),
                username=account.username, server=server_name,
                date=account.expires_on.strftime("%d-%m-%Y"),
                removal=removal_day.strftime("%d-%m-%Y"))
    buttons = [[(label("button_renew_now", lang), pack("ren", account.id))]] if renewable else None
    return Outgoing(body, buttons)


def _status(acc: Account, today: dt.date, lang: str, zone: dt.tzinfo) -> Html:
    date = acc.expires_on.strftime("%d-%m-%Y")
    days = acc.days_left(today)
    if acc.state == REMOVED:
        return text("my_account_removed", lang, date=date)
    if acc.ends_at is not None:
        return text("my_account_trial", lang,
                    when=when(dt.datetime.fromtimestamp(acc.ends_at, zone)))
    if days == 0:
        return text("my_account_expired", lang, date=date)
    if days == 1:
        return text("my_account_last_day", lang, date=date)
    return text("my_account_active", lang, date=date, days=days)


def my_accounts(accounts: list[Account], server_names: dict[str, str], renewable: set[str],
                today: dt.date, zone: dt.tzinfo, lang: str, *, claimable: bool = False,
                invite: bool = False) -> Outgoing:
    """The buyer's accounts: server, protocol, name, expiry and days left; Detail each, and
    Perpanjang where the server (in `renewable`) can extend it; Tambah akun lama when there
    are accounts made before the shop to claim; Ajak teman with `invite`."""
    claim = [(label("button_claim", lang), pack("claim"))] if claimable else []
    if invite:  # Ajak teman: referrals are on
        claim.append((label("button_invite", lang), pack("invite")))
    if not accounts:
        return Outgoing(text("my_accounts_none", lang), [claim] if claim else None)
    entries: list[Entry] = []
    for n, acc in enumerate(accounts, start=1):
        status = _status(acc, today, lang, zone)
        line = text("my_account_line", lang, n=n,
                    server=server_names.get(acc.server_id, acc.server_id),
                    protocol=PROTOCOL_NAMES.get(acc.protocol, acc.protocol),
                    username=acc.username, status=status)
        buttons = [] if acc.state == REMOVED else [
            (label("button_detail", lang, n=n), pack("acd", acc.id))]
        if buttons and acc.server_id in renewable:
            buttons.append((label("button_renew", lang, n=n), pack("ren", acc.id)))
        entries.append((line, buttons))
    return listing(text("my_accounts_title", lang), entries, len(accounts), lang, footer=claim)


Entry = tuple[Html, list[tuple[str, str]]]  # one listed thing: its line, its buttons


def listing(title: Html, entries: list[Entry], total: int, lang: str, *,
            footer: list[tuple[str, str]] | None = None, gap: str = "\n") -> Outgoing:
    """The title and as many entries as fit in one message (as Telegram measures it), then
    "and N more" for the rest of `total`; each shown entry's buttons, then `footer`."""
    lines = [title]
    buttons: list[list[tuple[str, str]]] = []
    room = limits.MESSAGE - 64  # kept for the "and N more" line
    for line, row in entries:
        if limits.length(gap.join([*lines, line])) > room:
            break
        lines.append(line)
        if row:
            buttons.append(row)
    shown = len(lines) - 1
    if total > shown:
        lines.append(text("list_more", lang, n=total - shown))
    return Outgoing(Html(gap.join(lines)), [*buttons, *([footer] if footer else [])])


def _account_body(info: dict[str, Any], lang: str, title: Html) -> Html:
    expires = dt.date.fromisoformat(info["expires"]).strftime("%d-%m-%Y")
    ports = Html("".join(
        text("port_line", lang, label=label, port=port) + "\n" for label, port in info["ports"]
    )) if info.get("ports") else Html("")
    secret_label = "UUID" if info["protocol"] in ("vmess", "vless") else "Password"
    if info["kind"] == "ssh":
        return text("account_ssh", lang, title=title, host=info["host"],
                    username=info["username"], password=info["secret"], expires=expires,
                    ports=ports, payload=info["payload"])
    if info["kind"] == "xray":
        return text("account_xray", lang, title=title,
                    host=info["host"], username=info["username"], secret_label=secret_label,
                    secret=info["secret"], network=info["network"], path=info["path"],
                    expires=expires, ports=ports, links=_links(info["links"]))
    if info["kind"] == "panel":
        subscription = (text("subscription_line", lang, url=info["subscription"])
                        if info.get("subscription") else Html(""))
        return text("account_panel", lang, title=title, host=info["host"],
                    username=info["username"], secret_label=secret_label,
                    secret=info["secret"], expires=expires, subscription=subscription,
                    links=_links(info["links"]))
    return text("account_custom", lang, title=title, host=info["host"],
                username=info["username"], secret_label=secret_label, secret=info["secret"],
                expires=expires)


def _links(links: list[list[str]]) -> Html:
    return Html("\n\n".join(
        f"<b>{html.escape(label)}</b>\n<code>{html.escape(link)}</code>"
        for label, link in links))
