"""Running the real `qrisbot run` at a future date: libfaketime shifts its wall clock
(datetime, time.time, SQLite's 'now') while trio's monotonic clock, the tests and the
servers keep real time. See ../shared/reference/testing-time.md for the trap this works
around (tests/monotonic_sleep.c)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
SHIM = Path(__file__).with_name("monotonic_sleep.c")


def environment(build_dir: Path, offset: str) -> dict[str, str]:
    """Variables that make a process believe it is `offset` later (e.g. "+3d")."""
    shim = build_dir / "monotonic_sleep.so"
    if not shim.exists():
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(shim), str(SHIM), "-ldl"],
                       check=True)
    return {"LD_PRELOAD": f"{shim}:{LIBFAKETIME}", "FAKETIME": offset,
            "FAKETIME_DONT_FAKE_MONOTONIC": "1", "NO_FAKE_STAT": "1",
            "FAKETIME_NO_CACHE": "1"}


PROBE = """
import datetime as dt, sys, time, trio
async def main():
    start = time.monotonic()
    await trio.sleep(0.2)
    await trio.to_thread.run_sync(time.sleep, 0.2)
    assert 0.35 < time.monotonic() - start < 5, time.monotonic() - start
    print(dt.date.today().isoformat())
trio.run(main)
"""


def check(build_dir: Path, offset: str) -> str:
    """Run a small trio program under the set-up; returns the date it believes it is."""
    env = {**os.environ, **environment(build_dir, offset)}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
