"""Running the real `qrisbot run` as a child process, and killing it."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import trio


def write_config(path: Path, raw: dict[str, Any]) -> Path:
    """TOML for the handful of shapes our configs use."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f'"{k}" = {value(x)}' for k, x in v.items()) + " }"
        raise TypeError(v)

    lines = []
    for table in ("shop", "telegram", "pakasir", "trial"):
        if table not in raw:
            continue
        lines.append(f"[{table}]")
        lines += [f"{k} = {value(v)}" for k, v in raw[table].items()]
    for server in raw["servers"]:
        lines.append("[[servers]]")
        lines += [f"{k} = {value(v)}" for k, v in server.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class Daemon:
    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.process: trio.Process | None = None

    async def start(self, *, max_files: int | None = None, **extra_env: str) -> None:
        """Start `qrisbot run`; `max_files` lowers its descriptor limit (RLIMIT_NOFILE)."""
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env |= extra_env

        def limit() -> None:
            if max_files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (max_files, max_files))

        with self.log.open("ab") as log:
            self.process = await trio.lowlevel.open_process(
                [sys.executable, "-m", "qrisbot", "run", "--config", str(self.config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, preexec_fn=limit,
            )

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    async def stop(self) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            with trio.move_on_after(20):
                return await self.process.wait()
            self.process.kill()
        return await self.process.wait()
