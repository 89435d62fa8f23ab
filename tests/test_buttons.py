"""Button data: every kind packs and unpacks to itself; anything else is not a press."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qrisbot.shop.buttons import KINDS, Press, pack, unpack

SAMPLES = {"srv": "sg-1", "full": "sg1", "dur": 12, "retry": "VPN1795804663350710",
           "qcancel": "VPN1", "qcheck": "VPN2", "qshow": "VPN3", "acd": 123456789012345678,
           "ren": 7, "tsrv": "sg1", "refday": 12,
           "again": "sg1",
           "adm:retry": "OPS1795804663350", "adm:refund": "VPN9", "adm:refunded": "VPN9",
           "adm:on": "sg2", "adm:off": "sg2", "csrv": "sg1"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_round_trips(kind):
    value = SAMPLES.get(kind)
    data = pack(kind, value)
    assert len(data.encode()) <= 64
    assert unpack(data) == Press(kind, "" if value is None else str(value))


@pytest.mark.parametrize("data", [
    "", "acd:" + "9" * 19, "acd:", "acd:-1", "acd:1.0", "ren:x", "dur:0", "dur:123",
    "srv:../../etc", "srv:SG1", "srv:" + "a" * 17, "pay:1", "acc:", "adm:menu:x",
    "adm:retry", "adm:retry:VPN 1", "adm:", "adm:nope", "x" * 65, "retry:VPN1:2",
    "tsrv:sg1\n", "\x00", "trial:1",
])
def test_anything_the_shop_never_sends_is_not_a_press(data):
    assert unpack(data) is None


@given(st.text(max_size=80))
def test_any_text_unpacks_to_a_known_kind_or_nothing(data):
    press = unpack(data)
    assert press is None or (press.kind in KINDS and pack(
        press.kind, press.value or None) == data)
