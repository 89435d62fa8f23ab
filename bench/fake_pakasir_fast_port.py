"""Start bench/fake_pakasir_fast.py and read the port it listens on."""

from __future__ import annotations

import subprocess

from common import spawn


def start_fake(seconds: float) -> tuple[subprocess.Popen[str], int]:
    fake = spawn("bench/fake_pakasir_fast.py", str(seconds), "5")
    assert fake.stdout is not None
    return fake, int(fake.stdout.readline())
