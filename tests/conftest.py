from __future__ import annotations

import inspect
import logging
import os
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

sys.path.insert(0, str(Path(__file__).parent))

from buyer import TYPED_PASSWORDS, Buyer  # noqa: E402

from qrisbot import app, config  # noqa: E402
from qrisbot import log as qlog  # noqa: E402
from qrisbot.testing import config_for  # noqa: E402
from qrisbot.testing.fake_pakasir import FakePakasir  # noqa: E402
from qrisbot.testing.fake_telegram import FakeTelegram  # noqa: E402
from qrisbot.testing.local_provisioner import LocalProvisioner  # noqa: E402


@pytest.fixture
async def telegram(nursery: trio.Nursery) -> FakeTelegram:
    fake = FakeTelegram()
    await nursery.start(fake.serve)
    return fake


@pytest.fixture
async def pakasir(nursery: trio.Nursery) -> FakePakasir:
    fake = FakePakasir()
    await nursery.start(fake.serve)
    return fake


@pytest.fixture
def provisioner() -> LocalProvisioner:
    return LocalProvisioner()


def server_entry(server_id: str = "sg1", protocol: str = "ssh", **overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": server_id, "name": f"Server {server_id.upper()}", "protocol": protocol,
        "domain": f"{server_id}.example.com", "price_per_month": 10000, "capacity": 50,
        "ssh": {"host": "127.0.0.1", "port": 22, "key_file": "/nonexistent/key",
                "known_hosts": "/nonexistent/known_hosts"},
    }
    return entry | overrides


@pytest.fixture
def make_config(
    tmp_path: Path, telegram: FakeTelegram, pakasir: FakePakasir
) -> Callable[..., config.Config]:
    def make(servers: list[dict[str, Any]] | None = None, shop: dict[str, Any] | None = None,
             **pakasir_settings: Any) -> config.Config:
        raw = config_for(
            telegram.url, telegram.token, pakasir.url, pakasir.project, pakasir.api_key,
            str(tmp_path / "ledger.sqlite3"), servers or [server_entry()], shop,
            **pakasir_settings,
        )
        return config.parse(raw, {})

    return make


@pytest.fixture
def start_shop(
    nursery: trio.Nursery, make_config: Callable[..., config.Config],
    provisioner: LocalProvisioner,
) -> Callable[..., Any]:
    async def start(cfg: config.Config | None = None, **kwargs: Any) -> config.Config:
        cfg = cfg or make_config()
        kwargs.setdefault("backends", provisioner)
        await nursery.start(partial(app.run, cfg, **kwargs))
        return cfg

    return start


@pytest.fixture
def buyer(telegram: FakeTelegram) -> Buyer:
    return Buyer(telegram, 5001)


@pytest.fixture(autouse=True)
def _no_proxy() -> Iterator[None]:
    # Loopback fakes must never be reached through a proxy from the environment.
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.lower().endswith("_proxy")}
    yield
    os.environ.update(saved)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real OpenSSH server on loopback (tests run as root: accounts are real users)."""
    import sshd as sshd_module

    server = sshd_module.start(tmp_path_factory.mktemp("sshd"))
    yield server
    sshd_module.stop(server)


def pytest_configure(config: pytest.Config) -> None:
    """The suite owns Linux user names starting with qbt_; a run killed half-way may have
    left some behind, which would look like usernames taken on the server. Removed once,
    before any test runs (by xdist's controller, never by a worker while others work),
    when QRISBOT_TESTS_CLEAN_USERS=1 (as `make test` sets it)."""
    import subprocess

    config.addinivalue_line(
        "markers", "logs_secrets_on_purpose: the test feeds secrets to the logger itself")
    if hasattr(config, "workerinput") or not os.environ.get("QRISBOT_TESTS_CLEAN_USERS"):
        # Only the test command (`make test`) asks for it: a run of a few files beside
        # another run must not take that run's users away.
        return
    for line in Path("/etc/passwd").read_text().splitlines():
        if line.startswith("qbt_"):
            subprocess.run(["userdel", "-f", line.split(":")[0]], capture_output=True)


@pytest.fixture
def linux_users() -> Iterator[list[str]]:
    """Names of Linux users a test creates; removed afterwards."""
    import subprocess

    names: list[str] = []
    yield names
    for name in names:
        subprocess.run(["userdel", "-f", name], capture_output=True)


# --- the log scan: no secret in anything the suite logged -------------------------------

def _default(cls: type, name: str) -> str:
    return str(inspect.signature(cls).parameters[name].default)


FIXED_SECRETS = (
    _default(FakeTelegram, "token"), _default(FakeTelegram, "token").partition(":")[2],
    _default(FakePakasir, "api_key"), "whsec-0123456789abcdef",  # test_webhook's secret
    "PRIVATE KEY",  # any key material
)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # Unredacted, traceback included: the code must not even try to log a secret.
        self.lines.append(logging.Formatter("%(name)s %(message)s").format(record))


@pytest.fixture(autouse=True)
def _no_secret_in_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test runs at the daemon's log levels; afterwards no secret may be in its log
    lines, nor in the log files of daemons it started (tmp_path/*.log)."""
    handler = _Collect()
    root = logging.getLogger()
    saved = root.level, {n: logging.getLogger(n).level for n in qlog.QUIET_LOGGERS}
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in qlog.QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    yield
    root.removeHandler(handler)
    root.setLevel(saved[0])
    for name, level in saved[1].items():
        logging.getLogger(name).setLevel(level)
    if request.node.get_closest_marker("logs_secrets_on_purpose"):
        return
    texts = ["\n".join(handler.lines)]
    tmp = request.node.funcargs.get("tmp_path")
    if isinstance(tmp, Path):
        texts += [p.read_text(errors="replace") for p in tmp.rglob("*.log")]
    secrets = [*FIXED_SECRETS, *(p for p in TYPED_PASSWORDS if len(p) >= 6)]
    leaked = sorted({s for s in secrets for text in texts if s in text})
    assert not leaked, f"secrets in the logs: {leaked}"
