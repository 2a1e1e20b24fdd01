"""The penalty rule is DATA the station sends (HELLO params.penalty), parsed strictly; the terminal
keeps what the station sent and counts with it — a utility whose rule differs changes the station,
not the terminal.  Also: the bill at the door refuses periods outside 15–62 days and time-of-use
tariffs with a reason the operator reads in Chinese."""

from __future__ import annotations

import datetime as dt
from contextlib import closing
from decimal import Decimal

import pytest

from hw_mocks.station import assignments, ledger
from hw_mocks.station.area import Bill, Customer, insert, packaged_tariffs
from hw_mocks.station.handlers import Station
from terminal_app.domain.customer import Customer as TerminalCustomer
from terminal_app.domain.customer import Meter
from terminal_app.domain.errors import RecordFormatError
from terminal_app.domain.penalty import DEFAULT_RULE, CategoryRates, PenaltyRule
from terminal_app.domain.reading import Reading, ReadingSource
from terminal_app.errors import BusinessRuleError
from terminal_app.services import route
from terminal_app.services.common import TariffBook
from terminal_app.services.reading import precalculate_or_why
from terminal_app.services.store import LocalStore
from terminal_app.station.client import Request, StationRefusedError
from terminal_app.station.messages import MsgType
from terminal_app.timeutil import SHANGHAI, FixedClock
from ui.i18n import Translator


def test_the_rule_round_trips_through_hello_params():
    assert PenaltyRule.from_params(DEFAULT_RULE.to_params()) == DEFAULT_RULE
    assert DEFAULT_RULE.to_params()["rates"]["residential"] == {"current_year": "1", "earlier_years": "1",
                                                                 "zh": "居民"}


@pytest.mark.parametrize("change, detail", [
    ({"rule": "monthly"}, "daily_per_mille"),
    ({"start": "due_day"}, "start"),
    ({"rounding": "half_even"}, "rounding"),
    ({"year_of_arrears": "due_day"}, "year_of_arrears"),
    ({"minimum": 1.0}, "minimum"),
    ({"minimum": -1}, "minimum"),
    ({"rates": {}}, "rates"),
    ({"rates": {"residential": {"current_year": 1, "earlier_years": "1"}}}, "per-mille"),
    ({"rates": {"residential": {"current_year": "0.1e1", "earlier_years": "1"}}}, "per-mille"),
    ({"rates": {"Residential": {"current_year": "1", "earlier_years": "1"}}}, "category"),
])
def test_a_rule_this_terminal_would_misread_is_refused(change, detail):
    with pytest.raises(RecordFormatError, match=detail):
        PenaltyRule.from_params({**DEFAULT_RULE.to_params(), **change})


class InProcessClient:
    """The station's handlers called directly (no GT/1 here: test_penalty_at_the_door has it)."""

    def __init__(self, station: Station) -> None:
        self.station, self.seq = station, 0

    def call(self, request: Request) -> dict:
        self.seq += 1
        reply = self.station.process("00000001", self.seq, int(request.msg_type), dict(request.body))
        if reply.error:
            raise StationRefusedError(reply.body["code"], reply.body["msg"], reply.body)
        return reply.body


def test_the_terminal_counts_with_the_rule_the_station_sent(tmp_path):
    # a utility whose rule is 0.5‰ a day for everybody and no minimum
    half = PenaltyRule({"residential": CategoryRates(Decimal("0.5"), Decimal("0.5")),
                        "other": CategoryRates(Decimal("0.5"), Decimal("0.5"))}, minimum=0, source="test")
    now = dt.datetime(2026, 11, 24, 9, 0, tzinfo=SHANGHAI)
    with closing(ledger.connect(":memory:")) as conn, LocalStore.open(tmp_path / "store.sqlite") as store:
        insert(conn, packaged_tariffs(),
               [Customer("C1", "王秀英", "桂花村1组1号", "S1", "桂花村", "A1", "000000000001", "2007", False,
                         "sichuan-residential")],
               [Bill("C1", "2026-10", 10000, 0, "2026-11-15")], as_of=now.date())
        assignments.assign(conn, [("S1", "0007")], by="test")
        station = Station(conn, FixedClock(at=now), penalty_rule=half)
        assert store.penalty_rule() == DEFAULT_RULE  # nothing received yet: the packaged rule
        client = InProcessClient(station)
        assert route.fetch_params(client, store, operator="0007", clock=FixedClock(at=now))
        assert store.penalty_rule() == half
        item = client.call(Request(MsgType.ROUTE_DOWNLOAD, {"segment": "S1", "page": 1,
                                                                             "page_size": 10, "op": "0007"}))["items"][0]
        arrears = TerminalCustomer.from_dict(item).arrears[0]
        # 9 days × 10000 × 0.5‰ = 45 fen, no minimum: the station's figure and the terminal's
        assert arrears.penalty == 45 and arrears.as_of(store.penalty_rule(), now.date()).penalty == 45
        assert arrears.as_of(store.penalty_rule(), now.date() + dt.timedelta(days=10)).penalty == 95


def _reading(days: int, kwh: str = "300") -> tuple[TerminalCustomer, Reading]:
    last = dt.datetime(2026, 10, 25, 10, 0, tzinfo=SHANGHAI)
    meter = Meter("A1", "000000000001", "2007")
    c = TerminalCustomer("C1", "王秀英", "桂花村", meter, "sichuan-residential", last_reading=Decimal("1000"),
                         last_read_at=last)
    r = Reading("C1", "A1", last + dt.timedelta(days=days), ReadingSource.IR, Decimal("1000") + Decimal(kwh),
                previous=Decimal("1000"), consumption=Decimal(kwh))
    return c, r


def test_reading_periods_outside_15_to_62_days_get_no_bill_and_say_why_in_chinese(tmp_path):
    zh = Translator("zh_CN")
    with LocalStore.open(tmp_path / "s.sqlite") as store:
        book = TariffBook(store)
        for days in (15, 30, 62):
            bill, why = precalculate_or_why(book, *_reading(days))
            assert bill is not None and bill.days == days and why is None
        for days in (14, 63, 200):
            bill, why = precalculate_or_why(book, *_reading(days))
            assert bill is None and why.params["days"] == days
            assert f"抄表周期为{days}天，不在15–62天内" in zh.error(why)


def test_a_time_of_use_tariff_is_refused_clearly(tmp_path):
    zh = Translator("zh_CN")
    with LocalStore.open(tmp_path / "s.sqlite") as store:
        c, r = _reading(30)
        c = TerminalCustomer(c.number, c.name, c.address, c.meter, "tou-sample", last_reading=c.last_reading,
                             last_read_at=c.last_read_at)
        bill, why = precalculate_or_why(TariffBook(store), c, r)
        assert bill is None and isinstance(why, BusinessRuleError)
        assert "分时电价" in zh.error(why) and "主站" in zh.error(why)
