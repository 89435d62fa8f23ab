"""Provisioning against a real sshd: real Linux accounts, a real Xray marker file."""

from __future__ import annotations

import datetime as dt
import subprocess
import uuid
from pathlib import Path

import attrs
import paramiko
import pytest
import trio

from qrisbot.config import Commands, Server, SshAccess, Xray
from qrisbot.provision import Account, Presence, SshProvisioner, UsernameTaken
from qrisbot.provision.port import PASSWORD
from qrisbot.provision.ssh.connections import CommandFailed, Connection, HostKeyRejected
from qrisbot.provision.ssh.recipes import CustomCommands, _fill

XRAY_LAYOUT = """{
  "inbounds": [
    {"port": 10001, "protocol": "vless", "settings": {"decryption": "none", "clients": [
      {"id": "11111111-1111-1111-1111-111111111111"
#vless
      }]}, "streamSettings": {"network": "ws", "wsSettings": {"path": "/vless"}}},
    {"port": 10002, "protocol": "vless", "settings": {"decryption": "none", "clients": [
      {"id": "11111111-1111-1111-1111-111111111111"
#vlessgrpc
      }]}, "streamSettings": {"network": "grpc"}}
  ]
}
"""


def ssh_server(sshd, **overrides) -> Server:
    fields = dict(id="sg1", name="SG", protocol="ssh", domain="sg1.example.com",
                  price_per_month=10000, ssh=SshAccess(**sshd.access()))
    return Server(**(fields | overrides))


def xray_server(sshd, tmp_path: Path, restart: str, markers=("#vless", "#vlessgrpc"),
                **overrides) -> tuple[Path, Server]:
    """A VLESS server whose Xray config is a fresh copy of XRAY_LAYOUT in `tmp_path`."""
    config = tmp_path / "config.json"
    config.write_text(XRAY_LAYOUT)
    return config, ssh_server(sshd, protocol="vless", xray=Xray(
        config=str(config), markers=markers, prefix="#&", restart=restart, path="/vless"),
        **overrides)


def account(username: str, secret: str, order_id: str = "VPN1") -> Account:
    return Account(order_id=order_id, username=username, secret=secret,
                   expires=dt.date(2027, 1, 31), months=1, days=30)


def login(sshd, username: str, password: str) -> paramiko.Transport:
    transport = paramiko.Transport(("127.0.0.1", sshd.port))
    transport.start_client(timeout=10)
    transport.auth_password(username, password)
    return transport


async def test_ssh_account_is_a_real_login_that_tunnels(sshd, linux_users):
    linux_users.append("qbt_alice")
    provisioner = SshProvisioner()
    server = ssh_server(sshd)
    assert await provisioner.presence(server, "qbt_alice") is Presence.ABSENT
    await provisioner.create(server, account("qbt_alice", "s3cret!pw"))
    assert await provisioner.presence(server, "qbt_alice") is Presence.TAKEN
    provisioner.close()

    # The buyer logs in with the password and opens a tunnel, as tunnel apps do.
    with trio.socket.socket() as listener:
        await listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def tunnel() -> bool:
            transport = login(sshd, "qbt_alice", "s3cret!pw")
            try:
                channel = transport.open_channel("direct-tcpip", ("127.0.0.1", port),
                                                 ("127.0.0.1", 0), timeout=10)
                channel.close()
                return transport.is_authenticated()
            finally:
                transport.close()

        async with trio.open_nursery() as nursery:
            accepted = trio.Event()

            async def accept() -> None:
                conn, _ = await listener.accept()
                conn.close()
                accepted.set()

            nursery.start_soon(accept)
            assert await trio.to_thread.run_sync(tunnel)
            with trio.fail_after(10):
                await accepted.wait()

    # Access through the last paid day: the shadow expiry is the day after.
    chage = subprocess.run(["chage", "-l", "qbt_alice"], capture_output=True, text=True).stdout
    assert "Feb 01, 2027" in chage
    with pytest.raises(paramiko.AuthenticationException):
        login(sshd, "qbt_alice", "wrong-password")


async def test_create_is_idempotent_per_order_and_refuses_foreign_users(sshd, linux_users):
    linux_users.append("qbt_bob")
    provisioner = SshProvisioner()
    server = ssh_server(sshd)
    await provisioner.create(server, account("qbt_bob", "first-pw1", "VPN1"))
    # The same order again (e.g. after a crash mid-create) succeeds and keeps one user.
    await provisioner.create(server, account("qbt_bob", "first-pw1", "VPN1"))
    assert subprocess.run(["getent", "passwd", "qbt_bob"], capture_output=True).returncode == 0
    with pytest.raises(UsernameTaken):
        await provisioner.create(server, account("qbt_bob", "other-pw1", "VPN2"))
    with pytest.raises(UsernameTaken):
        await provisioner.create(server, account("root", "other-pw1", "VPN3"))
    provisioner.close()
    login(sshd, "qbt_bob", "first-pw1").close()


async def test_hostile_password_is_only_a_password(sshd, linux_users):
    canary = Path("/tmp/qbc")
    canary.unlink(missing_ok=True)
    linux_users.append("qbt_eve")
    hostile = "$(touch${IFS}/tmp/qbc)`id`;|&'\"\\"
    assert PASSWORD.fullmatch(hostile)  # a valid password as far as the buyer is concerned
    provisioner = SshProvisioner()
    await provisioner.create(ssh_server(sshd), account("qbt_eve", hostile))
    provisioner.close()
    assert not canary.exists()
    login(sshd, "qbt_eve", hostile).close()


async def test_template_values_are_quoted_for_the_shell(sshd, tmp_path):
    canary, out = tmp_path / "canary", tmp_path / "out"
    hostile = f"$(touch {canary}); touch {canary} `touch {canary}` ' \" \\"
    connection = Connection(SshAccess(**sshd.access()))
    result = await connection.run(_fill("printf %s {username} > " + str(out), username=hostile))
    connection.close()
    assert result.status == 0
    assert out.read_text() == hostile
    assert not canary.exists()
    # Usernames never even get that far.
    with pytest.raises(ValueError):
        CustomCommands(Commands(create="true", exists="true")).exists("a;reboot")
    with pytest.raises(ValueError):
        account("x$(id)", "password1")


async def test_unknown_or_changed_host_key_refuses_to_connect(sshd, tmp_path):
    empty = tmp_path / "known_hosts_empty"
    empty.write_text("")
    connection = Connection(SshAccess(**sshd.access(known_hosts=str(empty))))
    with pytest.raises(HostKeyRejected, match="unknown"):
        await connection.run("true")
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kind, data = (tmp_path / "other_key.pub").read_text().split()[:2]
    changed = tmp_path / "known_hosts_changed"
    changed.write_text(f"[127.0.0.1]:{sshd.port} {kind} {data}\n")
    connection = Connection(SshAccess(**sshd.access(known_hosts=str(changed))))
    with pytest.raises(HostKeyRejected, match="CHANGED"):
        await connection.run("true")


async def test_xray_clients_land_after_every_marker_even_when_bought_at_once(sshd, tmp_path):
    restarts = tmp_path / "restarts"
    config, server = xray_server(sshd, tmp_path, f"echo restarted >> {restarts}", id="sg2")
    provisioner = SshProvisioner()
    buyers = {f"user{i}": str(uuid.uuid4()) for i in range(6)}

    async with trio.open_nursery() as nursery:
        for i, (name, secret) in enumerate(buyers.items()):
            nursery.start_soon(provisioner.create, server,
                               account(name, secret, f"VPN{i}"))
    text = config.read_text()
    for name, secret in buyers.items():
        assert text.count(f"#& {name} 2027-01-31\n}},{{\"id\": \"{secret}\", "
                          f"\"email\": \"{name}\"") == 2
        assert await provisioner.presence(server, name) is Presence.TAKEN
    assert await provisioner.presence(server, "user") is Presence.ABSENT  # anchored match
    # Those bought while the server was busy went in one batch: one restart for them all.
    assert restarts.read_text().count("restarted") == 2
    # Same order again: nothing added; another order with that name: refused.
    await provisioner.create(server, account("user0", buyers["user0"], "VPN0"))
    assert config.read_text().count("#& user0 ") == 2
    with pytest.raises(UsernameTaken):
        await provisioner.create(server, account("user0", str(uuid.uuid4()), "VPN99"))
    provisioner.close()


async def test_missing_marker_or_failing_command_is_reported(sshd, tmp_path):
    config = tmp_path / "config.json"
    config.write_text("{}\n")
    server = ssh_server(sshd, protocol="vless", xray=Xray(
        config=str(config), markers=("#vless",), prefix="#&", restart="true", path="/vless"))
    provisioner = SshProvisioner()
    with pytest.raises(CommandFailed, match="marker #vless not found"):
        await provisioner.create(server, account("carol", str(uuid.uuid4())))
    failing = ssh_server(sshd, commands=Commands(
        create="echo 'No space left on device' >&2; exit 1", exists="exit 1"))
    with pytest.raises(CommandFailed, match="No space left"):
        await provisioner.create(failing, account("carol", "password1"))
    provisioner.close()
    assert Path(config).read_text() == "{}\n"


async def test_a_batch_reports_each_account_and_a_failed_restart_fails_them_all(sshd, tmp_path):
    flag = tmp_path / "restart-ok"
    config, server = xray_server(sshd, tmp_path, f"test -e {flag}", markers=("#vless",))
    provisioner = SshProvisioner()
    orders = {name: account(name, str(uuid.uuid4()), f"VPN{n}")
              for n, name in enumerate(("first", "second", "third"))}
    outcomes: dict[str, str] = {}

    async def buy(order: Account) -> None:
        try:
            await provisioner.create(server, order)
            outcomes[order.username] = "ok"
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test reads
            outcomes[order.username] = type(exc).__name__

    flag.touch()
    await buy(orders["first"])
    flag.unlink()  # from now on the VPN service will not restart
    async with trio.open_nursery() as nursery:
        nursery.start_soon(buy, account("first", str(uuid.uuid4()), "VPN9"))  # another order
        nursery.start_soon(buy, orders["second"])
        nursery.start_soon(buy, orders["third"])
    assert outcomes == {"first": "UsernameTaken", "second": "CommandFailed",
                        "third": "CommandFailed"}
    flag.touch()  # the operator fixed it: the retried orders succeed, each written once
    async with trio.open_nursery() as nursery:
        nursery.start_soon(buy, orders["second"])
        nursery.start_soon(buy, orders["third"])
    assert outcomes["second"] == outcomes["third"] == "ok"
    text = config.read_text()
    assert all(text.count(f"#& {name} ") == 1 for name in orders)
    provisioner.close()


# --- hardening (issue 9): groups, reserved names, output without a newline, redaction, lock

async def test_a_name_held_only_by_a_group_is_taken(sshd):
    subprocess.run(["groupadd", "qbt_grp"], check=True)
    provisioner = SshProvisioner()
    try:
        server = ssh_server(sshd)
        assert await provisioner.presence(server, "qbt_grp") is Presence.TAKEN
        # Sold anyway (a race with the operator): refused at once, not retried for ages.
        with pytest.raises(UsernameTaken):
            await provisioner.create(server, account("qbt_grp", "group-pw1"))
    finally:
        provisioner.close()
        subprocess.run(["groupdel", "qbt_grp"], check=False)


def test_system_and_reserved_names_are_refused_before_any_server_is_asked():
    from qrisbot.provision.ssh.recipes import is_sellable_username

    for name in ("root", "sshd", "nobody", "users", "staff", "docker", "systemd_x",
                 "qrisbotprobe", "daemon", "sudo"):
        assert not is_sellable_username(name), name
    for name in ("budi_99", "rooty", "nobody1x"[:-1] + "z", "staffer"):
        assert is_sellable_username(name), name


async def test_output_without_a_final_newline_does_not_hide_the_result(sshd, linux_users):
    linux_users.append("qbt_nonl")
    create = ("read -r p; useradd -M -s /bin/false -c qrisbot-{order_id} {username} && "
              "printf '%s:%s\\n' {username} \"$p\" | chpasswd && printf created")
    server = ssh_server(sshd, commands=Commands(
        create=create, exists="getent passwd {username} >/dev/null || exit 1"))
    provisioner = SshProvisioner()
    try:
        await provisioner.create(server, account("qbt_nonl", "nonl-pass1"))
        assert await provisioner.presence(server, "qbt_nonl") is Presence.TAKEN
    finally:
        provisioner.close()


async def test_a_secret_cut_by_the_length_limit_is_redacted_whole(sshd):
    secret = "Sekret-" + "x" * 20
    # The secret is echoed so that the 500-character cut falls inside it.
    create = "read -r p; printf '%s' \"$p\" >&2; head -c 490 /dev/zero | tr '\\0' y >&2; exit 1"
    server = ssh_server(sshd, commands=Commands(create=create, exists="exit 1"))
    provisioner = SshProvisioner()
    try:
        with pytest.raises(CommandFailed) as failed:
            await provisioner.create(server, account("qbt_cut", secret))
    finally:
        provisioner.close()
    assert "Sekret" not in str(failed.value) and "xxxxx" not in failed.value.stderr


async def test_the_remote_lock_lives_where_only_root_can_write(sshd, linux_users):
    from qrisbot.provision.ssh.recipes import LOCK

    provisioner = SshProvisioner()
    try:
        server = ssh_server(sshd)
        linux_users.append("qbt_lock")
        await provisioner.create(server, account("qbt_lock", "lock-pass1"))
        directory = Path(LOCK).parent
        assert directory.stat().st_uid == 0 and directory.stat().st_mode & 0o077 == 0
        # A local user cannot take the lock away from the shop.
        result = await provisioner._connections.get(server.ssh).run(
            f"su nobody -s /bin/sh -c 'flock -n {LOCK} true' 2>&1; echo $?")
        assert result.stdout.strip().splitlines()[-1] != "0", result.stdout
        linux_users.append("qbt_lock2")
        await provisioner.create(server, account("qbt_lock2", "lock-pass2", "VPN2"))
    finally:
        provisioner.close()


# --- renewals: set the last day, exactly once, on exactly that account ----------------------

def shadow_expiry(username: str) -> dt.date | None:
    """The day after the last good day, as /etc/shadow keeps it (days since 1970)."""
    for line in Path("/etc/shadow").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == username:
            return dt.date(1970, 1, 1) + dt.timedelta(days=int(fields[7])) if fields[7] else None
    return None


def can_log_in(sshd, username: str, password: str) -> bool:
    try:
        login(sshd, username, password).close()
    except paramiko.AuthenticationException:
        return False
    return True


async def test_an_ssh_renewal_sets_the_new_last_day_and_revives_an_expired_account(
    sshd, linux_users
):
    from qrisbot.provision import AccountMissing, Extension

    linux_users.append("qbt_renew")
    provisioner = SshProvisioner()
    server = ssh_server(sshd)
    try:
        # An account whose last day has passed: the server refuses it.
        made = Account(order_id="VPN7", username="qbt_renew", secret="renew-pass1",
                       expires=dt.date(2026, 1, 31), months=1, days=30)
        await provisioner.create(server, made)
        assert not await trio.to_thread.run_sync(can_log_in, sshd, "qbt_renew", "renew-pass1")
        renewal = Extension(order_id="VPN8", made_by="VPN7", username="qbt_renew",
                            secret="renew-pass1", expires=dt.date(2027, 3, 2))
        await provisioner.extend(server, renewal)
        assert shadow_expiry("qbt_renew") == dt.date(2027, 3, 3)
        # Back, with the same password; a repeat (after a crash) changes nothing.
        assert await trio.to_thread.run_sync(can_log_in, sshd, "qbt_renew", "renew-pass1")
        await provisioner.extend(server, renewal)
        assert shadow_expiry("qbt_renew") == dt.date(2027, 3, 3)
        # Another order's tag, or a name that is not there: refused, nothing changed.
        with pytest.raises(UsernameTaken):
            await provisioner.extend(server, attrs.evolve(renewal, made_by="VPN99",
                                                          expires=dt.date(2030, 1, 1)))
        with pytest.raises(AccountMissing):
            await provisioner.extend(server, attrs.evolve(renewal, username="qbt_nobody"))
        assert shadow_expiry("qbt_renew") == dt.date(2027, 3, 3)
    finally:
        provisioner.close()


async def test_an_xray_renewal_touches_only_that_client(sshd, tmp_path):
    import json

    from qrisbot.provision import AccountMissing, Extension

    config, server = xray_server(sshd, tmp_path, "true", id="sg2")
    provisioner = SshProvisioner()
    bob, bobby = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        await provisioner.create(server, account("bob", bob, "VPN1"))
        await provisioner.create(server, account("bobby", bobby, "VPN2"))
        before = config.read_text()
        renewal = Extension(order_id="VPN3", made_by="VPN1", username="bob", secret=bob,
                            expires=dt.date(2027, 4, 1))
        await provisioner.extend(server, renewal)
        after = config.read_text()
        # Both of bob's comment lines carry the new date; bobby's and every client line stay.
        assert after.count("#& bob 2027-04-01\n") == 2 and "#& bob 2027-01-31" not in after
        assert after.count("#& bobby 2027-01-31\n") == 2
        assert after == before.replace("#& bob 2027-01-31\n", "#& bob 2027-04-01\n")
        json.loads("\n".join(line for line in after.splitlines()
                             if not line.lstrip().startswith("#")))
        await provisioner.extend(server, renewal)  # a repeat changes nothing
        assert config.read_text() == after
        # Someone else's secret under that name, or no such client: refused, untouched.
        with pytest.raises(UsernameTaken):
            await provisioner.extend(server, attrs.evolve(renewal, secret=bobby))
        with pytest.raises(AccountMissing):
            await provisioner.extend(server, attrs.evolve(renewal, username="bobb"))
        assert config.read_text() == after
    finally:
        provisioner.close()


# --- removal after the grace period: exactly that account, unless it was renewed -----------

async def test_removing_an_ssh_account_ends_its_session_and_keeps_a_renewed_one(
    sshd, linux_users
):
    from qrisbot.provision import Extension, Removal, Removed

    linux_users.extend(["qbt_gone", "qbt_kept"])
    provisioner = SshProvisioner()
    server = ssh_server(sshd)
    try:
        last_day = dt.date(2027, 1, 31)
        for n, name in enumerate(("qbt_gone", "qbt_kept")):
            await provisioner.create(server, Account(
                order_id=f"VPN{n}", username=name, secret=f"{name}-pw1", expires=last_day,
                months=1, days=30))
        # A live session of the account being removed.
        session = await trio.to_thread.run_sync(login, sshd, "qbt_gone", "qbt_gone-pw1")
        # qbt_kept was renewed meanwhile (its date on the server moved on).
        await provisioner.extend(server, Extension(
            order_id="VPN9", made_by="VPN1", username="qbt_kept", secret="qbt_kept-pw1",
            expires=dt.date(2027, 3, 1)))
        outcomes = await provisioner.remove(server, [
            Removal(made_by="VPN0", username="qbt_gone", secret="qbt_gone-pw1",
                    expires=last_day),
            Removal(made_by="VPN1", username="qbt_kept", secret="qbt_kept-pw1",
                    expires=last_day),
            Removal(made_by="VPN5", username="qbt_never", secret="qbt_never-pw1",
                    expires=last_day),
        ])
        assert outcomes == {"qbt_gone": Removed.GONE, "qbt_kept": Removed.KEPT,
                            "qbt_never": Removed.GONE}
        assert user_exists("qbt_kept") and not user_exists("qbt_gone")
        await trio.sleep(0.5)
        assert not session.is_active()  # its session was ended
        # A repeat (after a crash) changes nothing.
        again = await provisioner.remove(server, [Removal(
            made_by="VPN0", username="qbt_gone", secret="qbt_gone-pw1", expires=last_day)])
        assert again == {"qbt_gone": Removed.GONE}
    finally:
        provisioner.close()


def user_exists(name: str) -> bool:
    return subprocess.run(["getent", "passwd", name], capture_output=True).returncode == 0


async def test_removing_an_xray_client_touches_only_that_client(sshd, tmp_path):
    import json

    from qrisbot.provision import Extension, Removal, Removed

    restarts = tmp_path / "restarts"
    config, server = xray_server(sshd, tmp_path, f"echo restarted >> {restarts}", id="sg2")
    provisioner = SshProvisioner()
    ids = {name: str(uuid.uuid4()) for name in ("bob", "bobby", "carol")}
    try:
        for n, (name, secret) in enumerate(ids.items()):
            await provisioner.create(server, account(name, secret, f"VPN{n}"))
        await provisioner.extend(server, Extension(
            order_id="VPN9", made_by="VPN2", username="carol", secret=ids["carol"],
            expires=dt.date(2027, 5, 1)))
        before = config.read_text()
        restarts.write_text("")
        outcomes = await provisioner.remove(server, [
            Removal(made_by="VPN0", username="bob", secret=ids["bob"],
                    expires=dt.date(2027, 1, 31)),
            Removal(made_by="VPN2", username="carol", secret=ids["carol"],
                    expires=dt.date(2027, 1, 31)),
        ])
        assert outcomes == {"bob": Removed.GONE, "carol": Removed.KEPT}
        after = config.read_text()
        assert "#& bob " not in after and ids["bob"] not in after
        assert after.count("#& bobby 2027-01-31\n") == 2 and after.count(ids["bobby"]) == 2
        assert after.count("#& carol 2027-05-01\n") == 2
        assert len(before.splitlines()) - len(after.splitlines()) == 4
        json.loads("\n".join(line for line in after.splitlines()
                             if not line.lstrip().startswith("#")))
        assert restarts.read_text().count("restarted") == 1  # one restart for the batch
    finally:
        provisioner.close()
