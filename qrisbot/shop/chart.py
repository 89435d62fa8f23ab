"""The sales chart the admins get (/admin -> Grafik, and with the daily summary when
`shop.summary_chart`): the last 30 days' money per day, new / renewal as stacked bars, and
the accounts working as a line on a second axis. A PNG sized for a phone.

matplotlib is imported only when a chart is drawn (it costs the daemon nothing until then,
bench/chart.py) and draws in a worker thread, one chart at a time, so the event loop never
waits for it. Its object API is used, not pyplot: nothing global, no GUI backend.
"""

from __future__ import annotations

import datetime as dt
import gc
import io
import logging
import time
from collections.abc import Sequence
from typing import Final

import attrs
import trio

from qrisbot.ledger import Ledger
from qrisbot.ledger.daily import Day
from qrisbot.shop.texts import Html, label, rupiah, rupiah_short, text

log = logging.getLogger("qrisbot.chart")

DAYS: Final = 30
# Telegram shows a photo at most 1280 px on a side; square fills a phone's width.
INCHES: Final = 9.0
DPI: Final = 120
NEW_COLOR: Final = "#1565c0"
RENEWAL_COLOR: Final = "#64b5f6"
ACTIVE_COLOR: Final = "#ef6c00"
INK: Final = "#212121"
FAINT: Final = "#757575"
MAX_NAME: Final = 28  # characters of the shop's name in the title (smaller type past 40)


@attrs.frozen
class Chart:
    png: bytes
    caption: Html  # the figures behind it, exactly


def window(zone: dt.tzinfo, now: float) -> list[dt.date]:
    """The last DAYS days in the shop's zone, today last."""
    today = dt.datetime.fromtimestamp(now, zone).date()
    return [today - dt.timedelta(days=back) for back in range(DAYS - 1, -1, -1)]


class SalesChart:
    def __init__(self, ledger: Ledger, shop: str, lang: str, zone: dt.tzinfo) -> None:
        self._ledger = ledger
        self._shop = shop
        self._lang = lang
        self._zone = zone
        self._one_at_a_time = trio.CapacityLimiter(1)

    def figures(self, now: float) -> list[Day]:
        return self._ledger.daily(window(self._zone, now), self._zone, now)

    async def draw(self) -> Chart | None:
        """The chart as of now; None (logged) when it cannot be drawn."""
        now = time.time()
        days = self.figures(now)
        zone_name = dt.datetime.fromtimestamp(now, self._zone).tzname() or str(self._zone)
        try:
            png = await trio.to_thread.run_sync(
                render, days, self._lang, self._shop, zone_name,
                limiter=self._one_at_a_time)
        except Exception:  # a chart is a convenience: never let it break a notice or a menu
            log.exception("could not draw the sales chart")
            return None
        return Chart(png, self.caption(days))

    def caption(self, days: Sequence[Day]) -> Html:
        new = sum(day.new for day in days)
        renewals = sum(day.renewals for day in days)
        return text(
            "chart_caption", self._lang, shop=self._shop,
            first=day_label(days[0].day, self._lang, year=True),
            last=day_label(days[-1].day, self._lang, year=True),
            new_orders=sum(day.new_orders for day in days), new=rupiah(new),
            renewal_orders=sum(day.renewal_orders for day in days),
            renewals=rupiah(renewals), total=rupiah(new + renewals), active=days[-1].active)


def day_label(day: dt.date, lang: str, *, year: bool = False) -> str:
    """"8 Des" ("8 Dec"), with the year when asked: "8 Des 2026"."""
    month = label("chart_months", lang).split()[day.month - 1]
    return f"{day.day} {month} {day.year}" if year else f"{day.day} {month}"


def count(value: float, lang: str) -> str:
    """1.200 (Indonesian thousands), 1,200 in English."""
    shown = f"{value:,.0f}"
    return shown if lang == "en" else shown.replace(",", ".")


def render(days: Sequence[Day], lang: str, shop: str, zone_name: str) -> bytes:
    """The PNG (blocking: run it in a thread)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.layout_engine import ConstrainedLayoutEngine
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    figure = Figure(figsize=(INCHES, INCHES), dpi=DPI,
                    layout=ConstrainedLayoutEngine(h_pad=0.15, w_pad=0.15))
    FigureCanvasAgg(figure)
    money = figure.add_subplot()
    accounts = money.twinx()
    x = range(len(days))
    new = [day.new for day in days]
    renewals = [day.renewals for day in days]
    money.bar(x, new, width=0.78, color=NEW_COLOR, label=label("chart_new", lang))
    money.bar(x, renewals, width=0.78, bottom=new, color=RENEWAL_COLOR,
              label=label("chart_renewals", lang))
    accounts.plot(x, [day.active for day in days], color=ACTIVE_COLOR, linewidth=4,
                  marker="o", markersize=6, label=label("chart_active", lang))

    top = max((day.revenue for day in days), default=0)
    money.set_ylim(0, max(top, 10_000) * 1.12)  # room above the tallest bar for its figure
    money.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10]))
    money.yaxis.set_major_formatter(FuncFormatter(lambda value, _: rupiah_short(value, lang)))
    most = max(day.active for day in days) if days else 0
    accounts.set_ylim(0, max(most, 4) * 1.12)
    accounts.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    accounts.yaxis.set_major_formatter(FuncFormatter(lambda value, _: count(value, lang)))
    if top:
        best = max(x, key=lambda i: days[i].revenue)
        money.annotate(rupiah_short(top, lang), (best, top), xytext=(0, 6),
                       textcoords="offset points", ha="center", va="bottom", fontsize=17,
                       fontweight="bold", color=INK)

    # Weekly ticks counted back from today, so today always has its date.
    ticks = list(range(len(days) - 1, -1, -7))[::-1]
    money.set_xticks(ticks, [day_label(days[i].day, lang) for i in ticks])
    money.set_xlim(-0.7, len(days) - 0.3)
    money.tick_params(axis="both", labelsize=18, length=0, pad=8, colors=INK)
    accounts.tick_params(axis="y", labelsize=18, length=0, pad=8, colors=ACTIVE_COLOR)
    money.grid(axis="y", color="#e0e0e0", linewidth=1.2)
    money.set_axisbelow(True)
    for axis in (money, accounts):
        for side in ("top", "left", "right"):
            axis.spines[side].set_visible(False)
        axis.spines["bottom"].set_color(FAINT)

    name = shop if len(shop) <= MAX_NAME else shop[:MAX_NAME - 1].rstrip() + "…"
    title = label("chart_title", lang, shop=name)
    figure.suptitle(title, fontsize=min(26, 26 * 40 / len(title)),
                    fontweight="bold", color=INK)
    period = label("chart_period", lang, first=day_label(days[0].day, lang),
                   last=day_label(days[-1].day, lang, year=True), zone=zone_name)
    money.set_title(period, fontsize=18, color=FAINT, pad=52)
    handles = [*money.get_legend_handles_labels()[0], *accounts.get_legend_handles_labels()[0]]
    money.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3,
                 frameon=False, fontsize=18, handlelength=1.2, columnspacing=1.4,
                 borderaxespad=0.3)
    out = io.BytesIO()
    figure.savefig(out, format="png", facecolor="white", metadata={"Software": None})
    # A figure is a web of cycles that would wait for a full collection, which a daemon's
    # heap rarely triggers: collected now, RSS stays ~80 MiB instead of growing to ~140
    # (bench/chart.py), for ~35 ms of this thread.
    del figure, money, accounts
    gc.collect()
    return out.getvalue()
