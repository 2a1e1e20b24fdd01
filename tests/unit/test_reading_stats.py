"""Reading statistics per segment (issue 18 point 3) from a real journal and store: one class per
customer, the day's entries only, a refused entry left out, segments in order."""

from __future__ import annotations

import datetime as dt

from offline_queue.journal import EntryState, Journal, Settlement
from terminal_app.domain.customer import Customer, Meter
from terminal_app.services.reading_stats import SegmentReadings, reading_statistics
from terminal_app.services.store import LocalStore
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import encode_body_fast
from terminal_app.timeutil import SHANGHAI, FixedClock

DAY = dt.date(2026, 11, 24)
AT = dt.datetime(2026, 11, 24, 9, 0, tzinfo=SHANGHAI)


def customer(seg: str, n: int) -> tuple[Customer, dict]:
    c = Customer(f"{seg}{n:04d}", f"王{n}", "桂花村", Meter(f"A{seg}{n:04d}"), "sichuan-residential", seq=n)
    return c, c.to_dict()


def read(journal, cust, abnormal=None):
    item = {"cust": cust, "meter": f"A{cust}", "value": "10.00", "at": AT.isoformat(), "source": "ir"}
    if abnormal:
        item["abnormal"] = abnormal
    return journal.capture("reading", MsgType.READINGS_UPLOAD, encode_body_fast({"readings": [item]}))


def register(journal, cust, code, value=None):
    body = {"cust": cust, "meter": f"A{cust}", "code": code, "at": AT.isoformat()}
    if value:
        body["value"] = value
    return journal.capture("abnormal", MsgType.ABNORMAL_REGISTER, encode_body_fast(body))


def test_each_customer_in_one_class_of_the_day(tmp_path):
    clock = FixedClock(at=AT - dt.timedelta(days=1))
    with Journal.open(tmp_path / "journal.sqlite", "40000001", clock=clock) as journal, \
            LocalStore.beside(tmp_path / "journal.sqlite") as store:
        for seg, n in (("0102", 4), ("0101", 6)):
            store.start_route(seg, "村", 1, 100, n, AT)
            store.store_page(seg, 1, AT.isoformat(), [customer(seg, i) for i in range(1, n + 1)])
        read(journal, "01010001")  # yesterday: not the day's
        clock.at = AT
        read(journal, "01010002")                                   # read
        read(journal, "01010003", abnormal="meter_stopped")         # read, abnormal code on the reading
        register(journal, "01010003", "meter_stopped", "10.00")     # … and its registration: still one
        read(journal, "01010004")
        register(journal, "01010004", "other")                      # read, then an abnormality: abnormal
        register(journal, "01010005", "door_locked")                # no value: skipped
        refused = read(journal, "01010006")                         # the station refused it: unread
        read(journal, "01020001")
        read(journal, "09990001")                                   # not on a downloaded route: ignored
        journal.mark_in_flight([refused.txn])
        journal.settle([Settlement(refused.txn, EntryState.REJECTED, code="E_UNKNOWN_METER", msg="no")])
        stats = reading_statistics(journal, store, DAY)
        assert stats == (SegmentReadings("0101", 6, 1, 2, 1), SegmentReadings("0102", 4, 1, 0, 0))
        assert [s.as_row() for s in stats] == [("0101", 6, 1, 2, 2, 1), ("0102", 4, 1, 3, 0, 0)]
        assert reading_statistics(journal, store, DAY - dt.timedelta(days=1))[0].as_row() == ("0101", 6, 1, 5, 0, 0)
