"""`qrisbot setup` driven through a pseudo-terminal, as a seller at a keyboard would: the
Telegram and Pakasir fakes, the suite's real sshd. Wrong answers are asked again, secrets
never reach the screen, the files it writes load, pass check-config --online, are the
unit's user's to read and nobody else's, and a daemon started on them sells an account.
Run again, setup keeps what it does not ask about."""

from __future__ import annotations

import fcntl
import os
import pty
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import termios
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
from buyer import Buyer
from daemon import Daemon
from test_panel_http import certificate, openssl_fingerprint, tls_panel

from qrisbot import config, unit_files
from qrisbot.setup import install
from qrisbot.setup.secrets_file import SecretsFile
from qrisbot.testing.fake_marzban import FakeMarzban
from qrisbot.testing.fake_xui import FakeXui

STEP = 30  # real seconds for one answer to be checked (a login, a fee, a check)
UNIT_USER = "qbt_s1unit"
SELLER = 7301  # the seller's Telegram id, as their /start carries it
WRONG_TOKEN = "999999:WRONG-token-value-x"
WRONG_KEY = "pk-wrong-key-s1"


class Screen:
    """A child process on a pseudo-terminal it has as its controlling terminal (getpass
    reads /dev/tty), and everything it showed."""

    started: list[trio.Process] = []  # killed after each test (one that failed waits)

    def __init__(self, process: trio.Process, master: int) -> None:
        self.process = process
        self.stream = trio.lowlevel.FdStream(master)
        self.transcript = ""
        self.seen = 0  # the end of the last match

    @classmethod
    async def start(cls, argv: list[str], env: dict[str, str]) -> Screen:
        master, slave = pty.openpty()

        def controlling_terminal() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        process = await trio.lowlevel.open_process(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env,
            preexec_fn=controlling_terminal)
        os.close(slave)
        cls.started.append(process)
        return cls(process, master)

    async def expect(self, pattern: str, within: float = STEP) -> re.Match[str]:
        regex = re.compile(pattern)
        with trio.fail_after(within):
            while True:
                found = regex.search(self.transcript, self.seen)
                if found:
                    self.seen = found.end()
                    return found
                try:
                    data = await self.stream.receive_some(65536)
                except (OSError, trio.BrokenResourceError):
                    data = b""  # EIO: the child is gone
                if not data:
                    raise AssertionError(f"setup ended before {pattern!r}:\n"
                                         f"{self.transcript[-3000:]}")
                self.transcript += data.decode("utf-8", "replace").replace("\r\n", "\n")

    async def answer(self, prompt: str, line: str) -> None:
        await self.expect(prompt)
        await self.stream.send_all(line.encode() + b"\n")

    async def rest(self) -> str:
        """Everything until the child closes the terminal."""
        with trio.fail_after(3 * STEP):
            while True:
                try:
                    data = await self.stream.receive_some(65536)
                except (OSError, trio.BrokenResourceError):
                    data = b""
                if not data:
                    break
                self.transcript += data.decode("utf-8", "replace").replace("\r\n", "\n")
        await self.process.wait()
        await self.stream.aclose()
        return self.transcript[self.seen:]


@pytest.fixture(autouse=True)
def _no_setup_left() -> Iterator[None]:
    yield
    while Screen.started:
        process = Screen.started.pop()
        if process.returncode is None:
            process.kill()


@pytest.fixture
def place(linux_users: list[str]) -> Iterator[Path]:
    """A folder others may pass through (the unit's user must reach its files), removed
    afterwards; pytest's own tmp_path is root's alone."""
    linux_users.append(UNIT_USER)
    folder = Path(tempfile.mkdtemp(prefix="qbt-setup-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def environment(telegram, pakasir) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    return env | {"QRISBOT_TELEGRAM_API_URL": telegram.url,
                  "QRISBOT_PAKASIR_API_URL": pakasir.url, "TERM": "dumb"}


def fingerprint(public_key: Path) -> str:
    line = subprocess.run(["ssh-keygen", "-lf", str(public_key)], capture_output=True,
                          text=True, check=True).stdout
    return line.split()[1]


async def test_a_first_run_asks_again_until_each_answer_works_and_the_shop_sells(
        telegram, pakasir, sshd, place, linux_users, tmp_path):
    linux_users.append("qbt_s1buy")
    folder, ledger = place / "etc", place / "state" / "ledger.sqlite3"
    screen = await Screen.start(
        [sys.executable, "-m", "qrisbot", "setup", "--config", str(folder / "config.toml"),
         "--user", UNIT_USER, "--database", str(ledger)], environment(telegram, pakasir))

    await screen.expect(f"User layanan {UNIT_USER} dibuat")
    await screen.answer(r"Nama toko .*\[Toko VPN\]: ", "Toko Uji")
    # The token: a malformed one, one Telegram refuses, then the real one.
    await screen.answer(r"Token bot .*: ", "bukan token")
    await screen.expect("bukan bentuk token")
    await screen.answer(r"Token bot .*: ", WRONG_TOKEN)
    await screen.expect(r"Telegram menolak token ini \(401\)")
    await screen.answer(r"Token bot .*: ", telegram.token)
    await screen.expect("Token diterima: bot @shop_bot")
    # The seller's id, from the /start they send (a message before it is no /start).
    await screen.expect("kirim /start")
    telegram.user_sends(SELLER, "halo")
    await screen.expect("bukan /start")
    telegram.user_sends(SELLER, "/start")
    await screen.answer(rf"id {SELLER}\)\. Ini akun Anda\? \[Y/n\] ", "y")
    await screen.expect(f"Admin: {SELLER}")
    # Pakasir: an unknown slug, then a refused key, each asked again alone.
    await screen.answer(r"Slug proyek Pakasir: ", "toko-salah")
    await screen.answer(r"API key Pakasir .*: ", WRONG_KEY)
    await screen.expect("tidak mengenal proyek toko-salah")
    await screen.answer(r"Slug proyek Pakasir \[toko-salah\]: |Slug proyek Pakasir: ",
                        pakasir.project)
    await screen.expect("menolak API key ini")
    await screen.answer(r"API key Pakasir .*: ", pakasir.api_key)
    await screen.expect(f"menerima proyek {pakasir.project}")
    await screen.expect(f"Data pesanan \\(ledger\\): {ledger}")
    # The server: a bad host and port, the key line, the host key, a login before the
    # key is on the server and one after.
    await screen.answer(r"Jenis server: .*\[ssh\]: ", "")
    await screen.answer(r"IP atau host server: ", "bukan host!")
    await screen.expect("bukan IP atau nama host")
    await screen.answer(r"IP atau host server: ", "127.0.0.1")
    await screen.answer(r"Port SSH \[22\]: ", "ssh")
    await screen.expect("Ketik angka 1 sampai 65535")
    await screen.answer(r"Port SSH \[22\]: ", str(sshd.port))
    key_line = (await screen.expect(r"\n  (ssh-ed25519 \S+ qrisbot@\S+)\n"))[1]
    await screen.expect(r"echo '.*' >> ~/.ssh/authorized_keys")
    await screen.answer(r"Tekan Enter untuk mencoba \(h: ganti host\)\. ", "")
    shown = (await screen.expect(r"kunci ssh-ed25519 (SHA256:\S+)"))[1]
    assert shown == fingerprint(sshd.directory / "host_ed25519.pub")
    await screen.answer(r"Sama persis\? \[y/N\] ", "y")
    await screen.expect("Belum bisa masuk: .*authentication refused")
    with (sshd.directory / "authorized_keys").open("a") as keys:
        keys.write(key_line + "\n")  # the seller pastes the line on the server
    await screen.answer(r"mencoba lagi \(h: ganti host\)\. ", "")
    await screen.expect("Masuk ke root@127.0.0.1 dengan kunci toko")
    await screen.answer(r"Protokol yang dijual .*\[ssh\]: ", "wireguard")
    await screen.expect("Pilih salah satu: ssh, vmess, vless, trojan")
    await screen.answer(r"Protokol yang dijual .*\[ssh\]: ", "ssh")
    await screen.expect("✓ root")
    await screen.answer(r"Nama server .*\[Server 1\]: ", "Singapura 1")
    await screen.answer(r"Domain untuk pembeli .*\[127\.0\.0\.1\]: ", "")
    await screen.answer(r"Harga per bulan \(rupiah\): ", "100")
    await screen.expect("Harga harus Rp500 sampai Rp833.333")
    await screen.answer(r"Harga per bulan \(rupiah\): ", "10.000")
    await screen.expect(r"Pembeli membayar Rp10\.380 untuk 1 bulan \(Rp10\.000 \+ biaya QRIS "
                        r"Rp380\)")
    await screen.answer(r"Kapasitas .*\[50\]: ", "0")
    await screen.expect("Ketik angka 1 sampai 1000000")
    await screen.answer(r"Kapasitas .*\[50\]: ", "5")
    await screen.expect(r"Server singapura-1 disimpan: Singapura 1, Rp10\.000/bulan")
    await screen.answer(r"Tambah server lain\? \[y/N\] ", "n")
    await screen.expect(r"Pemeriksaan akhir \(qrisbot check-config --online\)")
    rest = await screen.rest()
    assert screen.process.returncode == 0, screen.transcript[-3000:]
    assert "✗" not in rest, rest
    assert "systemctl enable --now qrisbot" in rest
    assert f"User={UNIT_USER}" in rest and f"ExecStart=/usr/local/bin/qrisbot run --config " \
        f"{folder / 'config.toml'}" in rest

    # Secrets were typed hidden and never shown.
    secrets = (telegram.token, telegram.token.partition(":")[2], pakasir.api_key,
               WRONG_TOKEN, WRONG_KEY, "PRIVATE KEY")
    assert not [s for s in secrets if s in screen.transcript]
    unit = pwd.getpwnam(UNIT_USER)
    files = assert_owned_as_the_unit_needs(place, folder, ledger, unit)
    assert unit_files.unreadable(unit, [str(f) for f in files]) == {}

    # The files load as the daemon loads them, and a daemon on them sells an account.
    env = SecretsFile.load(folder / "secrets.env").environment()
    loaded = config.load(folder / "config.toml", env)
    assert loaded.shop.admins == (SELLER,) and loaded.shop.name == "Toko Uji"
    assert loaded.telegram.token == telegram.token
    assert loaded.pakasir.api_key == pakasir.api_key
    [server] = loaded.servers
    assert (server.id, server.protocol, server.price_per_month, server.capacity) == (
        "singapura-1", "ssh", 10000, 5)
    assert telegram.messages(SELLER)  # the seller heard in Telegram that setup knows them
    daemon = Daemon(folder / "config.toml", tmp_path / "daemon.log")
    await daemon.start(**env)
    try:
        buyer = Buyer(telegram, 8301)
        qr, order_id = await buyer.buys(username="qbt_s1buy", password="s1-pass-word",
                                        months=1, server="singapura-1", within=STEP)
        assert "Rp10.380" in (qr.caption or "")
        assert pakasir.pay(order_id)
        await buyer.sees("Akun SSH Anda siap", STEP)
    finally:
        assert await daemon.stop() == 0
    assert ledger.exists()

    # Run again: Enter keeps every answer; what it does not ask about stays.
    text = (folder / "config.toml").read_text()
    (folder / "config.toml").write_text(
        text + "\n# the seller's own note\n[trial]\nhours = 2\n")
    again = await Screen.start(
        [sys.executable, "-m", "qrisbot", "setup", "--config", str(folder / "config.toml"),
         "--user", UNIT_USER, "--lang", "en"], environment(telegram, pakasir))
    await again.expect(f"The unit's user: {UNIT_USER} \\(already there\\)")
    await again.answer(r"Shop name .*\[Toko Uji\]: ", "")
    await again.answer(r"Bot token .*\(Enter: keep the current one\): ", "")
    await again.expect("Token accepted: the bot @shop_bot")
    await again.answer(rf"admins now \(Telegram ids\): {SELLER}\nAdd another admin with "
                       r"/start\? \[y/N\] ", "")
    await again.answer(rf"Pakasir project slug \[{pakasir.project}\]: ", "")
    await again.answer(r"Pakasir API key .*\(Enter: keep the current one\): ", "")
    await again.expect(f"accepts the project {pakasir.project}")
    await again.answer(r"Change the server singapura-1 \(ssh, 127\.0\.0\.1\)\? \[y/N\] ", "")
    await again.answer(r"Add another server\? \[y/N\] ", "")
    rest = await again.rest()
    assert again.process.returncode == 0, again.transcript[-3000:]
    assert not [s for s in secrets if s in again.transcript]
    kept = (folder / "config.toml").read_text()
    assert "# the seller's own note" in kept and config.load(
        folder / "config.toml", env).trial.hours == 2
    assert config.load(folder / "config.toml", env).servers == loaded.servers
    assert_owned_as_the_unit_needs(place, folder, ledger, unit)

    # `setup server` adds one more with the same key; a protocol the server does not have
    # is named and asked again.
    more = await Screen.start(
        [sys.executable, "-m", "qrisbot", "setup", "server", "--config",
         str(folder / "config.toml"), "--user", UNIT_USER, "--lang", "en"],
        environment(telegram, pakasir))
    await more.answer(r"Kind of server: .*\[ssh\]: ", "")
    await more.answer(r"IP or host name: ", "127.0.0.1")
    await more.answer(r"SSH port \[22\]: ", str(sshd.port))
    assert (await more.expect(r"\n  (ssh-ed25519 \S+ qrisbot@\S+)\n"))[1] == key_line
    await more.answer(r"Press Enter to try \(h: change the host\)\. ", "")
    await more.expect("The host key is already trusted")
    await more.expect("Logged in to root@127.0.0.1")
    await more.answer(r"Protocol to sell .*\[ssh\]: ", "vless")
    await more.expect("✗ xray config /etc/xray/config.json")
    await more.answer(r"Keep it anyway .*\[y/N\] ", "n")
    await more.answer(r"Protocol to sell .*\[vless\]: ", "ssh")
    await more.answer(r"Server name .*\[Server 2\]: ", "")
    await more.answer(r"Domain for buyers .*: ", "")
    await more.answer(r"Price per month \(rupiah\): ", "Rp12.000")
    await more.expect(r"A buyer pays Rp12\.394 for 1 month")
    await more.answer(r"Capacity .*\[50\]: ", "")
    await more.answer(r"Add another server\? \[y/N\] ", "")
    await more.rest()
    assert more.process.returncode == 0, more.transcript[-3000:]
    assert [(s.id, s.price_per_month) for s in config.load(folder / "config.toml", env).servers
            ] == [("singapura-1", 10000), ("server-2", 12000)]
    assert_owned_as_the_unit_needs(place, folder, ledger, unit)


def configured_shop(folder: Path, ledger: Path, telegram, pakasir) -> None:
    """The files of a shop set up without servers yet (`setup server` adds them)."""
    folder.mkdir()
    (folder / "config.toml").write_text(
        f'# the seller\'s own note\n[shop]\nname = "Toko Uji"\ndatabase = "{ledger}"\n'
        f"admins = [{SELLER}]\n\n[telegram]\napi_url = \"{telegram.url}\"\n\n"
        f'[pakasir]\nproject = "{pakasir.project}"\napi_url = "{pakasir.url}"\n')
    (folder / "secrets.env").write_text(f"QRISBOT_TELEGRAM_TOKEN={telegram.token}\n"
                                        f"QRISBOT_PAKASIR_API_KEY={pakasir.api_key}\n")


async def test_a_self_signed_panel_is_pinned_once_the_seller_compared_its_fingerprint(
        telegram, pakasir, place, linux_users, nursery):
    linux_users.append(PANEL_UNIT)
    folder = place / "etc"
    configured_shop(folder, place / "state" / "ledger.sqlite3", telegram, pakasir)
    key, cert = certificate(place, "panel")
    url = f"https://127.0.0.1:{await tls_panel(nursery, key, cert)}/AbCdEf/"
    pinned = folder / "panel_pins"

    async def setup_to_the_login() -> Screen:
        screen = await Screen.start(
            [sys.executable, "-m", "qrisbot", "setup", "server", "--config",
             str(folder / "config.toml"), "--user", PANEL_UNIT, "--lang", "en"],
            environment(telegram, pakasir))
        await screen.answer(r"Kind of server: .*\[ssh\]: ", "panel")
        await screen.answer(r"Panel .*\[3x-ui\]: ", "")
        await screen.answer(r"The panel's address .*: ", url)
        return screen

    screen = await setup_to_the_login()
    shown = (await screen.expect(r"SHA-256 fingerprint: (\S+)"))[1]
    assert shown == openssl_fingerprint(cert)
    await screen.expect(r"openssl x509 -noout -fingerprint -sha256")
    await screen.answer(r"Exactly the same\? \[y/N\] ", "")
    await screen.expect("Not pinned")
    assert not pinned.exists()
    await screen.answer(r"The panel's address .*: ", "")
    await screen.answer(r"Exactly the same\? \[y/N\] ", "y")
    await screen.expect(f"The certificate is pinned in {pinned}")
    await screen.expect(r"Log in with password or token")
    await screen.stream.send_all(b"\x04")  # Ctrl-D: the seller stops here
    await screen.rest()
    assert screen.process.returncode == 1
    assert pinned.read_text().split() == [url.split("/")[2], shown]
    assert stat.S_IMODE(pinned.stat().st_mode) == 0o640
    assert pinned.stat().st_gid == pwd.getpwnam(PANEL_UNIT).pw_gid  # the daemon reads it

    again = await setup_to_the_login()
    await again.expect(f"The certificate is already pinned \\({shown}\\)")
    await again.expect(r"Log in with password or token")
    await again.stream.send_all(b"\x04")
    await again.rest()


PANEL_UNIT = "qbt_s6unit"
PANEL_PASSWORD = "Adm1n-Pa55word"  # noqa: S105 - the fake's admin


@pytest.fixture(params=["3x-ui 3.4.0", "pasarguard"])
async def fake_panel(request: pytest.FixtureRequest, nursery: trio.Nursery) -> Any:
    kind = request.param
    if kind.startswith("3x-ui"):
        fake: Any = FakeXui(kind.split()[1], password=PANEL_PASSWORD)
        fake.add_inbound("vless", remark="VLESS WS")
        fake.add_inbound("vless", remark="VLESS gRPC")
        fake.add_inbound("trojan", remark="Trojan WS")
    else:
        fake = FakeMarzban(kind, password=PANEL_PASSWORD)
    fake.kind = kind.split()[0]
    await nursery.start(fake.serve)
    return fake


async def test_setup_server_adds_a_panel_server_checked_live_and_the_shop_sells_on_it(
        telegram, pakasir, place, linux_users, tmp_path, fake_panel):
    """A configured shop gets a panel server: the address checked, a wrong password
    refused by the panel itself, the inbounds or groups listed, a mix of protocols or a
    disabled group refused; the password lands in secrets.env only, and a daemon started on
    the files sells an account on the panel."""
    kind = fake_panel.kind
    linux_users.append(PANEL_UNIT)
    folder, ledger = place / "etc", place / "state" / "ledger.sqlite3"
    unit, _ = install.unit_account(PANEL_UNIT)
    install.folder(ledger.parent, unit.pw_uid, unit.pw_gid, 0o700)
    configured_shop(folder, ledger, telegram, pakasir)
    screen = await Screen.start(
        [sys.executable, "-m", "qrisbot", "setup", "server", "--config",
         str(folder / "config.toml"), "--user", PANEL_UNIT, "--lang", "en"],
        environment(telegram, pakasir))
    await screen.answer(r"Kind of server: .*\[ssh\]: ", "panel")
    await screen.answer(r"Panel \(3x-ui, marzban, pasarguard\) \[3x-ui\]: ", kind)
    await screen.answer(r"The panel's address .*: ", "http://203.0.113.9:2053/")
    await screen.expect("http:// only for a panel on this machine")
    await screen.answer(r"The panel's address .*: ", fake_panel.url)
    if kind != "marzban":
        await screen.answer(r"Log in with password or token .*\[password\]: ", "")
    await screen.answer(r"admin username \[admin\]: ", "")
    await screen.answer(r"admin password .*: ", "wrong-Pa55word-1")
    await screen.expect(r"✗ .*\nType the address and login again")
    await screen.answer(r"The panel's address .*: ", "")
    if kind != "marzban":
        await screen.answer(r"Log in with password or token .*\[password\]: ", "")
    await screen.answer(r"admin username \[admin\]: ", "")
    await screen.answer(r"admin password .*: ", PANEL_PASSWORD)
    await screen.expect("Logged in to the panel 127.0.0.1:")
    if kind == "3x-ui":
        await screen.expect(r"1: VLESS WS \(vless, port \d+\)\n.*2: VLESS gRPC.*\n.*"
                            r"3: Trojan WS \(trojan")
        await screen.answer(r"Ids of the inbounds .*: ", "1,3")
        await screen.expect(r"mix protocols \(trojan, vless\)")
        await screen.answer(r"Ids of the inbounds .*: ", "1,2")
        await screen.expect("Protocol: vless")
    else:
        await screen.expect(r"1\. Default: .*\n.*2\. VLESS only: VLESS TCP REALITY, VLESS WS"
                            r"\n.*3\. Old \(disabled\)")
        await screen.answer(r"Numbers to sell .*: ", "3")
        await screen.expect(r"3 cannot be sold \(disabled\)")
        await screen.answer(r"Numbers to sell .*: ", "2")
        await screen.answer(r"Protocol to sell .*\[vless\]: ", "")
    await screen.answer(r"Server name .*\[Server 1\]: ", "Amsterdam")
    await screen.answer(r"Domain for buyers .*\[127\.0\.0\.1\]: ", "nl1.example.com")
    suggested = ("https://127.0.0.1:2096/sub/" if kind == "3x-ui"
                 else fake_panel.url.rstrip("/"))
    await screen.answer(rf"\(sub_url\) \[{re.escape(suggested)}\]: ", "")
    await screen.answer(r"Price per month \(rupiah\): ", "15.000")
    await screen.expect(r"A buyer pays Rp15\.\d{3} for 1 month")
    await screen.answer(r"Capacity .*\[50\]: ", "")
    await screen.answer(r"Traffic per paid month .*\[0\]: ", "100")
    if kind == "3x-ui":
        await screen.answer(r"IPs at once .*\[0\]: ", "2")
    else:
        await screen.expect("A pasarguard panel has no IP limit")
    await screen.expect(r"Server amsterdam saved: Amsterdam, Rp15\.000/month")
    await screen.answer(r"Add another server\? \[y/N\] ", "")
    rest = await screen.rest()
    assert screen.process.returncode == 0, screen.transcript[-3000:]
    assert "✗" not in rest, rest

    written = (folder / "config.toml").read_text()
    assert PANEL_PASSWORD not in screen.transcript and PANEL_PASSWORD not in written
    assert "# the seller's own note" in written
    secrets = SecretsFile.load(folder / "secrets.env")
    assert secrets.get("QRISBOT_PANEL_AMSTERDAM_PASSWORD") == PANEL_PASSWORD
    env = secrets.environment()
    [server] = config.load(folder / "config.toml", env).servers
    assert server.panel is not None
    assert (server.id, server.protocol, server.domain, server.quota_gb, server.ip_limit) == (
        "amsterdam", "vless", "nl1.example.com", 100, 2 if kind == "3x-ui" else 0)
    assert (server.panel.type, server.panel.url, server.panel.sub_url) == (
        kind, fake_panel.url, suggested)
    assert (server.panel.inbound_ids, server.panel.groups) == (
        ((1, 2), ()) if kind == "3x-ui" else ((), ("VLESS only",)))

    daemon = Daemon(folder / "config.toml", tmp_path / "daemon.log")
    await daemon.start(**env)
    try:
        buyer = Buyer(telegram, 8306)
        qr, order_id = await buyer.buys(username="qbt_s6buy", password=None, months=1,
                                        server="amsterdam", within=STEP)
        assert pakasir.pay(order_id)
        account = await buyer.sees("Akun VLESS Anda siap", STEP)
    finally:
        assert await daemon.stop() == 0
    if kind == "3x-ui":
        assert [c["email"] for c in fake_panel.clients(1)] == ["qbt_s6buy"]
    else:
        assert fake_panel.users["qbt_s6buy"].group_ids == [2]
    assert "vless://" in account.text

    # Run again: the server is edited in place (a new price), Enter keeps the password and
    # every other answer, the seller's note stays.
    again = await Screen.start(
        [sys.executable, "-m", "qrisbot", "setup", "--config", str(folder / "config.toml"),
         "--user", PANEL_UNIT, "--lang", "en"], environment(telegram, pakasir))
    await again.answer(r"Shop name .*\[Toko Uji\]: ", "")
    await again.answer(r"Bot token .*\(Enter: keep the current one\): ", "")
    await again.answer(r"Add another admin with /start\? \[y/N\] ", "")
    await again.answer(rf"Pakasir project slug \[{pakasir.project}\]: ", "")
    await again.answer(r"Pakasir API key .*\(Enter: keep the current one\): ", "")
    await again.answer(r"Change the server amsterdam \(vless, 127\.0\.0\.1\)\? \[y/N\] ", "y")
    await again.answer(rf"Panel .*\[{kind}\]: ", "")
    await again.answer(r"The panel's address .*: ", "")
    if kind != "marzban":
        await again.answer(r"Log in with password or token .*\[password\]: ", "")
    await again.answer(r"admin username \[admin\]: ", "")
    await again.answer(r"admin password .*\(Enter: keep the current one\): ", "")
    await again.expect("Logged in to the panel")
    await again.answer(r"Ids of the inbounds .*\[1,2\]: " if kind == "3x-ui"
                       else r"Numbers to sell .*\[2\]: ", "")
    if kind != "3x-ui":
        await again.answer(r"Protocol to sell .*\[vless\]: ", "")
    for prompt in (r"Server name .*\[Amsterdam\]: ", r"Domain for buyers .*: ",
                   r"\(sub_url\) .*: "):
        await again.answer(prompt, "")
    await again.answer(r"Price per month \(rupiah\) \[15000\]: ", "20000")
    await again.answer(r"Capacity .*\[50\]: ", "")
    await again.answer(r"Traffic per paid month .*\[100\]: ", "")
    if kind == "3x-ui":
        await again.answer(r"IPs at once .*\[2\]: ", "")
    await again.answer(r"Add another server\? \[y/N\] ", "")
    rest = await again.rest()
    assert again.process.returncode == 0, again.transcript[-3000:]
    assert PANEL_PASSWORD not in again.transcript
    assert "# the seller's own note" in (folder / "config.toml").read_text()
    [edited] = config.load(folder / "config.toml", env).servers
    assert edited == attrs.evolve(server, price_per_month=20000)
    assert SecretsFile.load(folder / "secrets.env").environment() == env


def assert_owned_as_the_unit_needs(place: Path, folder: Path, ledger: Path,
                                   unit: pwd.struct_passwd) -> list[Path]:
    """Every file with a secret is closed to others; the daemon's files are the unit's
    group's to read (never to write); secrets.env is root's alone. Returns the files the
    daemon reads."""
    def mode(path: Path) -> tuple[int, int, int]:
        st = path.stat()
        return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid

    assert mode(folder) == (0o750, 0, unit.pw_gid)
    assert mode(folder / "secrets.env") == (0o600, 0, 0)
    read_by_the_unit = [folder / n for n in ("config.toml", "id_ed25519", "known_hosts")]
    for path in read_by_the_unit:
        assert mode(path) == (0o640, 0, unit.pw_gid), path
    assert mode(ledger.parent)[:2] == (0o700, unit.pw_uid)
    token_or_key = re.compile(r"QRISBOT_|PRIVATE KEY|TEST-token|pk-test")
    for path in place.rglob("*"):
        if path.is_file() and token_or_key.search(path.read_text(errors="replace")):
            assert mode(path)[0] & 0o007 == 0, path
    assert "TEST-token" not in (folder / "config.toml").read_text()
    assert "pk-test" not in (folder / "config.toml").read_text()
    return read_by_the_unit


def test_the_layout_servers_detect_found_is_proposed_and_the_sellers_keys_stay() -> None:
    from qrisbot.config import Server, SshAccess
    from qrisbot.provision.ssh.detect import Findings
    from qrisbot.setup.server_step import _entry, _structured

    access = SshAccess(host="203.0.113.5", key_file="/k", known_hosts="/kh")
    probe = Server(id="setup", name="setup", protocol="ssh", domain="x",
                   price_per_month=500, ssh=access)  # type: ignore[arg-type]
    rmbl = Findings(probe, files=("/etc/xray/config.json",),
                    markers={"/etc/xray/config.json": ("#vless", "#vlessgrpc")},
                    prefixes={"/etc/xray/config.json": {"#vl": (4, 3)}},
                    lists=("/etc/xray/ssh",))
    made = _structured(_entry({}, access, "vless", rmbl))
    assert made.xray is not None and made.xray.layout == "rmbl"
    assert made.xray.prefixes == ("#vl", "#vlg") and made.xray.comment_uuid
    # An SSH server of the same family keeps RMBL's SSH list; a server being edited keeps
    # the keys the seller set, and loses only the table its new protocol cannot have.
    ssh = _structured(_entry({"xray": {"port_tls": 8443}}, access, "ssh", rmbl))
    assert ssh.linux is not None and ssh.linux.account_list == "/etc/xray/ssh"
    assert ssh.xray is None
    edited = _entry({"xray": {"port_tls": 8443, "layout": "custom"}, "enabled": False},
                    access, "vless", rmbl)
    assert edited["xray"] == {"port_tls": 8443, "layout": "rmbl"}
    assert edited["enabled"] is False
    lunatic = Findings(probe, files=("/etc/xray/vle.json", "/etc/xray/config.json"),
                       markers={"/etc/xray/vle.json": ("#vless", "#vlessgrpc")})
    assert _entry({}, access, "vless", lunatic)["xray"] == {"layout": "lunatic"}
    unknown = Findings(probe, files=("/usr/local/etc/xray/config.json",),
                       markers={"/usr/local/etc/xray/config.json": ("#vless",)})
    assert _entry({}, access, "vless", unknown)["xray"] == {
        "config": "/usr/local/etc/xray/config.json"}
    assert "xray" not in _entry({}, access, "vmess", unknown)
