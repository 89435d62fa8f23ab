"""Helpers shared by the benchmarks: child processes, resource figures, percentiles."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qrisbot.config import Server

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def rss_kib() -> int:
    """Current resident set size of this process, KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spawn(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen([PYTHON, *args], stdout=subprocess.PIPE, text=True, env=env,
                            cwd=ROOT)


# An autoscript-layout Xray config with one VLESS marker, and a server whose accounts go
# there (restart: `true`), for the benchmarks that provision over a real local sshd.
VLESS_LAYOUT = '{"inbounds": [{"settings": {"clients": [\n  {"id": "x"\n#vless\n  }]}}]}\n'


def vless_server(config: Path, access: dict[str, Any]) -> Server:
    from qrisbot.config import Server, SshAccess, Xray

    config.write_text(VLESS_LAYOUT)
    return Server(id="sg1", name="SG", protocol="vless", domain="sg.example.com",
                  price_per_month=10000, ssh=SshAccess(**access),
                  xray=Xray(config=str(config), markers=("#vless",), prefix="#&",
                            restart="true", path="/vless"))
