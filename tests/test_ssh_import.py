"""SSH accounts made before the shop (by the seller's autoscript menu, on the real sshd):
`accounts import` takes on the Linux users that look like tunnel accounts (marking each as
the shop's), `servers reconcile` sees them changed by hand, and their buyer claims one in
the bot with its password (checked by a real login), then renews it on the server. A name
the menu made again for a stranger is never renewed or removed for the buyer.

Every test that imports SSH users is in this file: an import marks the machine's unmarked
tunnel users, so one running beside another file's test could mark that test's stranger.
"""

from __future__ import annotations

import datetime as dt
import pwd
import subprocess
from typing import ClassVar

import pytest
import trio
from buyer import TYPED_PASSWORDS, Buyer
from conftest import server_entry

from qrisbot import config, operate_accounts, operate_drift
from qrisbot.config import Server, SshAccess
from qrisbot.ledger import Ledger
from qrisbot.provision import (
    Extension,
    Registry,
    Removal,
    Removed,
    SshBackend,
    SshProvisioner,
    UsernameTaken,
)
from qrisbot.provision.ssh.connections import Connections
from qrisbot.testing import config_for

PASSWORD = "lama-pw-1"  # the buyer's password, set by the seller's menu
TYPED_PASSWORDS.update({PASSWORD, "salah-pw-1"})


def menu_user(name: str, *, expire: str | None, shell: str = "/bin/false",
              system: bool = False, password: str = PASSWORD, uid: int | None = None) -> None:
    """A user as an autoscript's menu makes one: `useradd -e DATE -s /bin/false -M`."""
    command = ["useradd", "-M", "-s", shell, *(["-e", expire] if expire else []),
               *(["-r"] if system else []), *(["-u", str(uid)] if uid is not None else []),
               name]
    subprocess.run(command, check=True, capture_output=True)
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)


def shadow_expiry(name: str) -> str:
    out = subprocess.run(["chage", "-l", name], capture_output=True, text=True).stdout
    return next(line for line in out.splitlines() if line.startswith("Account expires"))


def ssh_config(tmp_path, sshd, telegram=None, pakasir=None) -> config.Config:
    raw = config_for(telegram.url if telegram else "http://127.0.0.1:1",
                     telegram.token if telegram else "1:abcdefghijk",
                     pakasir.url if pakasir else "http://127.0.0.1:1",
                     pakasir.project if pakasir else "p", pakasir.api_key if pakasir else "k",
                     str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", protocol="ssh", ssh=sshd.access())],
                     {"remind_days": []})
    return config.parse(raw, {})


async def test_import_takes_on_tunnel_users_once_and_reconcile_sees_them_change(
    sshd, linux_users, tmp_path, capsys
):
    linux_users += ["qbt_pre1", "qbt_pre2", "qbt_noexp", "qbt_shell", "qbt_sys"]
    menu_user("qbt_pre1", expire="2027-02-01")  # works through 31 January
    menu_user("qbt_pre2", expire="2026-11-20", shell="/usr/sbin/nologin")  # ran out
    menu_user("qbt_noexp", expire=None)  # no expiry date: nothing to keep
    menu_user("qbt_shell", expire="2027-02-01", shell="/bin/bash")  # a person's login
    menu_user("qbt_sys", expire="2027-02-01", shell="/usr/sbin/nologin", system=True)
    cfg = ssh_config(tmp_path, sshd)
    Ledger.open(cfg.shop.database).close()

    def run(function, *args):
        return trio.to_thread.run_sync(function, cfg, *args)

    assert await run(operate_accounts.accounts_import, "sg1", False) == 0
    out = capsys.readouterr().out
    assert "new     qbt_pre1         last day 2027-01-31" in out
    assert "new     qbt_pre2         last day 2026-11-19" in out
    for other in ("qbt_noexp", "qbt_shell", "qbt_sys"):
        assert other not in out
    assert "skipped" in out  # qbt_noexp: no expiry to keep
    ledger = Ledger.open(cfg.shop.database)
    # (Other tests' users may be on this machine meanwhile: only this test's are looked at.)
    mine = {a.username: a for a in ledger.accounts("sg1") if a.username in linux_users}
    assert sorted(mine) == ["qbt_pre1", "qbt_pre2"]
    assert mine["qbt_pre1"].state == "active" and mine["qbt_pre2"].state == "expired"
    assert all(a.owner_user_id is None for a in mine.values())
    # The password is not on the server (only its hash) and so not in the ledger.
    assert PASSWORD not in {a.secret for a in mine.values()}
    # They hold their names: nobody can buy qbt_pre1 now.
    assert ledger.username_held("sg1", "qbt_pre1")

    assert await run(operate_accounts.accounts_import, "sg1", False) == 0
    assert "known   qbt_pre1" in capsys.readouterr().out
    assert len([a for a in ledger.accounts("sg1") if a.username in linux_users]) == 2

    # By hand in the menu: qbt_pre1 renewed to the end of February, qbt_pre2 deleted.
    subprocess.run(["chage", "-E", "2027-03-01", "qbt_pre1"], check=True)
    subprocess.run(["userdel", "-f", "qbt_pre2"], check=True)
    await run(operate_drift.servers_reconcile, "sg1")
    out = capsys.readouterr().out
    assert "date     qbt_pre1         ledger 2027-01-31, server 2027-02-28" in out
    assert "missing  qbt_pre2" in out
    assert "qbt_noexp" not in out and "qbt_shell" not in out


class CountingLogins(SshBackend):
    """The real SSH backend, counting the logins it tries for claims."""

    tried: ClassVar[list[str]] = []

    async def login_opens(self, username, password):
        self.tried.append(username)
        return await super().login_opens(username, password)


def counting_logins() -> Registry:
    connections = Connections()
    CountingLogins.tried.clear()
    return Registry(connections, make=lambda server: CountingLogins(server, connections))


async def test_a_buyer_claims_an_old_ssh_account_with_its_password_and_renews_it(
    sshd, linux_users, tmp_path, start_shop, telegram, pakasir
):
    linux_users.append("qbt_pre1")
    menu_user("qbt_pre1", expire="2027-02-01")
    cfg = ssh_config(tmp_path, sshd, telegram, pakasir)
    Ledger.open(cfg.shop.database).close()
    assert await trio.to_thread.run_sync(operate_accounts.accounts_import, cfg, "sg1",
                                         False) == 0
    backends = counting_logins()
    await start_shop(cfg, backends=backends)

    async def claim(buyer: Buyer, username: str, password: str) -> None:
        buyer.says("/akun")
        await buyer.sees(lambda m: "claim" in m.button_data())
        buyer.taps("claim")
        await buyer.sees("Pilih servernya")
        buyer.taps("csrv:sg1")
        await buyer.sees("username")
        buyer.says(username)
        await buyer.sees("password")
        buyer.says(password)

    # A stranger asking about a name the shop does not hold gets the same answer, and the
    # shop never tries a password on the server for it (no oracle for `root`).
    stranger = Buyer(telegram, 7502)
    await claim(stranger, "root", "tebak-tebak")
    await stranger.sees("Data tidak cocok")
    assert CountingLogins.tried == []

    owner = Buyer(telegram, 7501)
    await claim(owner, "qbt_pre1", "salah-pw-1")
    await owner.sees("Data tidak cocok")
    await claim(owner, "qbt_pre1", PASSWORD)
    await owner.sees("sekarang tercatat milik Anda")
    detail = await owner.sees("Akun SSH Anda")
    assert "qbt_pre1" in detail.text and PASSWORD in detail.text
    assert CountingLogins.tried == ["qbt_pre1", "qbt_pre1"]
    ledger = Ledger.open(cfg.shop.database)
    (account,) = ledger.accounts_of(7501)
    assert ledger.claim_failures(7501, 0) == 1

    # Theirs to renew: from its last day (31 January), on the server, password unchanged.
    owner.says("/akun")
    assert f"ren:{account.id}" in (await owner.sees("Akun saya")).button_data()
    _, renewal = await owner.renews(f"ren:{account.id}")
    pakasir.pay(renewal)
    await owner.sees("diperpanjang sampai 02-03-2027", within=90)
    assert "Mar 03, 2027" in shadow_expiry("qbt_pre1")
    assert await backends.backend(cfg.servers[0]).login_opens("qbt_pre1", PASSWORD)


async def test_menu_made_names_are_imported_claimed_renewed_and_removed_as_spelled(
    sshd, linux_users, tmp_path, start_shop, telegram, pakasir
):
    """The families' menus make Linux users like `Budi2779` or `20245161x`: imported with
    their name as it is, claimed by it (exactly: `qbt_h3budi` is another name), renewed
    on the server, and removed as themselves."""
    import datetime as dt

    from qrisbot.provision import Removal, Removed

    linux_users += ["Qbt_H3Budi", "2024qbt_h3"]
    menu_user("Qbt_H3Budi", expire="2027-02-01")
    menu_user("2024qbt_h3", expire="2027-02-01")
    cfg = ssh_config(tmp_path, sshd, telegram, pakasir)
    assert await trio.to_thread.run_sync(operate_accounts.accounts_import, cfg, "sg1",
                                         False) == 0
    ledger = Ledger.open(cfg.shop.database)
    assert {"Qbt_H3Budi", "2024qbt_h3"} <= {a.username for a in ledger.accounts("sg1")}
    provisioner = SshProvisioner()
    await start_shop(cfg, backends=provisioner)
    owner = Buyer(telegram, 7511)

    async def claim(username: str) -> None:
        owner.says("/akun")
        await owner.sees(lambda m: "claim" in m.button_data())
        owner.taps("claim")
        await owner.sees("Pilih servernya")
        owner.taps("csrv:sg1")
        await owner.sees("username")
        owner.says(username)
        await owner.sees("password")
        owner.says(PASSWORD)

    await claim("qbt_h3budi")
    await owner.sees("Data tidak cocok")
    await claim("Qbt_H3Budi")
    await owner.sees("sekarang tercatat milik Anda")
    (account,) = ledger.accounts_of(7511)
    assert account.username == "Qbt_H3Budi"
    owner.says("/akun")
    await owner.sees("Akun saya")
    _, renewal = await owner.renews(f"ren:{account.id}")
    pakasir.pay(renewal)
    await owner.sees("diperpanjang sampai 02-03-2027", within=90)
    assert "Mar 03, 2027" in shadow_expiry("Qbt_H3Budi")
    outcome = await provisioner.remove(cfg.servers[0], [Removal(
        made_by="imported", username="2024qbt_h3", secret="stand-in-123",
        expires=dt.date(2027, 1, 31))])
    assert outcome == {"2024qbt_h3": Removed.GONE}
    present = {line.split(":")[0] for line in open("/etc/passwd")}
    assert "2024qbt_h3" not in present and "Qbt_H3Budi" in present


async def test_an_imported_user_is_removed_as_itself_never_a_shop_or_system_user(
    sshd, linux_users
):
    import datetime as dt

    from qrisbot.config import Server, SshAccess
    from qrisbot.provision import Removal, Removed

    linux_users += ["qbt_imp", "qbt_made", "qbt_sys"]
    menu_user("qbt_imp", expire="2026-11-20")
    subprocess.run(["usermod", "-c", "qrisbot-imported", "qbt_imp"], check=True)  # as imported
    menu_user("qbt_sys", expire="2026-11-20", shell="/usr/sbin/nologin", system=True)
    subprocess.run(["useradd", "-M", "-s", "/bin/false", "-e", "2026-11-20", "-c",
                    "qrisbot-VPN9", "qbt_made"], check=True)  # another order's account
    server = Server(id="sg1", name="SG", protocol="ssh", domain="sg1.example.com",
                    price_per_month=10000, ssh=SshAccess(**sshd.access()))
    provisioner = SshProvisioner()
    try:
        outcome = await provisioner.remove(server, [
            Removal(made_by="imported", username=name, secret="stand-in-123",
                    expires=dt.date(2026, 11, 19))
            for name in ("qbt_imp", "qbt_made", "qbt_sys")])
    finally:
        provisioner.close()
    assert outcome == {"qbt_imp": Removed.GONE, "qbt_made": Removed.FOREIGN,
                       "qbt_sys": Removed.FOREIGN}
    present = {line.split(":")[0] for line in open("/etc/passwd")}
    assert "qbt_imp" not in present and {"qbt_made", "qbt_sys"} <= present


async def test_on_an_rmbl_server_only_its_listed_ssh_accounts_are_imported_with_their_password(
    sshd, linux_users, tmp_path, capsys
):
    linux_users += ["qbt_lst1", "qbt_lst2"]
    menu_user("qbt_lst1", expire="2027-02-01")
    menu_user("qbt_lst2", expire="2027-02-01")  # a tunnel user, but not in RMBL's list
    listed = tmp_path / "ssh"
    listed.write_text(f"### qbt_lst1 2027-02-01 {PASSWORD}\n### $(reboot) 2027-01-01 x\n")
    raw = config_for("http://127.0.0.1:1", "1:abcdefghijk", "http://127.0.0.1:1", "p", "k",
                     str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", protocol="ssh", ssh=sshd.access(),
                                   linux={"layout": "rmbl", "account_list": str(listed),
                                          "ip_files": str(tmp_path / "sshx")})], {})
    cfg = config.parse(raw, {})
    Ledger.open(cfg.shop.database).close()
    assert await trio.to_thread.run_sync(operate_accounts.accounts_import, cfg, "sg1",
                                         False) == 0
    out = capsys.readouterr().out
    assert "new     qbt_lst1" in out and "qbt_lst2" not in out
    account = Ledger.open(cfg.shop.database).account_named("sg1", "qbt_lst1")
    assert account is not None and account.secret == PASSWORD  # as the family keeps it


# --- an imported account is bound to the Linux user it was imported as -----------------

ADMIN = 9031
OWNER_OK, OWNER_GONE = 7531, 7532
STRANGER = "h4-orang-lain"  # the stranger's, when the menu made the name again
TYPED_PASSWORDS.add(STRANGER)


def shadow(name: str) -> str:
    """The user's shadow line without its password hash."""
    line = next(entry for entry in open("/etc/shadow").read().splitlines()
                if entry.split(":")[0] == name)
    fields = line.split(":")
    return ":".join([fields[0], *fields[2:]])


def gecos(name: str) -> str:
    return pwd.getpwnam(name).pw_gecos


def ssh_config_with_admin(tmp_path, sshd, telegram, pakasir) -> config.Config:
    raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                     pakasir.api_key, str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", protocol="ssh", ssh=sshd.access())],
                     {"remind_days": [], "admins": [ADMIN]})
    return config.parse(raw, {})


async def test_an_imported_name_made_again_for_a_stranger_is_never_renewed_or_removed(
    sshd, linux_users, tmp_path, start_shop, telegram, pakasir
):
    linux_users += ["qbt_h4ok", "qbt_h4gone", "qbt_h4rm"]
    for name in linux_users[-3:]:
        menu_user(name, expire="2027-02-01")
    cfg = ssh_config_with_admin(tmp_path, sshd, telegram, pakasir)
    Ledger.open(cfg.shop.database).close()

    def operate(function, *args):
        return trio.to_thread.run_sync(function, cfg, *args)

    assert await operate(operate_accounts.accounts_import, "sg1", False) == 0
    for name, owner in (("qbt_h4ok", OWNER_OK), ("qbt_h4gone", OWNER_GONE)):
        assert await operate(operate_accounts.accounts_assign, "sg1", name, owner) == 0
    # The family's cron deleted qbt_h4gone and qbt_h4rm, and the menu made the names again
    # for strangers (with the same date).
    strangers = {}
    for name in ("qbt_h4gone", "qbt_h4rm"):
        subprocess.run(["userdel", "-f", name], check=True)
        menu_user(name, expire="2027-02-01", password=STRANGER)
        strangers[name] = shadow(name), gecos(name)
    await start_shop(cfg, backends=SshProvisioner())
    ledger = Ledger.open(cfg.shop.database)
    admin = Buyer(telegram, ADMIN)

    async def renew(owner: Buyer) -> None:
        (account,) = ledger.accounts_of(owner.chat_id)
        owner.says("/akun")
        await owner.sees("Akun saya")
        _, renewal = await owner.renews(f"ren:{account.id}")
        pakasir.pay(renewal)

    # The original buyer pays: refused on the server, told so (never "diperpanjang"), the
    # admins told why; the stranger keeps exactly what the menu gave them.
    gone = Buyer(telegram, OWNER_GONE)
    await renew(gone)
    told = await gone.sees("Admin sudah diberi tahu", within=90)
    assert "diperpanjang" in told.text and "belum bisa diperpanjang" in told.text
    assert not any("diperpanjang sampai" in m.body for m in telegram.messages(OWNER_GONE))
    notice = await admin.sees("perlu Anda", within=30)
    assert "qbt_h4gone" in notice.text and "someone else" in notice.text
    assert (shadow("qbt_h4gone"), gecos("qbt_h4gone")) == strangers["qbt_h4gone"]

    # The genuine imported user renews (from its last day) and carries the shop's mark.
    ok = Buyer(telegram, OWNER_OK)
    await renew(ok)
    await ok.sees("diperpanjang sampai 02-03-2027", within=90)
    assert shadow("qbt_h4ok").split(":")[6] == str(
        (dt.date(2027, 3, 3) - dt.date(1970, 1, 1)).days)
    assert gecos("qbt_h4ok") == "qrisbot-imported"

    # The operator removes qbt_h4rm (its last day is the stranger's date): the stranger
    # stays, the admins are told.
    assert await operate(operate_accounts.accounts_remove, "sg1", "qbt_h4rm", True, 30.0) == 0
    notice = await admin.sees(lambda m: "qbt_h4rm" in m.body and "tidak dihapus" in m.body,
                              within=30)
    assert "pengguna lain" in notice.text
    assert (shadow("qbt_h4rm"), gecos("qbt_h4rm")) == strangers["qbt_h4rm"]


def server_of(sshd) -> Server:
    return Server(id="sg1", name="SG", protocol="ssh", domain="sg1.example.com",
                  price_per_month=10000, ssh=SshAccess(**sshd.access()))


async def test_a_stranger_given_the_imported_users_very_uid_is_still_not_it(
    sshd, linux_users, tmp_path, capsys
):
    """useradd gives the next uid after the highest: deleting the newest user and making
    its name again hands the stranger the same uid. The mark written at import still
    tells them apart."""
    linux_users.append("qbt_h4uid")
    menu_user("qbt_h4uid", expire="2027-02-01")
    raw = config_for("http://127.0.0.1:1", "1:abcdefghijk", "http://127.0.0.1:1", "p", "k",
                     str(tmp_path / "ledger.sqlite3"),
                     [server_entry("sg1", protocol="ssh", ssh=sshd.access())], {})
    cfg = config.parse(raw, {})
    Ledger.open(cfg.shop.database).close()
    assert await trio.to_thread.run_sync(operate_accounts.accounts_import, cfg, "sg1",
                                         False) == 0
    account = Ledger.open(cfg.shop.database).account_named("sg1", "qbt_h4uid")
    assert account is not None
    uid = pwd.getpwnam("qbt_h4uid").pw_uid
    subprocess.run(["userdel", "-f", "qbt_h4uid"], check=True)
    menu_user("qbt_h4uid", expire="2027-06-01", password=STRANGER, uid=uid)
    before = shadow("qbt_h4uid")
    provisioner = SshProvisioner()
    try:
        with pytest.raises(UsernameTaken):
            await provisioner.extend(server_of(sshd), Extension(
                order_id="VPN31", made_by=account.tag, username="qbt_h4uid",
                secret=account.secret, expires=dt.date(2030, 1, 1)))
        outcome = await provisioner.remove(server_of(sshd), [Removal(
            made_by=account.tag, username="qbt_h4uid", secret=account.secret,
            expires=dt.date(2027, 5, 31))])
    finally:
        provisioner.close()
    assert outcome == {"qbt_h4uid": Removed.FOREIGN}
    assert shadow("qbt_h4uid") == before and gecos("qbt_h4uid") == ""
