"""The local store: route pages stored whole, customers by barcode, printed marks that survive a
reopen, stale customers dropped after a full download, the station's tariff preferred."""

from __future__ import annotations

import datetime as dt

from terminal_app.domain.customer import Customer
from terminal_app.services.common import TariffBook
from terminal_app.services.store import LocalStore
from terminal_app.tariffs.loader import PACKAGE_DIR
from terminal_app.timeutil import SHANGHAI

AT = dt.datetime(2026, 11, 24, 9, 0, tzinfo=SHANGHAI)


def item(n: int, tariff: str = "flat-commercial") -> dict:
    return {"cust": f"C{n}", "name": f"客户{n}", "addr": "桂花村", "seq": n,
            "meter": {"asset": f"M{n}", "addr": f"{n:012d}", "standard": "2007", "card": False},
            "last": {"value": "10.00", "at": "2026-10-25T10:00:00+08:00"}, "tariff": tariff,
            "arrears": [{"period": "2026-10", "amount": 100 * n, "penalty": n}], "balance": 0}


def page(items: list[dict]) -> list[tuple[Customer, dict]]:
    return [(Customer.from_dict({**i, "segment": "S"}), i) for i in items]


def test_pages_progress_and_lookup(tmp_path):
    with LocalStore.open(tmp_path / "store.sqlite") as store:
        assert store.route_progress("S") is None
        store.start_route("S", "桂花村", pages=2, page_size=2, total=3, at=AT)
        store.store_page("S", 1, "2026-11-24T09:00:00+08:00", page([item(1), item(2)]))
        p = store.route_progress("S")
        assert p.stored == {1} and p.missing == [2] and not p.complete and p.page_size == 2
        store.store_page("S", 2, "2026-11-24T09:00:01+08:00", page([item(3)]))
        assert store.route_progress("S").complete
        assert store.downloaded_segments() == ["S"]
        c = store.customer_by_meter("M2")
        assert c.number == "C2" and c.segment == "S" and c.arrears_total == 202
        assert store.customer("C3").meter.address == "000000000003"
        assert [c.number for c in store.customers("S")] == ["C1", "C2", "C3"]
        assert store.customer_as_of("C1") == dt.datetime.fromisoformat("2026-11-24T09:00:00+08:00")
        assert store.customer_by_meter("nope") is None


def test_a_fresh_download_drops_customers_no_longer_on_the_route(tmp_path):
    with LocalStore.open(tmp_path / "store.sqlite") as store:
        store.start_route("S", "", pages=1, page_size=5, total=2, at=AT)
        store.store_page("S", 1, "2026-11-23T09:00:00+08:00", page([item(1), item(2)]))
        store.finish_route("S")
        store.start_route("S", "", pages=1, page_size=5, total=1, at=AT)
        assert store.route_progress("S").stored == frozenset()  # restarted: pages forgotten, customers kept
        assert store.customer("C2") is not None
        store.store_page("S", 1, "2026-11-24T09:00:00+08:00", page([item(1)]))
        store.finish_route("S")
        assert store.customer("C2") is None and store.customer("C1") is not None


def test_printed_marks_and_documents_survive_a_reopen(tmp_path):
    path = tmp_path / "store.sqlite"
    with LocalStore.open(path) as store:
        assert not store.was_printed("40000001-7")
        store.mark_printed("40000001-7", AT)
        store.mark_printed("40000001-7", AT)  # idempotent
        store.save_document("40000001-7", "receipt", {"amount_fen": 100})
        store.record_settlement("RJ1", AT.date(), AT, {"collected": 100})
    with LocalStore.open(path) as store:
        assert store.was_printed("40000001-7")
        assert store.document("40000001-7") == ("receipt", {"amount_fen": 100})
        assert [s for s, _ in store.settlements(AT.date())] == ["RJ1"]
        assert store.settlements(AT.date() + dt.timedelta(days=1)) == []


def test_tariff_book_prefers_the_station_version(tmp_path):
    with LocalStore.open(tmp_path / "store.sqlite") as store:
        book = TariffBook(store)
        assert book.get("flat-commercial").name == "flat-commercial"  # packaged
        text = (PACKAGE_DIR / "flat-commercial.toml").read_text(encoding="utf-8")
        changed = text.replace('title = "', 'title = "主站下发 ', 1)
        store.store_tariff("flat-commercial", "v2", changed)
        assert book.get("flat-commercial").title.startswith("主站下发")
