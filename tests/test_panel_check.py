"""`qrisbot servers check` and `check-config --online` on panel servers, through the CLI's
own entry point against the loopback 3x-ui, Marzban and PasarGuard fakes (and a TLS panel
for pinned certificates): the lines a seller reads, the exit status, and no secret."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from daemon import write_config
from sshd import free_port
from test_panel_http import certificate, openssl_fingerprint, tls_panel
from test_panel_shop import Panel

from qrisbot.cli import main
from qrisbot.provision.panels import pins
from qrisbot.testing import config_for
from qrisbot.testing.fake_marzban import GROUPS, FakeMarzban
from qrisbot.testing.marzban_users import Group

PASSWORDS = ("s3cret-pw", "Adm1n-Pa55word")
VERSION = {"3x-ui 2.8.5": "3x-ui 2.x", "3x-ui 3.0.2": "3x-ui 3.0", "3x-ui 3.4.0": "3x-ui 3.1+",
           "marzban": "Marzban 0.8.4", "pasarguard": "PasarGuard 5.2.1"}


def config_file(tmp_path: Path, entry: dict[str, Any], telegram: Any = None,
                pakasir: Any = None) -> Path:
    raw = config_for(telegram.url if telegram else "https://api.telegram.org",
                     telegram.token if telegram else "123:abc",
                     pakasir.url if pakasir else "https://app.pakasir.com",
                     pakasir.project if pakasir else "toko",
                     pakasir.api_key if pakasir else "key",
                     str(tmp_path / "ledger.sqlite3"), [entry])
    path = write_config(tmp_path / "config.toml", raw)
    path.chmod(0o600)
    return path


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """The CLI run as the seller runs it (in a thread: it runs its own trio loop)."""
    status = await trio.to_thread.run_sync(partial(main, list(argv)))
    out, err = capsys.readouterr()
    for secret in PASSWORDS:
        assert secret not in out + err
    return status, out + err


async def servers_check(capsys, tmp_path: Path, entry: dict[str, Any]) -> tuple[int, str]:
    return await cli(capsys, "servers", "check", "-c", str(config_file(tmp_path, entry)))


async def serving(nursery: trio.Nursery, kind: str, **fake: Any) -> Panel:
    made = Panel(kind)
    if fake:
        made.fake = FakeMarzban(kind, **fake)  # type: ignore[arg-type]
    await nursery.start(made.fake.serve)
    return made


@pytest.mark.parametrize("kind", list(VERSION))
async def test_a_good_panel_passes_with_its_version_and_inbounds(nursery, tmp_path, capsys,
                                                                 kind):
    panel = await serving(nursery, kind)
    status, out = await servers_check(capsys, tmp_path, panel.entry())
    assert status == 0, out
    origin = pins.origin(panel.fake.url)
    assert f"nl1 (vless) {kind.split()[0]} panel at {origin}: OK" in out
    assert f"  ok      reachable: connected to {origin} in " in out
    assert "  ok      TLS: none needed, plain http on this machine (loopback)" in out
    assert "  ok      logged in (password)" in out
    assert f"  ok      version: {VERSION[kind]}\n" in out
    if kind.startswith("3x-ui"):
        assert "  ok      inbound 1 (vless-1): vless, port 20001" in out
        assert "  ok      inbound 2 (vless-2): vless, port 20002" in out
    elif kind == "marzban":
        assert "  ok      inbound 'VLESS TCP REALITY': vless" in out
    else:
        assert ("  ok      group 'VLESS only': enabled, vless inbounds VLESS TCP REALITY, "
                "VLESS WS") in out
    assert "FAILED" not in out and "MISSING" not in out


@pytest.mark.parametrize("kind", ["3x-ui 2.8.5", "3x-ui 3.4.0", "marzban", "pasarguard"])
async def test_a_wrong_password_is_named_with_where_to_put_the_right_one(
        nursery, tmp_path, capsys, kind):
    panel = await serving(nursery, kind)
    entry = panel.entry()
    entry["panel"]["password"] = "Wr0ng-Pa55word!!"
    status, out = await servers_check(capsys, tmp_path, entry)
    assert status == 1
    assert "nl1 (vless)" in out and ": PROBLEMS" in out
    (line,) = [x for x in out.splitlines() if "logged in" in x]
    assert line.startswith("  FAILED  logged in: nl1: ")
    assert line.endswith("check panel.username and panel.password (or "
                         "QRISBOT_PANEL_NL1_PASSWORD)") and ".:" not in line
    assert "Wr0ng-Pa55word!!" not in out
    assert "inbound" not in out and "group" not in out  # nothing looked at without a login


@pytest.mark.parametrize("kind", ["3x-ui 3.0.2", "marzban", "pasarguard"])
async def test_a_configured_inbound_or_group_the_panel_lacks_is_missing(
        nursery, tmp_path, capsys, kind):
    panel = await serving(nursery, kind)
    entry = panel.entry()
    if kind.startswith("3x-ui"):
        entry["panel"]["inbound_ids"] = [1, 7]
        expected = "  MISSING inbound 7: not on the panel (panel.inbound_ids); the panel has: " \
                   "1 (vless), 2 (vless)"
    elif kind == "marzban":
        entry["panel"]["inbounds"] = ["VLESS TCP REALITY", "VLESS gRPC"]
        expected = ("  MISSING inbound 'VLESS gRPC': not on the panel (panel.inbounds); it has:"
                    " Trojan WS (trojan), VLESS TCP REALITY (vless), VLESS WS (vless), VMess "
                    "WS (vmess)")
    else:
        entry["panel"]["groups"] = ["VLESS only", "Premium"]
        expected = ("  MISSING group 'Premium': not on the panel (panel.groups); it has: "
                    "Default, Old, VLESS only")
    status, out = await servers_check(capsys, tmp_path, entry)
    assert status == 1
    assert expected in out.splitlines(), out


@pytest.mark.parametrize("kind", ["3x-ui 2.8.5", "marzban", "pasarguard"])
async def test_an_inbound_of_another_protocol_fails(nursery, tmp_path, capsys, kind):
    if kind == "pasarguard":
        panel = await serving(nursery, kind,
                              groups=(*GROUPS, Group(4, "Trojan only", ("Trojan WS",))))
    else:
        panel = await serving(nursery, kind)
    entry = panel.entry()
    if kind.startswith("3x-ui"):
        panel.fake.add_inbound("trojan")
        entry["panel"]["inbound_ids"] = [1, 3]
        expected = ("  FAILED  inbound 3 (trojan-3): it is trojan, the server sells vless: put a "
                    "vless inbound's id in panel.inbound_ids")
    elif kind == "marzban":
        entry["panel"]["inbounds"] = ["VMess WS"]
        expected = ("  FAILED  inbound 'VMess WS': it is vmess, the server sells vless: name a "
                    "vless inbound in panel.inbounds")
    else:
        entry["panel"]["groups"] = ["Trojan only"]
        expected = ("  FAILED  group 'Trojan only': no vless inbound in it (it has: Trojan WS): "
                    "add one to the group on the panel")
    status, out = await servers_check(capsys, tmp_path, entry)
    assert status == 1
    assert expected in out.splitlines(), out


async def test_marzban_without_configured_inbounds_needs_one_of_the_protocol(
        nursery, tmp_path, capsys):
    panel = await serving(nursery, "marzban")
    entry = panel.entry()
    del entry["panel"]["inbounds"]
    status, out = await servers_check(capsys, tmp_path, entry)
    assert status == 0
    assert ("  ok      inbounds: none configured, so every vless inbound: VLESS TCP REALITY, "
            "VLESS WS") in out
    panel.fake.inbounds = {"VMess WS": "vmess"}
    status, out = await servers_check(capsys, tmp_path, entry)
    assert status == 1
    assert ("  MISSING inbounds: the panel has no vless inbound (it has: VMess WS (vmess)): "
            "add one in its core settings") in out


async def test_a_disabled_group_fails(nursery, tmp_path, capsys):
    panel = await serving(nursery, "pasarguard")
    entry = panel.entry()
    entry["panel"]["groups"] = ["VLESS only", "Old"]
    status, out = await servers_check(capsys, tmp_path, entry)
    assert status == 1
    assert "  ok      group 'VLESS only': enabled" in out
    assert ("  FAILED  group 'Old': disabled on the panel: its users get no inbound; enable it "
            "there") in out.splitlines()


async def test_an_unreachable_panel_says_so_in_one_line(nursery, tmp_path, capsys):
    panel = Panel("3x-ui 3.4.0")  # never started
    entry = panel.entry()
    port = free_port()
    entry["panel"]["url"] = f"http://127.0.0.1:{port}/AbCdEf/"
    status, out = await servers_check(capsys, tmp_path, entry)
    assert status == 1
    assert out.splitlines() == [
        f"nl1 (vless) 3x-ui panel at 127.0.0.1:{port}: PROBLEMS",
        f"  FAILED  reachable: cannot connect to 127.0.0.1:{port} (Connection refused): is "
        "the panel running, and panel.url its address and port?"]


async def test_a_pinned_certificate_that_changed_is_refused_before_any_password(
        nursery, tmp_path, capsys):
    key, cert = certificate(tmp_path, "panel")
    port = await tls_panel(nursery, key, cert)
    url = f"https://127.0.0.1:{port}/AbCdEf/"
    entry = Panel("3x-ui 3.4.0").entry()
    entry["panel"] |= {"url": url, "pins": str(tmp_path / "panel_pins")}
    # Not pinned yet: what to run.
    status, out = await servers_check(capsys, tmp_path, entry)
    assert status == 1
    assert "  FAILED  TLS: certificate not trusted (self-signed certificate): compare and pin "\
           "it: qrisbot servers trust nl1" in out.splitlines()
    # Pinned, then the panel presents another certificate.
    old_key, old_cert = certificate(tmp_path, "old")
    pins.add(tmp_path / "panel_pins", url, openssl_fingerprint(old_cert))
    status, out = await servers_check(capsys, tmp_path, entry)
    assert status == 1
    assert (f"  FAILED  TLS: the certificate ({openssl_fingerprint(cert)}) is NOT the one "
            f"pinned ({openssl_fingerprint(old_cert)}): if you replaced the panel's "
            f"certificate, delete its line in {tmp_path / 'panel_pins'} and run qrisbot "
            "servers trust nl1; otherwise someone may be in the middle") in out.splitlines()
    assert "logged in" not in out  # no password sent to whoever that is
    # Pinned and matching: the TLS line passes (this loopback TLS panel is no 3x-ui).
    pins.add(tmp_path / "panel_pins", url, openssl_fingerprint(cert))
    status, out = await servers_check(capsys, tmp_path, entry)
    assert f"  ok      TLS: certificate pinned in {tmp_path / 'panel_pins'} and matching" in out


async def test_check_config_online_checks_panel_servers_in_one_line_each(
        nursery, tmp_path, capsys, telegram, pakasir):
    good = await serving(nursery, "3x-ui 3.4.0")
    path = config_file(tmp_path, good.entry(), telegram, pakasir)
    status, out = await cli(capsys, "check-config", "--online", "-c", str(path))
    assert status == 0, out
    origin = pins.origin(good.fake.url)
    (line,) = [x for x in out.splitlines() if x.startswith(("✓ server nl1", "✗ server nl1"))]
    assert line.startswith(f"✓ server nl1: 3x-ui panel at {origin}: reachable: connected to ")
    assert line.endswith("logged in (password); version: 3x-ui 3.1+; inbound 1 (vless-1): "
                         "vless, port 20001; inbound 2 (vless-2): vless, port 20002")
    assert "not checked online" not in out

    bad = await serving(nursery, "pasarguard")
    entry = bad.entry()
    entry["panel"]["groups"] = ["Old"]
    path = config_file(tmp_path, entry, telegram, pakasir)
    status, out = await cli(capsys, "check-config", "--online", "-c", str(path))
    assert status == 1
    assert (f"✗ server nl1: pasarguard panel at {pins.origin(bad.fake.url)}: group 'Old': "
            "disabled on the panel: its users get no inbound; enable it there. See qrisbot "
            "servers check nl1") in out.splitlines()
    assert sum(x.startswith("✓") for x in out.splitlines()) >= 3  # telegram, pakasir, ledger
    assert os.stat(path).st_mode & 0o077 == 0


@pytest.mark.parametrize("kind", ["3x-ui 3.0.2", "pasarguard"])
async def test_an_api_token_logs_in_and_a_revoked_one_is_named(nursery, tmp_path, capsys,
                                                               kind):
    panel = await serving(nursery, kind)
    if kind == "pasarguard":
        token = panel.fake.make_api_key()
    else:
        token = panel.fake.api_token = "xui-api-token-5f1c2e9a7b"
    entry = panel.entry()
    entry["panel"] |= {"token": token, "password": ""}
    status, out = await servers_check(capsys, tmp_path, entry)
    assert status == 0, out
    assert f"  ok      logged in ({'API key' if kind == 'pasarguard' else 'API token'})" in out
    entry["panel"]["token"] = token[:-4] + "0000"
    status, out = await servers_check(capsys, tmp_path, entry)
    assert status == 1 and token[:-4] not in out
    (line,) = [x for x in out.splitlines() if "logged in" in x]
    assert line.startswith("  FAILED  logged in: nl1: the panel refused the API ")
    assert line.endswith(": check panel.token (or QRISBOT_PANEL_NL1_TOKEN)")
