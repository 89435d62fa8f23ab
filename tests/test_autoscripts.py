"""Autoscript families' layouts (classic, RMBL, Lunatic) on the real sshd: what qrisbot
writes is what the family's own tools read (../shared/reference/autoscripts.md).

Each world is laid out as the family does it (config with comments, a websocket and a gRPC
inbound per protocol, an account already there, a locked one for Lunatic); `xp` below is a
copy of the family's daily expiry logic, reproducing its date rule: an account is deleted
on the date its comment line carries. qrisbot writes the day after the last day and the
grace period there, so the family's cron and the shop remove an account on the same day.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import uuid
from pathlib import Path

import attrs
import pytest
import trio
from conftest import server_entry

from qrisbot import config
from qrisbot.provision import Account, Extension, Removal, Removed, SshProvisioner
from qrisbot.testing import config_for

LAST_DAY = dt.date(2027, 1, 31)
GRACE = 1
ALICE = "33333333-3333-3333-3333-333333333333"  # a buyer the seller had before qrisbot
ALICE_LISTED = "#vle# alice 2030-01-01\n"  # her line in Lunatic's account list

WORLD = """{
  "log": {"loglevel": "warning"},
  "inbounds": [
    {"port": 10001, "listen": "127.0.0.1", "protocol": "vless",
     "settings": {"decryption": "none", "clients": [
      {"id": "11111111-1111-1111-1111-111111111111"
#vless
%(ws)s
},{"id": "%(alice)s","email": "alice"
      }]}, "streamSettings": {"network": "ws", "wsSettings": {"path": "/vless"}}},
    {"port": 10002, "listen": "127.0.0.1", "protocol": "vless",
     "settings": {"decryption": "none", "clients": [
      {"id": "11111111-1111-1111-1111-111111111111"
#vlessgrpc
%(grpc)s
},{"id": "%(alice)s","email": "alice"
      }]}, "streamSettings": {"network": "grpc", "grpcSettings": {"serviceName": "vless-grpc"}}}
  ],
  "outbounds": [{"protocol": "freedom"}]
}
"""

# The family's expiry cron (`xp`), as its scripts do it: for every comment line, days left
# = (date - today) / 86400 on the server's date; at 0 or less, delete from the comment
# line to the next client line (`},{`, commented out or not).
# RMBL's also removes the account's quota and IP-limit files.
XP = r"""
today=$(date -d "$TODAY" +%s)
for p in $PREFIXES; do
  grep -E "^$p [^ ]+ [0-9-]+" "$CONFIG" | cut -d ' ' -f 2-3 | sort -u | while read -r user exp; do
    left=$(( ($(date -d "$exp" +%s) - today) / 86400 ))
    if [ "$left" -le 0 ]; then
      sed -i "/^$p $user $exp\( \|\$\)/,/^#\{0,1\}},{/d" "$CONFIG"
      [ -z "$USER_FILES" ] || rm -f "$USER_FILES/$user" "$USER_FILES/${user}IP"
    fi
  done
done
"""
# The comment line(s) of an account, by family: (websocket, gRPC) prefixes, UUID or not.
FAMILY = {"classic": (("#&", "#&"), False), "lunatic": (("#&", "#&"), False),
          "rmbl": (("#vl", "#vlg"), True)}


def comments(layout: str, user: str, date: str, secret: str) -> tuple[str, str]:
    prefixes, with_uuid = FAMILY[layout]
    return tuple(f"{p} {user} {date}" + (f" {secret}" if with_uuid else "")
                 for p in prefixes)  # type: ignore[return-value]


def layout_text(layout: str) -> str:
    ws, grpc = comments(layout, "alice", "2030-01-01", ALICE)
    return WORLD % {"alice": ALICE, "ws": ws, "grpc": grpc}


def world(tmp_path: Path, layout: str, sshd) -> tuple[Path, config.Server]:
    name = {"classic": "config.json", "lunatic": "vle.json", "rmbl": "config.json"}[layout]
    path = tmp_path / name
    path.write_text(layout_text(layout))
    xray = {"layout": layout, "config": str(path), "restart": "true"}
    if layout == "rmbl":  # its per-user files, in the test's folder
        xray |= {"user_files": str(tmp_path / "vless"), "usage_files": str(tmp_path / "used"),
                 "quota_gb": 5, "ip_limit": 2}
    if layout == "lunatic":  # its account list, in the test's folder
        (tmp_path / "vless").mkdir()
        (tmp_path / "vless" / ".vless.db").write_text(ALICE_LISTED)
        xray |= {"account_list": str(tmp_path / "vless" / ".vless.db")}
    raw = config_for("http://127.0.0.1:1", "1:abcdefghijk", "http://127.0.0.1:1", "p", "k",
                     str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", protocol="vless", ssh=sshd.access(), xray=xray)],
                     {"grace_days": GRACE})
    (server,) = config.parse(raw, {}).servers
    return path, server


def xp(server: config.Server, today: dt.date) -> None:
    assert server.xray is not None
    prefixes = " ".join(sorted(set(server.xray.prefixes or (server.xray.prefix,))))
    subprocess.run(["bash", "-c", XP], check=True, env={
        "CONFIG": server.xray.config, "TODAY": today.isoformat(), "PATH": "/usr/bin:/bin",
        "PREFIXES": prefixes, "USER_FILES": server.xray.user_files})


def v2ray_accepts(path: Path, tmp_path: Path) -> None:
    """Debian's v2ray reads the commented layout; its 4.34 predates the gRPC transport, so
    the gRPC inbounds are checked as websocket ones in a copy."""
    copy = tmp_path / "v2ray-check.json"
    copy.write_text(path.read_text().replace(
        '"network": "grpc", "grpcSettings": {"serviceName": "vless-grpc"}',
        '"network": "ws", "wsSettings": {"path": "/vless-grpc"}'))
    done = subprocess.run([shutil.which("v2ray") or "v2ray", "-test", "-config", str(copy)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def account(username: str, secret: str, order_id: str) -> Account:
    return Account(order_id=order_id, username=username, secret=secret, expires=LAST_DAY,
                   months=1, days=30)


@pytest.mark.parametrize("layout", ["classic", "lunatic", "rmbl"])
async def test_the_familys_expiry_cron_and_the_shop_agree_on_each_account(
    layout, sshd, tmp_path
):
    path, server = world(tmp_path, layout, sshd)
    assert server.xray is not None and server.xray.markers == ("#vless", "#vlessgrpc")
    written = (LAST_DAY + dt.timedelta(days=GRACE + 1)).isoformat()
    provisioner = SshProvisioner()
    bob, bobby = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(provisioner.create, server, account("bob", bob, "VPN1"))
            nursery.start_soon(provisioner.create, server, account("bobby", bobby, "VPN2"))
        text = path.read_text()
        # After both markers, in the family's own line format, dated for its cron.
        for name, secret in (("bob", bob), ("bobby", bobby)):
            lines = comments(layout, name, written, secret)
            for comment in lines:
                assert text.count(f"{comment}\n}},{{\"id\": \"{secret}\"") == lines.count(
                    comment), comment
        v2ray_accepts(path, tmp_path)
        files = tmp_path / "vless"
        if layout == "rmbl":  # the quota (bytes) and IP limit its menu and daemons read
            assert (files / "bob").read_text() == f"{5 * 1024 ** 3}\n"
            assert (files / "bobIP").read_text() == "2\n"
        listed = files / ".vless.db"
        if layout == "lunatic":  # the list its menu reads (in the order they were made)
            assert sorted(listed.read_text().splitlines()) == [
                ALICE_LISTED.strip(), f"#vle# bob {written}", f"#vle# bobby {written}"]

        # bob renews: only his lines change; bobby's stay.
        renewed = LAST_DAY + dt.timedelta(days=30)
        await provisioner.extend(server, Extension(
            order_id="VPN3", made_by="VPN1", username="bob", secret=bob, expires=renewed))
        later = (renewed + dt.timedelta(days=GRACE + 1)).isoformat()
        text = path.read_text()
        if layout == "lunatic":
            assert sorted(listed.read_text().splitlines()) == [
                ALICE_LISTED.strip(), f"#vle# bob {later}", f"#vle# bobby {written}"]
        lines = (*comments(layout, "bob", later, bob), *comments(layout, "bobby", written, bobby))
        for comment in lines:
            assert text.count(f"{comment}\n") == lines.count(comment), comment

        # The family's cron on the last day and through the grace period: nobody goes.
        for day in (LAST_DAY, LAST_DAY + dt.timedelta(days=GRACE)):
            xp(server, day)
            assert path.read_text() == text, day
        # On the day the shop removes bobby (the day after the grace period), so does the
        # cron; renewed bob and the seller's alice stay, and Xray still reads the file.
        xp(server, LAST_DAY + dt.timedelta(days=GRACE + 1))
        after = path.read_text()
        assert "bobby" not in after and bobby not in after
        expected = text
        for comment in set(comments(layout, "bobby", written, bobby)):
            expected = expected.replace(
                f"{comment}\n}},{{\"id\": \"{bobby}\", \"email\": \"bobby\"\n", "")
        assert after == expected
        assert after.count(ALICE) == 2 + (2 if layout == "rmbl" else 0)
        v2ray_accepts(path, tmp_path)
        # The shop's own removal of bobby then finds it gone, which counts as removed.
        outcome = await provisioner.remove(server, [Removal(
            made_by="VPN2", username="bobby", secret=bobby, expires=LAST_DAY)])
        assert outcome == {"bobby": Removed.GONE} and path.read_text() == after
        # And its own removal of bob takes his lines (and files) only: the file is as the
        # seller had it.
        outcome = await provisioner.remove(server, [Removal(
            made_by="VPN1", username="bob", secret=bob, expires=renewed)])
        assert outcome == {"bob": Removed.GONE} and path.read_text() == layout_text(layout)
        if layout == "rmbl":
            assert sorted(p.name for p in files.iterdir()) == []
        if layout == "lunatic":
            assert listed.read_text() == ALICE_LISTED
    finally:
        provisioner.close()


async def test_a_locked_lunatic_account_renews_and_is_removed(sshd, tmp_path):
    """Lunatic locks an account over its IP limit by commenting out its client line; it is
    still an account."""
    path, server = world(tmp_path, "lunatic", sshd)
    provisioner = SshProvisioner()
    carol = str(uuid.uuid4())
    try:
        await provisioner.create(server, account("carol", carol, "VPN1"))
        # Locked as Lunatic does it: sed "/#& carol /{n;s/^/#/}"
        subprocess.run(["sed", "-i", "/^#& carol /{n;s/^/#/}", str(path)], check=True)
        locked = path.read_text()
        assert locked.count(f'#}},{{"id": "{carol}"') == 2
        renewed = LAST_DAY + dt.timedelta(days=30)
        await provisioner.extend(server, Extension(
            order_id="VPN2", made_by="VPN1", username="carol", secret=carol, expires=renewed))
        later = (renewed + dt.timedelta(days=GRACE + 1)).isoformat()
        assert path.read_text() == locked.replace(
            f"#& carol {(LAST_DAY + dt.timedelta(days=GRACE + 1)).isoformat()}\n",
            f"#& carol {later}\n")
        v2ray_accepts(path, tmp_path)
        outcome = await provisioner.remove(server, [Removal(
            made_by="VPN1", username="carol", secret=carol, expires=renewed)])
        assert outcome == {"carol": Removed.GONE}
        assert path.read_text() == layout_text("lunatic")  # exactly as before carol
        v2ray_accepts(path, tmp_path)
    finally:
        provisioner.close()


async def test_menu_made_names_are_imported_renewed_and_removed_as_spelled(
    sshd, tmp_path, capsys
):
    """The families' menus accept `[A-Za-z0-9_]+`: `Budi2779` and `20245161x` are imported
    as they are spelled, renewed and removed on their own lines. A name no family makes is
    still skipped; `budi2779` is not the shop's to make (Xray refuses a config with both)."""
    from qrisbot import operate_accounts
    from qrisbot.ledger import Ledger
    from qrisbot.provision import Presence, UsernameTaken

    path, server = world(tmp_path, "classic", sshd)
    budi, digits, ours = (str(uuid.uuid4()) for _ in range(3))
    menu = "".join(f'#& {name} 2030-01-01\n}},{{"id": "{secret}","email": "{name}"\n'
                   for name, secret in (("Budi2779", budi), ("20245161x", digits),
                                        ("bad-name", digits)))
    path.write_text(path.read_text().replace("#vless\n", f"#vless\n{menu}").replace(
        "#vlessgrpc\n", f"#vlessgrpc\n{menu}"))
    raw = config_for("http://127.0.0.1:1", "1:abcdefghijk", "http://127.0.0.1:1", "p", "k",
                     str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", protocol="vless", ssh=sshd.access(),
                                   xray={"layout": "classic", "config": str(path),
                                         "restart": "true"})], {"grace_days": GRACE})
    cfg = config.parse(raw, {})
    provisioner = SshProvisioner()
    try:
        before = path.read_text()
        assert await provisioner.presence(server, "budi2779") == Presence.TAKEN
        with pytest.raises(UsernameTaken):
            await provisioner.create(server, account("budi2779", ours, "VPN1"))
        assert path.read_text() == before
        assert await trio.to_thread.run_sync(operate_accounts.accounts_import, cfg, "sg1",
                                             False) == 0
        out = capsys.readouterr().out
        assert "new     Budi2779" in out and "new     20245161x" in out
        assert "bad-name" not in out and "2 line(s) skipped" in out
        imported = {a.username: a for a in Ledger.open(cfg.shop.database).accounts()}
        assert imported["Budi2779"].secret == budi
        renewed = imported["Budi2779"].expires_on + dt.timedelta(days=30)
        await provisioner.extend(server, Extension(
            order_id="VPN2", made_by="imported", username="Budi2779", secret=budi,
            expires=renewed))
        later = (renewed + dt.timedelta(days=GRACE + 1)).isoformat()
        assert path.read_text() == before.replace("#& Budi2779 2030-01-01\n",
                                                  f"#& Budi2779 {later}\n")
        v2ray_accepts(path, tmp_path)
        outcome = await provisioner.remove(server, [Removal(
            made_by="imported", username="20245161x", secret=digits,
            expires=imported["20245161x"].expires_on)])
        assert outcome == {"20245161x": Removed.GONE}
        text = path.read_text()
        assert "20245161x" not in text and "budi2779" not in text
        assert text.count(f"#& Budi2779 {later}\n") == 2
        v2ray_accepts(path, tmp_path)
    finally:
        provisioner.close()


# Classic: Shadowsocks accounts, after their own markers, use VMess's `###` prefix.
CLASSIC_VMESS_SS = """{
  "log": {"loglevel": "warning"},
  "inbounds": [
    {"port": 10011, "listen": "127.0.0.1", "protocol": "vmess",
     "settings": {"clients": [
      {"id": "11111111-1111-1111-1111-111111111111", "alterId": 0
#vmess
### carol 2030-01-01
},{"id": "%(carol)s","alterId": 0,"email": "carol"
      }]}, "streamSettings": {"network": "ws", "wsSettings": {"path": "/vmess"}}},
    {"port": 10012, "listen": "127.0.0.1", "protocol": "vmess",
     "settings": {"clients": [
      {"id": "11111111-1111-1111-1111-111111111111", "alterId": 0
#vmessgrpc
### carol 2030-01-01
},{"id": "%(carol)s","alterId": 0,"email": "carol"
      }]}, "streamSettings": {"network": "grpc", "grpcSettings": {"serviceName": "vmess-grpc"}}},
    {"port": 10013, "listen": "127.0.0.1", "protocol": "shadowsocks",
     "settings": {"method": "aes-128-gcm", "password": "seller-ss-pw", "clients": [
      {"method": "aes-128-gcm", "password": "seller-ss-pw"
#ssws
### carol 2030-02-01
},{"password": "%(carol_ss)s","method": "aes-128-gcm","email": "carol"
### dina 2030-03-01
},{"password": "%(dina_ss)s","method": "aes-128-gcm","email": "dina"
      }], "network": "tcp,udp"},
     "streamSettings": {"network": "ws", "wsSettings": {"path": "/ss-ws"}}},
    {"port": 10014, "listen": "127.0.0.1", "protocol": "shadowsocks",
     "settings": {"method": "aes-128-gcm", "password": "seller-ss-pw", "clients": [
      {"method": "aes-128-gcm", "password": "seller-ss-pw"
#ssgrpc
### carol 2030-02-01
},{"password": "%(carol_ss)s","method": "aes-128-gcm","email": "carol"
### dina 2030-03-01
},{"password": "%(dina_ss)s","method": "aes-128-gcm","email": "dina"
      }], "network": "tcp,udp"},
     "streamSettings": {"network": "grpc", "grpcSettings": {"serviceName": "ss-grpc"}}}
  ],
  "outbounds": [{"protocol": "freedom"}]
}
"""


async def test_classic_shadowsocks_accounts_are_not_taken_for_vmess_ones(
    sshd, tmp_path, capsys
):
    """A comment line belongs to the inbound whose marker it follows: on a classic VMess
    server, the Shadowsocks carol (and dina) are not imported, renewed or removed as VMess
    accounts; the VMess carol is, on her own lines only."""
    import re

    from qrisbot import operate_accounts
    from qrisbot.ledger import Ledger

    carol, carol_ss, dina_ss = (str(uuid.uuid4()) for _ in range(3))
    path = tmp_path / "config.json"
    original = CLASSIC_VMESS_SS % {"carol": carol, "carol_ss": carol_ss, "dina_ss": dina_ss}
    path.write_text(original)
    raw = config_for("http://127.0.0.1:1", "1:abcdefghijk", "http://127.0.0.1:1", "p", "k",
                     str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", protocol="vmess", ssh=sshd.access(),
                                   xray={"layout": "classic", "config": str(path),
                                         "restart": "true"})], {"grace_days": GRACE})
    cfg = config.parse(raw, {})
    (server,) = cfg.servers

    def v2ray_reads() -> None:  # 4.34 predates gRPC: those inbounds checked as websocket
        copy = tmp_path / "v2ray-check.json"
        copy.write_text(re.sub(r'"network": "grpc", "grpcSettings": \{"serviceName": '
                               r'"([^"]+)"\}', r'"network": "ws", "wsSettings": {"path": '
                               r'"/\1"}', path.read_text()))
        done = subprocess.run([shutil.which("v2ray") or "v2ray", "-test", "-config",
                               str(copy)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr

    v2ray_reads()
    assert await trio.to_thread.run_sync(operate_accounts.accounts_import, cfg, "sg1",
                                         False) == 0
    assert "1 imported" in capsys.readouterr().out
    (imported,) = Ledger.open(cfg.shop.database).accounts()
    assert (imported.username, imported.secret) == ("carol", carol)

    provisioner = SshProvisioner()
    try:
        renewed = imported.expires_on + dt.timedelta(days=30)
        await provisioner.extend(server, Extension(
            order_id="VPN1", made_by="imported", username="carol", secret=carol,
            expires=renewed))
        later = (renewed + dt.timedelta(days=GRACE + 1)).isoformat()
        text = path.read_text()
        assert text == original.replace("### carol 2030-01-01\n", f"### carol {later}\n")
        v2ray_reads()
        outcome = await provisioner.remove(server, [Removal(
            made_by="imported", username="carol", secret=carol, expires=renewed)])
    finally:
        provisioner.close()
    assert outcome == {"carol": Removed.GONE}
    # Her VMess lines went; her Shadowsocks namesake and dina stay as the seller had them.
    assert path.read_text() == original.replace(
        f'### carol 2030-01-01\n}},{{"id": "{carol}","alterId": 0,"email": "carol"\n', "")
    assert path.read_text().count("### carol 2030-02-01\n") == 2
    v2ray_reads()


def test_a_layout_fills_in_only_what_the_server_leaves_out():
    raw = config_for("http://127.0.0.1:1", "1:abcdefghijk", "http://127.0.0.1:1", "p", "k",
                     "/tmp/x.sqlite3", [
                         server_entry("a", protocol="trojan", xray={"layout": "classic"}),
                         server_entry("b", protocol="vmess", xray={"layout": "lunatic"}),
                         server_entry("c", protocol="vless", xray={
                             "layout": "lunatic", "config": "/opt/x.json",
                             "markers": ["#vl"]}),
                         server_entry("d", protocol="vless"),
                         server_entry("e", protocol="vmess", xray={"layout": "rmbl",
                                                                   "quota_gb": 10})],
                     {"grace_days": 2})
    a, b, c, d, e = (s.xray for s in config.parse(raw, {}).servers)
    assert (e.markers, e.prefixes, e.comment_uuid, e.user_files, e.usage_files,
            e.quota_gb) == (("#vmess", "#vmessgrpc"), ("#vm", "#vmg"), True, "/etc/vmess",
                            "/etc/limit/vmess", 10)
    assert (a.config, a.markers, a.prefix, a.date_offset) == (
        "/etc/xray/config.json", ("#trojanws", "#trojangrpc"), "#!", 3)
    assert (b.config, b.markers, b.prefix) == ("/etc/xray/vme.json", ("#vmess", "#vmessgrpc"),
                                               "###")
    assert (c.config, c.markers, c.prefix) == ("/opt/x.json", ("#vl",), "#&")
    # No layout: exactly as before (one marker, the date as the last day).
    assert (d.config, d.markers, d.prefix, d.date_offset) == (
        "/etc/xray/config.json", ("#vless",), "#&", 0)
    raw["servers"][0]["xray"]["date_offset"] = 5
    with pytest.raises(config.ConfigError, match="date_offset"):
        config.parse(raw, {})


# --- servers detect: which family laid out a server ------------------------------------------

def lay_out(root: Path, family: str) -> None:
    """The files a family leaves on a server, under `root`."""
    etc = root / "etc"
    (etc / "xray").mkdir(parents=True)
    text = layout_text(family).replace('"log"', '"api": {"tag": "api"}, "stats": {},\n  "log"')
    if family == "classic":
        (etc / "xray" / "config.json").write_text(text.replace(
            '"outbounds"', '"api-in": {"port": 10085, "protocol": "dokodemo-door"},\n'
                           '  "outbounds"'))
        (etc / "cron.d").mkdir()
        (etc / "cron.d" / "xp_otm").write_text("0 0 * * * root /usr/bin/xp\n")
    elif family == "rmbl":
        (etc / "xray" / "config.json").write_text(text)
        (etc / "xray" / "ssh").write_text("### olduser 2030-01-01 pass\n")
        (etc / "vless").mkdir()
        (etc / "vless" / "akundelete").write_text("")
    else:
        (etc / "xray" / "vle.json").write_text(text)
        (etc / "vless").mkdir()
        (etc / "vless" / ".vless.db").write_text("#vle# alice 2030-01-01\n")


@pytest.mark.parametrize("family", ["classic", "rmbl", "lunatic", None])
async def test_servers_detect_names_the_family_and_the_line_to_paste(
    family, sshd, tmp_path, capsys
):
    from qrisbot import operate

    root = tmp_path / "server"
    root.mkdir()
    if family is not None:
        lay_out(root, family)
    raw = config_for("http://127.0.0.1:1", "1:abcdefghijk", "http://127.0.0.1:1", "p", "k",
                     str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", protocol="vless", ssh=sshd.access())])
    cfg = config.parse(raw, {})
    status = await trio.to_thread.run_sync(operate.servers_detect, cfg, "sg1", str(root))
    out = capsys.readouterr().out
    assert status == 0, out
    if family is None:
        assert "looks like no known autoscript family" in out and "paste" not in out
        return
    assert f"sg1: looks like {family}" in out
    config_file = "/etc/xray/vle.json" if family == "lunatic" else "/etc/xray/config.json"
    assert f"config   {config_file}: markers #vless #vlessgrpc" in out
    prefix = "#vl" if family == "rmbl" else "#&"
    assert f"'{prefix} <user> <date>{', with UUID' if family == 'rmbl' else ''}'" in out
    assert f'xray = {{ layout = "{family}" }}' in out
    # The line pasted makes a configuration that matches what was found.
    raw["servers"][0]["xray"] = {"layout": family}
    (server,) = config.parse(raw, {}).servers
    assert server.xray is not None and server.xray.config == config_file
    if family == "classic":
        assert "stats API port 10085" in out and "expiry cron /etc/cron.d/xp_otm" in out


async def test_servers_detect_skips_output_it_does_not_expect(sshd, tmp_path, capsys):
    """File names, markers and prefixes from the server are data: lines with shell
    metacharacters or of the wrong shape are skipped, nothing is run from them."""
    from qrisbot import operate

    root = tmp_path / "server"
    lay_out(root, "classic")
    config_file = root / "etc" / "xray" / "config.json"
    config_file.write_text(config_file.read_text() + "\n#& $(touch /tmp/pwned) 2030-01-01\n"
                           "#`id` x 2030-01-01\n#" + "a" * 5000 + "\n")
    raw = config_for("http://127.0.0.1:1", "1:abcdefghijk", "http://127.0.0.1:1", "p", "k",
                     str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", protocol="vless", ssh=sshd.access())])
    status = await trio.to_thread.run_sync(operate.servers_detect, config.parse(raw, {}),
                                           "sg1", str(root))
    out = capsys.readouterr().out
    assert status == 0 and "sg1: looks like classic" in out
    assert not Path("/tmp/pwned").exists() and "pwned" not in out and "`id`" not in out


# --- accounts import: the seller's existing buyers -----------------------------------------

async def test_importing_a_servers_accounts_twice_records_them_once(sshd, tmp_path, capsys):
    from qrisbot import ledger as L
    from qrisbot import operate_accounts
    from qrisbot.ledger import Ledger

    path, server = world(tmp_path, "rmbl", sshd)
    zed = "44444444-4444-4444-4444-444444444444"
    # An account whose date has passed, a locked one, and lines that are no account.
    path.write_text(path.read_text().replace("#vless\n", (
        f"#vless\n#vl zed 2020-01-01 {zed}\n}},{{\"id\": \"{zed}\",\"email\": \"zed\"\n"
        f"#vl lockd 2030-06-01 {zed}\n#}},{{\"id\": \"{zed}\",\"email\": \"lockd\"\n"
        "#vl $(touch /tmp/pwned) 2030-01-01 x\n},{\"id\": \"x\"\n"
        f"#vl bad 2030-13-45 {zed}\n}},{{\"id\": \"{zed}\"\n"), 1))
    raw = config_for("http://127.0.0.1:1", "1:abcdefghijk", "http://127.0.0.1:1", "p", "k",
                     str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", protocol="vless", ssh=sshd.access(),
                                   xray={"layout": "rmbl", "config": str(path),
                                         "restart": "true"})],
                     {"grace_days": GRACE})
    cfg = config.parse(raw, {})
    Ledger.open(cfg.shop.database).close()

    def run(dry_run: bool) -> str:
        assert operate_accounts.accounts_import(cfg, "sg1", dry_run) == 0
        return capsys.readouterr().out

    dry = await trio.to_thread.run_sync(run, True)
    assert "3 account(s) on the server, 3 would be imported; 2 line(s) skipped" in dry
    ledger = Ledger.open(cfg.shop.database)
    assert ledger.accounts() == []
    first = await trio.to_thread.run_sync(run, False)
    assert "3 imported" in first and not Path("/tmp/pwned").exists()
    second = await trio.to_thread.run_sync(run, False)
    assert "0 imported" in second and second.count("known") == 3
    accounts = {a.username: a for a in ledger.accounts()}
    assert set(accounts) == {"alice", "zed", "lockd"}
    # The family's cron deletes on the date on the line: the day before is her last.
    assert accounts["alice"].expires_on == dt.date(2029, 12, 31)
    assert accounts["alice"].secret == ALICE and accounts["alice"].owner_user_id is None
    assert accounts["zed"].state == L.ACCOUNT_EXPIRED and accounts["lockd"].state == L.ACTIVE
    # They hold their names and places like the shop's own.
    assert ledger.username_held("sg1", "alice") and ledger.active_count("sg1") == 3
    # An expired one is removed like any other: by its name and its secret.
    outcome = await SshProvisioner().remove(server, [Removal(
        made_by="imported", username="zed", secret=zed, expires=accounts["zed"].expires_on)])
    assert outcome == {"zed": Removed.GONE} and "zed" not in path.read_text()


async def test_a_seller_imports_and_reconciles_before_the_daemon_ever_ran(
    sshd, tmp_path, capsys
):
    """No ledger yet (the daemon never ran): import, even a dry run, and reconcile make it
    as the daemon would, owner-only, and owned by the owner of its folder (the daemon's
    state directory) when run as root."""
    import os
    import stat

    from qrisbot import operate_accounts, operate_drift
    from qrisbot.ledger import Ledger

    path, _ = world(tmp_path, "classic", sshd)
    state = tmp_path / "state"
    state.mkdir()
    os.chown(state, 65534, 65534)  # the daemon's user owns its state directory
    raw = config_for("http://127.0.0.1:1", "1:abcdefghijk", "http://127.0.0.1:1", "p", "k",
                     str(state / "qrisbot.sqlite3"),
                     [server_entry("sg1", protocol="vless", ssh=sshd.access(),
                                   xray={"layout": "classic", "config": str(path),
                                         "restart": "true"})], {"grace_days": GRACE})
    cfg = config.parse(raw, {})
    assert await trio.to_thread.run_sync(operate_drift.servers_reconcile, cfg, "sg1") == 1
    captured = capsys.readouterr()
    assert "no ledger" not in captured.err and "unknown  alice" in captured.out
    ledger_file = state / "qrisbot.sqlite3"
    mode = ledger_file.stat()
    assert stat.S_IMODE(mode.st_mode) == 0o600 and (mode.st_uid, mode.st_gid) == (65534, 65534)
    ledger_file.unlink()
    assert await trio.to_thread.run_sync(operate_accounts.accounts_import, cfg, "sg1",
                                         True) == 0
    assert "1 would be imported" in capsys.readouterr().out
    assert stat.S_IMODE(ledger_file.stat().st_mode) == 0o600
    assert await trio.to_thread.run_sync(operate_accounts.accounts_import, cfg, "sg1",
                                         False) == 0
    assert [a.username for a in Ledger.open(cfg.shop.database).accounts()] == ["alice"]
    # No folder for it: said so, nothing made.
    missing = attrs.evolve(cfg, shop=attrs.evolve(cfg.shop, database=str(
        tmp_path / "nowhere" / "qrisbot.sqlite3")))
    assert await trio.to_thread.run_sync(operate_accounts.accounts_import, missing, "sg1",
                                         True) == 1
    assert "nowhere" in capsys.readouterr().err and not (tmp_path / "nowhere").exists()


async def test_an_imported_account_keeps_every_day_the_server_gives_it(
    sshd, tmp_path, capsys
):
    """The menu dated alice 2030-01-01: the family's cron deletes her that day, so she has
    through 31 December, whatever the shop's grace; that is her last day once imported.
    The shop's own bob, dated after his last day and the grace, agrees with the ledger."""
    import json

    from qrisbot import operate_accounts, operate_drift
    from qrisbot.ledger import Ledger

    grace = 3
    path, _ = world(tmp_path, "classic", sshd)
    raw = config_for("http://127.0.0.1:1", "1:abcdefghijk", "http://127.0.0.1:1", "p", "k",
                     str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", protocol="vless", ssh=sshd.access(),
                                   xray={"layout": "classic", "config": str(path),
                                         "restart": "true"})], {"grace_days": grace})
    cfg = config.parse(raw, {})
    (server,) = cfg.servers
    bob = str(uuid.uuid4())
    provisioner = SshProvisioner()
    try:
        await provisioner.create(server, account("bob", bob, "VPN1"))
        ledger = Ledger.open(cfg.shop.database)
        assert ledger.import_account(server_id="sg1", protocol="vless", username="bob",
                                     secret=bob, expires_on=LAST_DAY, details=json.dumps({}),
                                     today=dt.date(2026, 12, 1))
        assert await trio.to_thread.run_sync(operate_accounts.accounts_import, cfg, "sg1",
                                             False) == 0
        assert "new     alice            last day 2029-12-31" in capsys.readouterr().out
        alice = ledger.account_named("sg1", "alice")
        assert alice is not None and alice.expires_on == dt.date(2029, 12, 31)
        assert await trio.to_thread.run_sync(operate_drift.servers_reconcile, cfg, "sg1") == 0
        assert "no differences" in capsys.readouterr().out
        # The family's cron agrees: alice is there on her last day, gone the day after.
        xp(server, dt.date(2029, 12, 31))
        assert "alice" in path.read_text()
        # The shop's own removal of her, after its grace period, takes her lines.
        outcome = await provisioner.remove(server, [Removal(
            made_by="imported", username="alice", secret=ALICE, expires=alice.expires_on)])
        assert outcome == {"alice": Removed.GONE} and ALICE not in path.read_text()
        v2ray_accepts(path, tmp_path)
    finally:
        provisioner.close()


async def test_reconcile_names_every_change_made_behind_the_shops_back(
    sshd, tmp_path, capsys
):
    from qrisbot import operate_accounts, operate_drift
    from qrisbot.ledger import Ledger

    path, server = world(tmp_path, "classic", sshd)
    provisioner = SshProvisioner()
    bob, carol, dave = (str(uuid.uuid4()) for _ in range(3))
    try:
        for name, secret, order in (("bob", bob, "VPN1"), ("carol", carol, "VPN2")):
            await provisioner.create(server, account(name, secret, order))
    finally:
        provisioner.close()
    raw = config_for("http://127.0.0.1:1", "1:abcdefghijk", "http://127.0.0.1:1", "p", "k",
                     str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", protocol="vless", ssh=sshd.access(),
                                   xray={"layout": "classic", "config": str(path),
                                         "restart": "true"})],
                     {"grace_days": GRACE})
    cfg = config.parse(raw, {})
    Ledger.open(cfg.shop.database).close()
    assert await trio.to_thread.run_sync(operate_accounts.accounts_import, cfg, "sg1", False) == 0
    assert await trio.to_thread.run_sync(operate_drift.servers_reconcile, cfg, "sg1") == 0
    assert "no differences" in capsys.readouterr().out

    # By hand, in the seller's menu: carol deleted, bob's date moved, dave added.
    text = path.read_text()
    written = (LAST_DAY + dt.timedelta(days=GRACE + 1)).isoformat()
    text = "\n".join(line for line in text.splitlines() if "carol" not in line) + "\n"
    text = text.replace(f"#& bob {written}", "#& bob 2027-03-10")
    text = text.replace("#vless\n", f'#vless\n#& dave 2027-05-01\n}},{{"id": "{dave}"\n', 1)
    path.write_text(text)
    db_before = sorted((a.username, a.expires_on, a.state)
                       for a in Ledger.open(cfg.shop.database).accounts())
    assert await trio.to_thread.run_sync(operate_drift.servers_reconcile, cfg, "sg1") == 1
    out = capsys.readouterr().out
    assert "missing  carol" in out
    # bob was imported with the days his lines give (his last day and the grace period).
    assert f"date     bob              ledger {LAST_DAY + dt.timedelta(days=GRACE)}, server " \
           "2027-03-09" in out
    assert "unknown  dave" in out and "alice" not in out
    assert "nothing was changed" in out and path.read_text() == text
    assert sorted((a.username, a.expires_on, a.state)
                  for a in Ledger.open(cfg.shop.database).accounts()) == db_before


async def test_rmbl_ssh_accounts_are_in_its_ssh_list_and_ip_files(sshd, linux_users, tmp_path):
    """RMBL lists SSH accounts in /etc/xray/ssh (`### <user> <date> <password>`) and keeps
    their IP limit in /etc/xray/sshx/<user>IP: qrisbot's SSH accounts get both, renewals
    move their date, removal takes them away; a seller's own `qbt_rm10` (bob vs bobby)
    stays byte for byte."""
    linux_users += ["qbt_rm1"]
    listed = tmp_path / "xray" / "ssh"
    listed.parent.mkdir()
    canary = tmp_path / "canary"
    theirs = ("### qbt_rm10 2027-03-01 their-pass\n"
              f"### $(touch {canary}) 2027-03-01 `touch {canary}`\n"
              "garbage without fields\n" + "#" * 5000 + "\n"
              "### qbt_rm1x 2027-03-01 qbt_rm1\n")
    listed.write_text(theirs)
    ips = tmp_path / "xray" / "sshx"
    raw = config_for("http://127.0.0.1:1", "1:abcdefghijk", "http://127.0.0.1:1", "p", "k",
                     str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", protocol="ssh", ssh=sshd.access(),
                                   linux={"layout": "rmbl", "account_list": str(listed),
                                          "ip_files": str(ips), "ip_limit": 2})], {})
    (server,) = config.parse(raw, {}).servers
    assert server.linux is not None and server.linux.list_prefix == "###"  # from the preset
    provisioner = SshProvisioner()
    try:
        await provisioner.create(server, Account(
            order_id="VPN1", username="qbt_rm1", secret="rm1-pass!", expires=LAST_DAY,
            months=1, days=30))
        # The date is the shadow expiry, as RMBL's menu writes it.
        assert listed.read_text() == theirs + "### qbt_rm1 2027-02-01 rm1-pass!\n"
        assert (ips / "qbt_rm1IP").read_text() == "2\n"
        await provisioner.extend(server, Extension(
            order_id="VPN2", made_by="VPN1", username="qbt_rm1", secret="rm1-pass!",
            expires=LAST_DAY + dt.timedelta(days=30)))
        assert listed.read_text() == theirs + "### qbt_rm1 2027-03-03 rm1-pass!\n"
        outcome = await provisioner.remove(server, [Removal(
            made_by="VPN1", username="qbt_rm1", secret="rm1-pass!",
            expires=LAST_DAY + dt.timedelta(days=30))])
    finally:
        provisioner.close()
    assert outcome == {"qbt_rm1": Removed.GONE}
    assert listed.read_text() == theirs and not (ips / "qbt_rm1IP").exists()
    assert not canary.exists()


def kept(path: Path, target: Path | None, mode: int) -> bool:
    """The file at `path` is still what it was: a link to `target` (or a plain file), with
    that mode, owned by nobody:nogroup."""
    import os
    import stat

    real = target or path
    facts = os.stat(real)
    return (path.is_symlink() == (target is not None)
            and (target is None or os.readlink(path) == str(target))
            and stat.S_IMODE(facts.st_mode) == mode and (facts.st_uid, facts.st_gid) == (
                65534, 65534))


def owned_file(path: Path, text: str, mode: int, linked_from: Path | None = None) -> None:
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    os.chown(path, 65534, 65534)
    if linked_from is not None:
        linked_from.parent.mkdir(parents=True, exist_ok=True)
        linked_from.symlink_to(path)


@pytest.mark.parametrize("linked", [False, True], ids=["file", "symlink"])
async def test_rmbl_ssh_list_keeps_its_mode_owner_and_link(sshd, linux_users, tmp_path, linked):
    """RMBL's /etc/xray/ssh holds buyers' passwords: a 0600 list stays 0600 and its owner's,
    and a list that is a link stays a link to the same file, through a create, a renewal
    and a removal."""
    name = "qbt_h4ln" if linked else "qbt_h4md"
    linux_users.append(name)
    listed = tmp_path / "xray" / "ssh"
    target = tmp_path / "elsewhere" / "ssh.list" if linked else None
    theirs = "### qbt_rm10 2027-03-01 their-pass\n"
    owned_file(target or listed, theirs, 0o600, linked_from=listed if linked else None)
    raw = config_for("http://127.0.0.1:1", "1:abcdefghijk", "http://127.0.0.1:1", "p", "k",
                     str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", protocol="ssh", ssh=sshd.access(),
                                   linux={"layout": "rmbl", "account_list": str(listed),
                                          "ip_files": str(tmp_path / "xray" / "sshx")})], {})
    (server,) = config.parse(raw, {}).servers
    provisioner = SshProvisioner()
    try:
        await provisioner.create(server, Account(
            order_id="VPN1", username=name, secret="h4-pass!", expires=LAST_DAY, months=1,
            days=30))
        assert listed.read_text() == theirs + f"### {name} 2027-02-01 h4-pass!\n"
        assert kept(listed, target, 0o600)
        await provisioner.extend(server, Extension(
            order_id="VPN2", made_by="VPN1", username=name, secret="h4-pass!",
            expires=LAST_DAY + dt.timedelta(days=30)))
        assert listed.read_text() == theirs + f"### {name} 2027-03-03 h4-pass!\n"
        assert kept(listed, target, 0o600)
        outcome = await provisioner.remove(server, [Removal(
            made_by="VPN1", username=name, secret="h4-pass!",
            expires=LAST_DAY + dt.timedelta(days=30))])
    finally:
        provisioner.close()
    assert outcome == {name: Removed.GONE}
    assert listed.read_text() == theirs and kept(listed, target, 0o600)


async def test_a_linked_xray_config_and_account_list_stay_linked_with_their_mode(
    sshd, tmp_path
):
    """Every file the shop rewrites keeps its mode, owner and link: Lunatic's config and
    account list as links to 0640 files elsewhere (where the service reads them), through
    a create, a renewal and a removal."""
    path, server = world(tmp_path, "lunatic", sshd)
    listed = tmp_path / "vless" / ".vless.db"
    targets = {path: tmp_path / "real" / "vle.json", listed: tmp_path / "real" / "vless.db"}
    for link, target in targets.items():
        text = link.read_text()
        link.unlink()
        owned_file(target, text, 0o640, linked_from=link)
    provisioner = SshProvisioner()
    bob = str(uuid.uuid4())
    try:
        await provisioner.create(server, account("bob", bob, "VPN1"))
        assert bob in targets[path].read_text() and "bob" in targets[listed].read_text()
        assert all(kept(link, target, 0o640) for link, target in targets.items())
        renewed = LAST_DAY + dt.timedelta(days=30)
        await provisioner.extend(server, Extension(
            order_id="VPN2", made_by="VPN1", username="bob", secret=bob, expires=renewed))
        assert all(kept(link, target, 0o640) for link, target in targets.items())
        outcome = await provisioner.remove(server, [Removal(
            made_by="VPN1", username="bob", secret=bob, expires=renewed)])
    finally:
        provisioner.close()
    assert outcome == {"bob": Removed.GONE}
    assert bob not in targets[path].read_text() and "bob" not in targets[listed].read_text()
    assert all(kept(link, target, 0o640) for link, target in targets.items())


@pytest.mark.parametrize("layout", ["classic", "rmbl", "lunatic"])
def test_servers_check_names_each_way_a_layout_does_not_fit_the_server(
    layout, sshd, tmp_path, capsys
):
    from qrisbot import operate

    path, _ = world(tmp_path, layout, sshd)
    (tmp_path / "vless").mkdir(exist_ok=True)
    (tmp_path / "used").mkdir()

    def check(xray: dict) -> tuple[int, str]:
        raw = config_for("http://127.0.0.1:1", "1:abcdefghijk", "http://127.0.0.1:1", "p",
                         "k", str(tmp_path / "ledger.sqlite3"),
                         [server_entry("sg1", protocol="vless", ssh=sshd.access(),
                                       xray={"config": str(path), "restart": "true", **xray})])
        status = operate.servers_check(config.parse(raw, {}), "sg1")
        return status, capsys.readouterr().out

    own = {"rmbl": {"user_files": str(tmp_path / "vless"), "usage_files": str(tmp_path / "used")},
           "lunatic": {"account_list": str(tmp_path / "vless" / ".vless.db")}}.get(layout, {})
    status, out = check({"layout": layout, **own})
    assert status == 0, out
    assert "MISSING" not in out and "ok      accounts written as" in out
    # The wrong family for this server: each difference named.
    wrong = "classic" if layout == "rmbl" else "rmbl"
    status, out = check({"layout": wrong})
    assert status == 1
    if wrong == "rmbl":
        assert "MISSING accounts written as #vl #vlg with the UUID (the server's accounts " \
               "use #&)" in out
        assert "MISSING quota and IP-limit folder /etc/vless" in out
    else:
        assert "MISSING accounts written as #& (the server's accounts use #vl #vlg)" in out


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def client_config(link: str, proxy_port: int) -> dict:
    """What a buyer's app makes of a delivered vless:// link: an outbound to that server,
    behind a local HTTP proxy."""
    from urllib.parse import parse_qs, unquote, urlsplit

    url = urlsplit(link)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.scheme == "vless" and query["type"] == "ws" and query["security"] == "none"
    return {
        "log": {"loglevel": "warning"},
        "inbounds": [{"port": proxy_port, "listen": "127.0.0.1", "protocol": "http"}],
        "outbounds": [{"protocol": "vless", "settings": {"vnext": [{
            "address": url.hostname, "port": url.port,
            "users": [{"id": unquote(url.username or ""), "encryption": "none"}]}]},
            "streamSettings": {"network": "ws", "wsSettings": {"path": query["path"]}}}],
    }


async def test_a_delivered_link_carries_traffic_through_a_real_v2ray(sshd, tmp_path):
    """The classic world after qrisbot made bob: Debian's v2ray serves it, a client built
    from bob's delivered link fetches a page through it; once bob is removed, it cannot."""
    import http.server
    import json
    import threading

    from qrisbot.provision import details

    path, server = world(tmp_path, "classic", sshd)
    inbound = free_port()
    assert server.xray is not None
    server = attrs.evolve(server, domain="127.0.0.1",
                          xray=attrs.evolve(server.xray, port_ntls=inbound, port_tls=0))
    bob = str(uuid.uuid4())
    provisioner = SshProvisioner()
    try:
        made = account("bob", bob, "VPN1")
        await provisioner.create(server, made)
        (link,) = [link for label, link in details(server, made)["links"] if label == "non-TLS"]

        page = b"through the tunnel"

        class Page(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self.send_response(200)
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: object) -> None:
                pass

        site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
        threading.Thread(target=site.serve_forever, daemon=True).start()
        proxy = free_port()
        (tmp_path / "client.json").write_text(json.dumps(client_config(link, proxy)))

        def serve() -> subprocess.Popen[bytes]:
            # v2ray 4.34 predates gRPC: that inbound is served as websocket, on its own port.
            text = path.read_text().replace('"port": 10001', f'"port": {inbound}').replace(
                '"port": 10002', f'"port": {free_port()}').replace(
                '"network": "grpc", "grpcSettings": {"serviceName": "vless-grpc"}',
                '"network": "ws", "wsSettings": {"path": "/vless-grpc"}')
            (tmp_path / "served.json").write_text(text)
            return subprocess.Popen([shutil.which("v2ray") or "v2ray", "-config",
                                     str(tmp_path / "served.json")],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        # The seller's own buyer alice, with the same link but her UUID: the server is up.
        alice_proxy = free_port()
        (tmp_path / "alice.json").write_text(json.dumps(client_config(
            link.replace(bob, ALICE), alice_proxy)))

        def fetch(port: int = proxy) -> bytes:
            import socket

            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(f"GET http://127.0.0.1:{site.server_port}/ HTTP/1.1\r\nHost: "
                          f"127.0.0.1\r\nConnection: close\r\n\r\n".encode())
                answer = b""
                while chunk := s.recv(65536):
                    answer += chunk
                return answer

        async def fetch_soon(port: int = proxy) -> bytes:
            answer = b""
            for _ in range(50):  # until the v2rays listen
                try:
                    answer = await trio.to_thread.run_sync(fetch, port)
                except OSError:
                    answer = b""
                if page in answer:
                    break
                await trio.sleep(0.1)
            return answer

        clients = [subprocess.Popen([shutil.which("v2ray") or "v2ray", "-config",
                                     str(tmp_path / name)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for name in ("client.json", "alice.json")]
        served = serve()
        try:
            assert page in await fetch_soon()
            await provisioner.remove(server, [Removal(made_by="VPN1", username="bob",
                                                      secret=bob, expires=LAST_DAY)])
            assert "bob" not in path.read_text()
            served.terminate()
            served.wait()
            served = serve()  # the restart the family's menu (and qrisbot) would do
            assert page in await fetch_soon(alice_proxy)
            assert page not in await trio.to_thread.run_sync(fetch)
        finally:
            for process in (*clients, served):
                process.terminate()
                process.wait()
            site.shutdown()
    finally:
        provisioner.close()
