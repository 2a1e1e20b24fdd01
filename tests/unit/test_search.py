"""Finding a customer on the downloaded route (issue 13, point 11): by the trailing digits too."""

from __future__ import annotations

import datetime as dt

from terminal_app.domain.customer import Customer, Meter
from terminal_app.services.search import find_customers
from terminal_app.services.store import LocalStore

AT = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def customer(n: int, name: str) -> tuple[Customer, dict]:
    c = Customer(f"01010100{n:02d}", name, "桂花村", Meter(f"513001370000000{n:02d}7"), "sichuan-residential", seq=n)
    return c, c.to_dict()


def test_by_number_meter_trailing_digits_prefix_and_name(tmp_path):
    with LocalStore.open(tmp_path / "store.sqlite") as store:
        store.start_route("010101", "桂花村", 1, 100, 3, AT)
        store.store_page("010101", 1, AT.isoformat(), [customer(1, "孙玉成"), customer(12, "王秀英"),
                                                         customer(21, "王德明")])
        names = lambda q: [c.name for c in find_customers(store, q)]  # noqa: E731
        assert names("0101010012") == ["王秀英"]          # the number
        assert names("513001370000000217") == ["王德明"]  # the meter
        assert names("012") == ["王秀英"]                  # the number's last digits
        assert names("127") == ["王秀英"]                  # the meter's last digits
        assert names("01010100") == ["孙玉成", "王秀英", "王德明"]  # a prefix, in route order
        assert names("王") == ["王秀英", "王德明"]
        assert names("12") == []                           # two digits match too much to be a search
        assert names("999") == [] and names("  ") == []
