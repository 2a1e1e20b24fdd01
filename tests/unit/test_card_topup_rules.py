"""Small rules of the top-up service that need no devices: the station's authorization is
bounded before any of it reaches the card; limits come from HELLO; refusals say what to do."""

from __future__ import annotations

import pytest

from terminal_app.errors import RemoteProtocolError
from terminal_app.services.topup import CardLimits, Reason, TopupRefused, _checked

GOOD = {"ok": True, "txn": "30000007-1", "amount": 5000, "card_amount": 5000, "purchase_count": 4,
        "mac": "0a1b2c3d", "receipt": "2026112400000001"}


@pytest.mark.parametrize("change", [
    {"mac": "0a1b2c3"}, {"mac": "0a1b2c3g"}, {"mac": 1234}, {"purchase_count": -1}, {"purchase_count": True},
    {"purchase_count": 2**32}, {"amount": "5000"}, {"card_amount": None}, {"receipt": ""}, {"receipt": "x" * 33},
    {"receipt": "收据"}, {"receipt": "a\nb"},
])
def test_a_malformed_authorization_is_refused(change):
    with pytest.raises(RemoteProtocolError):
        _checked({**GOOD, **change}, "30000007-1")


def test_a_good_authorization_passes_untouched():
    assert _checked(GOOD, "t") == GOOD
    old_station = {k: v for k, v in GOOD.items() if k != "card_amount"}
    assert _checked(old_station, "t") == old_station


def test_limits_from_hello_and_refusal_messages():
    assert CardLimits.from_hello({"limits": {"card_min": 500, "card_max": 100_000}}) == CardLimits(500, 100_000)
    assert CardLimits.from_hello({}) == CardLimits()
    e = TopupRefused(Reason.NOT_LOADED, "Ask the customer to insert the card into the meter, then come back.")
    assert "insert the card into the meter first" in str(e) and e.reason is Reason.NOT_LOADED
    e = TopupRefused(Reason.COUNT_MISMATCH, card=2, station=3)
    assert "2" in str(e) and "3" in str(e)
