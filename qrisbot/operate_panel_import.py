"""`qrisbot accounts import ID` on a panel server: the panel's clients / users recorded
as accounts without an owner, as on SSH servers, each with the panel's own details (its
share links and subscription URL, asked of the panel per account: `backend.delivery`).

The reading and every delivery happen in one session with the panel (one login), closed
at the end. Each account is written once its details are in, so a panel that stops
answering half-way leaves the accounts written so far imported and says which, and which
were not: running it again takes on the rest (twice is once).
"""

from __future__ import annotations

import datetime as dt
import json

import attrs
import trio

from qrisbot import config as cfg
from qrisbot.ledger import Ledger
from qrisbot.operate import EXIT_FAILURE, EXIT_OK, fail, open_ledger, shop_today
from qrisbot.provision import AccountMissing, Feature, Registry, ServerError
from qrisbot.provision.port import Backend, Found

CLOSE_DEADLINE = 5  # seconds to log out / close the panel's connections at the end


@attrs.define
class _Run:
    """What one import came to, printed as it goes."""

    imported: list[str] = attrs.Factory(list)
    not_imported: list[str] = attrs.Factory(list)  # left when the panel stopped answering
    stopped: str | None = None  # why (never a secret: the backends mask them)


def import_panel(config: cfg.Config, server: cfg.Server, dry_run: bool) -> int:
    """Record the panel's accounts; EXIT_FAILURE when the panel could not be read, or
    stopped answering before every account was taken on (said which)."""
    backends = Registry(shop=config.shop)
    backend = backends.backend(server)
    if Feature.READ not in backend.features:
        return fail(f"{server.id}: the accounts on this panel cannot be read")
    with open_ledger(config, create=True) as ledger:
        if ledger is None:
            return EXIT_FAILURE

        async def run() -> tuple[Found, _Run]:
            try:
                found = await backend.read_accounts()
                return found, await _take_on(server, backend, ledger, found, dry_run,
                                             shop_today(config))
            finally:
                with trio.CancelScope(shield=True,
                                      deadline=trio.current_time() + CLOSE_DEADLINE):
                    await backends.aclose()

        try:
            found, done = trio.run(run)
        except ServerError as exc:
            return fail(f"{server.id}: {exc}; nothing imported")
    for note in found.notes:
        print(f"skipped  {note}")
    verb = "would be imported" if dry_run else "imported"
    print(f"{server.id}: {len(found.accounts)} account(s) on the panel, {len(done.imported)} "
          f"{verb}" + (f"; {found.skipped} skipped" if found.skipped else ""))
    if done.stopped is None:
        return EXIT_OK
    return fail(f"{server.id}: the panel stopped answering ({done.stopped}); imported before "
                f"it did: {', '.join(done.imported) or 'none'}; not imported: "
                f"{', '.join(done.not_imported)}. Run it again to take on the rest (what "
                "is imported stays, once)")


async def _take_on(server: cfg.Server, backend: Backend, ledger: Ledger, found: Found,
                   dry_run: bool, today: dt.date) -> _Run:
    done = _Run()
    for there in found.accounts:
        if done.stopped is not None:
            done.not_imported.append(there.username)
            continue
        held = ledger.username_held(server.id, there.username)
        if not held and not dry_run:
            try:
                delivery = await backend.delivery(there.username, there.secret,
                                                  there.last_day)
            except AccountMissing:
                print(f"skipped  {there.username}: gone from the panel while it was read")
                continue
            except ServerError as exc:
                done.stopped = str(exc)[:300]
                done.not_imported.append(there.username)
                continue
            # False: the shop sold or imported the name meanwhile.
            held = not ledger.import_account(
                server_id=server.id, protocol=server.protocol, username=there.username,
                secret=there.secret, expires_on=there.last_day,
                details=json.dumps(delivery.to_json()), today=today)
        if not held:
            done.imported.append(there.username)
        print(f"{'known  ' if held else 'new    '} {there.username:16} last day "
              f"{there.last_day}")
    return done
