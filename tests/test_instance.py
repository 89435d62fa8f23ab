"""One daemon per ledger: a second `qrisbot run` on the same ledger refuses to start."""

from __future__ import annotations

import trio
from buyer import Buyer, eventually
from daemon import Daemon
from test_daemon_process import STEP, daemon  # noqa: F401 - the fixture


async def test_a_second_daemon_on_the_same_ledger_refuses_to_start(
    daemon, telegram, tmp_path  # noqa: F811
):
    first = daemon()
    await first.start()
    buyer = Buyer(telegram, 8601)
    buyer.says("/start")
    await buyer.sees("Pilih server", STEP)
    second = Daemon(first.config, tmp_path / "second.log")
    await second.start()
    assert second.process is not None and first.process is not None
    with trio.fail_after(STEP):
        assert await second.process.wait() == 1
    said = (tmp_path / "second.log").read_text()
    assert f"in use by another qrisbot (process {first.process.pid})" in said, said
    assert first.process.returncode is None  # the first one goes on selling
    buyer.says("/start")
    await buyer.sees("Pilih server", STEP)
    assert await first.stop() == 0
    # Once the first has stopped, the ledger is free again.
    third = Daemon(first.config, tmp_path / "third.log")
    await third.start()
    buyer.says("/start")
    await buyer.sees("Pilih server", STEP)
    await eventually(lambda: third.process is not None and third.process.returncode is None)
    assert await third.stop() == 0
