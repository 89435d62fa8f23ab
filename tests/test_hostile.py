"""Hostile input, property-based (hypothesis): whatever a stranger sends, the shop neither
crashes nor does what the input says.

Quick form in the test command; the long form runs thousands of examples:
    QRISBOT_HOSTILE_EXAMPLES=5000 .venv/bin/pytest tests/test_hostile.py
(the whole-shop conversation property runs a tenth of that number).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import subprocess
import tempfile
from functools import partial
from pathlib import Path

import httpx
import trio
import trio.testing
from buyer import Buyer
from conftest import server_entry
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from qrisbot import app, config
from qrisbot import ledger as L
from qrisbot.config import Commands
from qrisbot.ledger import Ledger
from qrisbot.pakasir import Pakasir, PakasirError
from qrisbot.provision import Presence
from qrisbot.provision.port import PASSWORD, Account
from qrisbot.provision.ssh.recipes import (
    USERNAME,
    CustomCommands,
    LinuxUsers,
    XrayMarkers,
    batch,
    results,
)
from qrisbot.telegram.types import parse_update
from qrisbot.testing import config_for
from qrisbot.testing.fake_pakasir import FakePakasir
from qrisbot.testing.fake_telegram import FakeTelegram
from qrisbot.testing.local_provisioner import LocalProvisioner
from qrisbot.webhook import _fields

EXAMPLES = int(os.environ.get("QRISBOT_HOSTILE_EXAMPLES", "150"))
CONVERSATIONS = max(EXAMPLES // 10, 12)
quick = settings(max_examples=EXAMPLES, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])

CANARY = Path(tempfile.gettempdir()) / "qrisbot-canary"
# What an attacker would try to make a shell run; none of it may ever happen.
PAYLOADS = [f"$(touch${{IFS}}{CANARY})", f"`touch${{IFS}}{CANARY}`", f";touch${{IFS}}{CANARY}",
            f"|touch${{IFS}}{CANARY}", f"&&touch${{IFS}}{CANARY}", f"'$(touch${{IFS}}{CANARY})'",
            f'"`touch${{IFS}}{CANARY}`"', f"\\$(touch${{IFS}}{CANARY})", "${PATH}", "%s%n\\n"]
PRINTABLE = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)


def hostile_secret() -> st.SearchStrategy[str]:
    """Passwords a buyer may choose: the allowed alphabet, salted with shell payloads."""
    return st.builds(
        lambda a, p, b: (a + p + b)[:32],
        st.text(PRINTABLE, max_size=10), st.sampled_from(PAYLOADS), st.text(PRINTABLE, max_size=10),
    ) | st.text(PRINTABLE, min_size=6, max_size=32)


# --- what arrives from Telegram ---------------------------------------------------------------

@quick
@given(json_values)
def test_any_update_parses_or_is_refused(raw):
    update = parse_update(raw)
    assert update is None or isinstance(update.update_id, int)
    update = parse_update({"update_id": 1, "message": raw, "callback_query": raw})
    assert update is not None and update.update_id == 1


# --- what reaches a shell -----------------------------------------------------------------

def run_like_the_server(script_command: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    """As Connection.run does it, on this machine's sh."""
    return subprocess.run(["timeout", "20", "sh", "-c", script_command], input=stdin,
                          capture_output=True, timeout=30)


@quick
@given(secret=hostile_secret(), username=st.from_regex(USERNAME, fullmatch=True)
       | st.text(max_size=20) | st.sampled_from(PAYLOADS))
def test_no_input_makes_a_recipe_run_what_it_says(tmp_path, secret, username):
    CANARY.unlink(missing_ok=True)
    store = tmp_path / "accounts"
    store.mkdir(exist_ok=True)
    recipe = CustomCommands(Commands(create=f"cat > {store}/{{username}}-{{order_id}}",
                                     exists="exit 1"))
    try:
        account = Account(order_id="VPN1", username=username, secret=secret,
                          expires=dt.date(2027, 1, 1), months=1, days=30)
    except ValueError:
        # Refused before any script exists: the validation is the only way in.
        assert not (USERNAME.fullmatch(username) and PASSWORD.fullmatch(secret))
        return
    event("a hostile secret went through the server's shell")
    script = batch(recipe, [account])
    if secret not in f"{username} VPN1 {store}":  # (a password may equal the username)
        assert secret not in script.command  # secrets only ever travel on stdin
    result = run_like_the_server(script.command, script.stdin)
    assert results(result.stdout.decode()) == {0: 0}, result.stderr
    assert (store / f"{username}-VPN1").read_text() == secret + "\n"
    assert not CANARY.exists()


@quick
@given(st.text(), st.integers(-5, 300))
def test_server_output_never_confuses_the_shop(stdout, status):
    found = results(stdout)
    assert all(isinstance(k, int) and isinstance(v, int) for k, v in found.items())
    for recipe in (LinuxUsers(), XrayMarkers("vless", config.DEFAULT_XRAY["vless"]),
                   CustomCommands(Commands(create="x", exists="y"))):
        assert recipe.presence(status, stdout) in (None, Presence.TAKEN, Presence.ABSENT)


@quick
@given(st.lists(st.text(max_size=80) | st.builds(
    lambda name, days: f"acct {name} {days}", st.text(max_size=20),
    st.integers(-5, 10**7).map(str) | st.just("-") | st.text(max_size=8)), max_size=20))
def test_any_list_of_server_users_is_read_as_accounts_or_skipped(lines):
    from qrisbot.provision.ssh.existing import _users

    text = "\n".join(lines)
    found = _users(text)
    assert len(found.accounts) + found.skipped <= len(text.splitlines())
    for account in found.accounts:  # only names the shop could have sold, real dates
        assert USERNAME.fullmatch(account.username) and account.secret == ""
        assert dt.date(1969, 12, 31) <= account.last_day


# --- what Pakasir (or someone pretending to be it) sends ------------------------------------

@quick
@given(status=st.sampled_from([200, 201, 400, 404, 429, 500, 502]),
       body=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode())
       | st.builds(lambda t: json.dumps({"transaction": t}).encode(), json_values)
       | st.builds(lambda p: json.dumps({"payment": p}).encode(), json_values),
       version=st.sampled_from([1, 2]))
def test_any_pakasir_answer_is_a_result_or_a_pakasir_error(status, body, version):
    async def main() -> None:
        transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
        async with httpx.AsyncClient(transport=transport) as client:
            pakasir = Pakasir(client, project="p", api_key="k", base_url="http://pakasir",
                              version=version)
            for call in (partial(pakasir.create, "VPN1", 10000),
                         partial(pakasir.status, "VPN1", "T1", 10000),
                         partial(pakasir.cancel, "VPN1", "T1", 10000)):
                try:
                    outcome = await call()
                except PakasirError:
                    continue
                if outcome is not None and hasattr(outcome, "fee"):
                    assert outcome.amount == 10000 and outcome.total >= 10000

    trio.run(main)


@quick
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_webhook_body_is_read_as_fields(body):
    assert isinstance(_fields(body), dict)


# --- the whole shop, a stranger typing and tapping anything --------------------------------

TEXTS = st.text(max_size=300) | st.sampled_from(
    ["/start", "/help", "/cancel", "/admin", "/broadcast hi", "/start@other_bot x", "budi_99",
     "/akun", "/accounts", "sudah bayar", "I paid",
     "rahasia123", "<b>", "&amp;", "a" * 5000, "\x00\x1b[31m", "ا" * 40, "🙂" * 100, *PAYLOADS])
CALLBACKS = st.text(max_size=80) | st.sampled_from(
    ["srv:sg1", "full:sg1", "dur:1", "dur:0", "dur:13", "dur:-1", "dur:1e3", "pay", "cancel",
     "qcancel:{victim}", "qcheck:{victim}", "qshow:{victim}", "retry:{victim}", "adm:srv",
     "adm:off:sg1", "adm:retry:{victim}",
     "adm:refunded:{victim}", "adm:bcgo", "srv:../../etc", "x" * 65, "srv:" + "a" * 60,
     "acc", "acd:{account}", "ren:{account}", "acd:0", "ren:-1", "acd:" + "9" * 40,
     "ren:x", "dur:1", "pay", "trial", "tsrv:sg1", "tsrv:zz", "tsrv:", "trial:1", "claim",
     "csrv:sg1", "csrv:zz", "contact"])
INPUTS = st.lists(st.tuples(st.booleans(), TEXTS, CALLBACKS, st.booleans()), min_size=1,
                  max_size=12)


class _Problems(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.ERROR or "refused a reply" in message:
            self.found.append(message)


@settings(max_examples=CONVERSATIONS, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(INPUTS)
def test_a_stranger_cannot_crash_the_shop_or_touch_another_buyers_order(inputs):
    problems = _Problems()
    logging.getLogger().addHandler(problems)
    try:
        victim_order, telegram, db = trio.run(
            _stranger, inputs, clock=trio.testing.MockClock(autojump_threshold=0))
    finally:
        logging.getLogger().removeHandler(problems)
    assert problems.found == []  # no crash, no reply Telegram would refuse (bad HTML/markup)
    ledger = Ledger.open(db)
    assert ledger.get(victim_order).state == L.AWAITING
    assert not any(o.state not in L.TRANSITIONS for o in ledger.orders())
    stranger_saw = " ".join(m.body for m in telegram.messages(6001))
    assert victim_order not in stranger_saw and "Admin ·" not in stranger_saw
    # The victim's account: never shown to the stranger, never renewed by them.
    (account,) = ledger.accounts_of(5001)
    assert "victim-pass9" not in stranger_saw
    assert account.state == L.ACTIVE and not any(
        o.kind == L.RENEWAL and o.account_id == account.id for o in ledger.orders())
    # At most the stranger's own one trial, however often they tap.
    trials = [o for o in ledger.orders() if o.kind == L.TRIAL]
    assert len(trials) <= 1 and all(o.user_id == 6001 for o in trials)
    ledger.close()


async def _stranger(inputs) -> tuple[str, FakeTelegram, Path]:
    telegram, pakasir = FakeTelegram(), FakePakasir()
    db = Path(tempfile.mkdtemp(prefix="qrisbot-hostile-")) / "ledger.sqlite3"
    async with trio.open_nursery() as nursery:
        await nursery.start(telegram.serve)
        await nursery.start(pakasir.serve)
        raw = config_for(telegram.url, telegram.token, pakasir.url, pakasir.project,
                         pakasir.api_key, str(db), [server_entry()], {"admins": [9001]})
        raw["trial"] = {"hours": 2}
        await nursery.start(partial(app.run, config.parse(raw, {}),
                                    backends=LocalProvisioner()))
        victim = Buyer(telegram, 5001)
        _, first = await victim.buys(username="vic_one", password="victim-pass9")
        pakasir.pay(first)
        await victim.sees("Akun SSH Anda siap")
        _, victim_order = await victim.buys()
        for is_text, text, data, latest in inputs:
            if is_text:
                telegram.user_sends(6001, text)
            else:
                messages = telegram.messages(6001)
                target = messages[-1].message_id if latest and messages else 1
                telegram.user_taps(6001, target, data.replace("{victim}", victim_order)
                                   .replace("{account}", "1"))
            await trio.sleep(0.5)
        await trio.sleep(30)
        nursery.cancel_scope.cancel()
    assert re.fullmatch(r"VPN\d+", victim_order)
    return victim_order, telegram, db
