"""Benchmark 12: what the sales chart (/admin -> Grafik) costs the daemon.

Each figure comes from a fresh process, so that importing matplotlib is really paid:
  - nothing: the daemon's modules imported (`qrisbot.app`), no chart ever asked for — the
    peer: what the shop costs without charts (matplotlib must not be loaded at all);
  - import: matplotlib's object API and Agg canvas imported, nothing drawn;
  - charts: a ledger of ACCOUNTS accounts and their orders over 60 days; the figures for
    30 days (`Ledger.daily`), the first chart (import included), then ROUNDS more; RSS
    after each, peak RSS; and how late a 10 ms trio ticker runs while charts are drawn
    through `SalesChart.draw` (a worker thread) and, as a peer, with `render` called on
    the event loop itself.
The charts run twice: with matplotlib's font cache cold (a fresh MPLCONFIGDIR, as on a
server whose unit has no writable home: matplotlib rebuilds it in a temporary directory
at every start) and warm.
    python bench/chart.py [ACCOUNTS] [ROUNDS]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import zoneinfo
from collections.abc import Awaitable, Callable
from pathlib import Path

from common import PYTHON, ROOT, machine, peak_rss_kib, rss_kib

ZONE = zoneinfo.ZoneInfo("Asia/Jakarta")


def seed(path: Path, count: int) -> None:
    """`count` accounts made over the last 60 days, each by a paid order, a third renewed
    once, a fifth removed."""
    from qrisbot.ledger import Ledger

    ledger = Ledger.open(path)
    rng = random.Random(12)
    now = time.time()
    accounts, orders = [], []
    for n in range(count):
        made = now - rng.uniform(0, 60 * 86400)
        last = dt.date.fromtimestamp(made + rng.choice((30, 60, 90)) * 86400)
        removed = rng.random() < 0.2
        state = "removed" if removed else "active"
        updated = rng.uniform(made, now) if removed else made
        accounts.append(("sg1", "ssh", f"user{n}", "pw", n, n, "id", last.isoformat(), state,
                         "{}", f"VPN{n}", made, updated))
        orders.append((f"VPN{n}", n, n, "sg1", "ssh", f"user{n}", "pw", 1,
                       rng.choice((10_000, 20_000, 30_000)), "id", "delivered", made - 60,
                       made, made, "purchase", made - 30))
        if rng.random() < 1 / 3:
            paid = rng.uniform(made, now)
            orders.append((f"REN{n}", n, n, "sg1", "ssh", f"user{n}", "pw", 1, 10_000, "id",
                           "delivered", paid - 60, paid, paid, "renewal", paid))
    db = ledger._db  # seeding only: the bench measures the public calls
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO accounts (server_id, protocol, username, secret, owner_user_id,"
        " owner_chat_id, language, expires_on, state, details, made_by, created_at,"
        " updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", accounts)
    db.executemany(
        "INSERT INTO orders (id, chat_id, user_id, server_id, protocol, username, secret,"
        " months, amount, language, state, created_at, deadline, updated_at, kind, paid_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", orders)
    db.execute("COMMIT")
    ledger.close()


# --- the child processes ---------------------------------------------------------------


def child_nothing() -> dict[str, object]:
    import qrisbot.app  # noqa: F401

    return {"rss": rss_kib(), "matplotlib": "matplotlib" in sys.modules}


def child_import() -> dict[str, object]:
    import qrisbot.app  # noqa: F401

    before = rss_kib()
    start = time.perf_counter()
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    from matplotlib.figure import Figure  # noqa: F401

    return {"seconds": time.perf_counter() - start, "rss_before": before, "rss": rss_kib()}


def child_charts(path: str, rounds: int) -> dict[str, object]:
    import trio
    import trio.lowlevel

    import qrisbot.app  # noqa: F401 (the daemon as it runs, as in child_nothing)
    from qrisbot.ledger import Ledger
    from qrisbot.shop import chart

    base = rss_kib()
    ledger = Ledger.open(path)
    sales = chart.SalesChart(ledger, "Toko VPN Budi", "id", ZONE)
    start = time.perf_counter()
    days = sales.figures(time.time())
    data = time.perf_counter() - start

    async def ticking(draw: Callable[[], Awaitable[object]], times: int) -> float:
        """The worst lateness of a 10 ms ticker while `draw` runs `times` times."""
        worst = 0.0

        async def tick() -> None:
            nonlocal worst
            while True:
                due = trio.current_time() + 0.01
                await trio.sleep_until(due)
                worst = max(worst, trio.current_time() - due)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(tick)
            await trio.sleep(0.1)
            for _ in range(times):
                await draw()
            nursery.cancel_scope.cancel()
        return worst

    async def in_thread() -> object:
        drawn = await sales.draw()
        assert drawn is not None
        return drawn

    async def on_loop() -> object:
        png = chart.render(sales.figures(time.time()), "id", "Toko VPN Budi", "WIB")
        await trio.lowlevel.checkpoint()
        return png

    # The first chart as an admin's tap draws it: import, font cache, render, in a thread.
    start = time.perf_counter()
    late_first = trio.run(ticking, in_thread, 1)
    first = time.perf_counter() - start
    after_first = rss_kib()
    later = []
    for _ in range(rounds):
        start = time.perf_counter()
        png = chart.render(days, "id", "Toko VPN Budi", "WIB")
        later.append(time.perf_counter() - start)
    after_later = rss_kib()
    late_thread = trio.run(ticking, in_thread, 3)
    late_loop = trio.run(ticking, on_loop, 3)
    return {"base": base, "data": data, "first": first, "after_first": after_first,
            "later": later, "after_later": after_later, "peak": peak_rss_kib(),
            "bytes": len(png), "late_first": late_first, "late_thread": late_thread,
            "late_loop": late_loop, "active": days[-1].active,
            "revenue": sum(day.revenue for day in days)}


def run_child(*args: str, mplconfig: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["PYTHONPATH"] = str(ROOT)
    env["MPLCONFIGDIR"] = mplconfig
    out = subprocess.run([PYTHON, __file__, "--child", *args], capture_output=True,
                         text=True, env=env, cwd=ROOT, check=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(count: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as name:
        path = Path(name) / "ledger.sqlite3"
        seed(path, count)
        cache = Path(name) / "mpl"
        cache.mkdir()
        nothing = run_child("nothing", mplconfig=str(cache))
        cold = run_child("charts", str(path), str(rounds), mplconfig=str(cache))
        imported = run_child("import", mplconfig=str(cache))
        warm = run_child("charts", str(path), str(rounds), mplconfig=str(cache))
    mib = 1024
    print(f"machine: {machine()}; {count:,} accounts and their orders over 60 days; "
          f"{rounds} later charts")
    print(f"drawing nothing: the daemon's modules, RSS {nothing['rss'] / mib:.1f} MiB, "
          f"matplotlib loaded: {nothing['matplotlib']}")
    print(f"import alone (warm cache): {imported['seconds']:.2f} s, RSS "
          f"+{(imported['rss'] - imported['rss_before']) / mib:.1f} MiB")
    for label, run in (("cold font cache", cold), ("warm font cache", warm)):
        later = run["later"]
        assert isinstance(later, list)
        print(f"{label}: figures {run['data'] * 1000:.1f} ms ({run['active']} active, "
              f"Rp{run['revenue']:,} in 30 days); first chart (figures, import, render) "
              f"{run['first'] - 0.1:.2f} s, RSS "
              f"{run['base'] / mib:.1f} -> {run['after_first'] / mib:.1f} MiB; later charts "
              f"median {statistics.median(later) * 1000:.0f} ms (max "
              f"{max(later) * 1000:.0f} ms), RSS after them "
              f"{run['after_later'] / mib:.1f} MiB, peak {run['peak'] / mib:.1f} MiB; PNG "
              f"{run['bytes'] / 1000:.0f} kB")
        print(f"{label}: a 10 ms ticker's worst lateness: first chart (in a thread) "
              f"{run['late_first'] * 1000:.0f} ms; 3 later charts in a thread "
              f"{run['late_thread'] * 1000:.0f} ms, drawn on the loop "
              f"{run['late_loop'] * 1000:.0f} ms")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        mode = sys.argv[2]
        if mode == "nothing":
            result = child_nothing()
        elif mode == "import":
            result = child_import()
        else:
            result = child_charts(sys.argv[3], int(sys.argv[4]))
        print(json.dumps(result))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000,
             int(sys.argv[2]) if len(sys.argv) > 2 else 10)
