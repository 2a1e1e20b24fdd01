"""Domain records: money parsing, abnormal codes, customers/segments/arrears, payments and
reversals, dunning tasks — their rules and their JSON shapes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terminal_app.domain.abnormal import Abnormal, AbnormalCode
from terminal_app.domain.bill import Bill, BillLine
from terminal_app.domain.customer import Arrears, Customer, Meter, Segment
from terminal_app.domain.dunning import DunningStatus, DunningTask
from terminal_app.domain.errors import InvalidValueError, RecordFormatError
from terminal_app.domain.money import format_fen, line_amount_fen, parse_kwh, parse_price
from terminal_app.domain.payment import Payment, Reversal, check_reversal_allowed
from terminal_app.errors import BusinessRuleError, RemoteProtocolError
from terminal_app.timeutil import SHANGHAI

AT = dt.datetime(2026, 11, 24, 10, 15, tzinfo=SHANGHAI)


# --- money ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [("12345.67", D("12345.67")), ("0", D(0)), (" 7.5 ", D("7.5")),
                                         (300, D(300)), (D("1.25"), D("1.25"))])
def test_parse_kwh_accepts_decimals(text, value):
    got = parse_kwh(text)
    assert got == value and isinstance(got, D)


@pytest.mark.parametrize("bad", [0.5, True, "1e3", "-1", "1.23456", "abc", "", "NaN", D("NaN"), D("-1"),
                                 "100000001", None, "１２"])
def test_parse_kwh_refuses(bad):
    with pytest.raises(InvalidValueError):
        parse_kwh(bad)


def test_parse_price_bounds():
    assert parse_price("0.522400") == D("0.5224")
    with pytest.raises(InvalidValueError, match="decimal places"):
        parse_price("0.1234567")
    with pytest.raises(InvalidValueError, match="larger"):
        parse_price("101")


def test_line_amount_refuses_floats_and_formats_fen():
    with pytest.raises(TypeError):
        line_amount_fen(0.5, D(1))  # type: ignore[arg-type]
    assert [format_fen(f) for f in (0, 5, 17272, -5, -100)] == ["0.00", "0.05", "172.72", "-0.05", "-1.00"]


def test_bill_total_must_be_sum_of_lines():
    line = BillLine("电度电费", D(1), D("0.5"), 50)
    assert Bill("t", "2026-01", D(1), (line,), 50).total == 50
    with pytest.raises(InvalidValueError, match="sum"):
        Bill("t", "2026-01", D(1), (line,), 51)
    with pytest.raises(InvalidValueError):
        BillLine("x", D(1), D(1), 1.0)  # type: ignore[arg-type]


def test_domain_types_are_frozen_and_slotted():
    a = Arrears("2026-10", 100)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.amount = 5  # type: ignore[misc]
    assert not hasattr(a, "__dict__")


# --- abnormal codes ------------------------------------------------------------------------

def test_abnormal_codes_are_stable_with_chinese_names():
    # the values are the station's codes (reference station: HELLO params.abnormal_codes)
    assert {c.value: c.zh for c in AbnormalCode} == {
        "door_locked": "门闭", "meter_stopped": "表停走", "meter_damaged": "表损坏",
        "running_backwards": "表倒走", "estimated": "估抄", "meter_not_found": "表计未找到", "meter_replaced": "换表",
        "other": "其他"}


def test_other_needs_text_and_text_is_bounded():
    with pytest.raises(InvalidValueError, match="description"):
        Abnormal(AbnormalCode.OTHER, "  ")
    assert Abnormal(AbnormalCode.OTHER, "表箱被水淹").label == "其他：表箱被水淹"
    with pytest.raises(InvalidValueError):
        Abnormal(AbnormalCode.DOOR_LOCKED, "x" * 61)
    with pytest.raises(InvalidValueError):
        Abnormal(AbnormalCode.DOOR_LOCKED, "a\nb")
    assert Abnormal.from_dict({"code": "other", "text": "狗凶"}) == Abnormal(AbnormalCode.OTHER, "狗凶")
    for bad in ({"code": "NOPE"}, {"code": "other"}, [], {"code": 3}):
        with pytest.raises(RecordFormatError):
            Abnormal.from_dict(bad)


# --- customers, segments, arrears ----------------------------------------------------------

def test_arrears_json_shape_is_the_protocols():
    a = Arrears("2026-10", 12345, 62)
    assert a.to_dict() == {"period": "2026-10", "amount": 12345, "penalty": 62} and a.total == 12407
    assert Arrears.from_dict({"period": "2026-10", "amount": 12345, "penalty": 62}) == a
    assert Arrears.from_dict({"period": "2026-09", "amount": 1}).penalty == 0
    # the station adds the due day; it is kept and given back
    with_due = Arrears.from_dict({"period": "2026-10", "amount": 1, "penalty": 0, "due": "2026-11-15"})
    assert with_due.due == "2026-11-15" and with_due.to_dict()["due"] == "2026-11-15"


@pytest.mark.parametrize("bad", [
    {"period": "2026-10", "amount": 1.5, "penalty": 0},
    {"period": "2026-10", "amount": True, "penalty": 0},
    {"period": "2026-10", "amount": "100", "penalty": 0},
    {"period": "2026-10", "amount": -1, "penalty": 0},
    {"period": "2026-13", "amount": 1, "penalty": 0},
    {"amount": 1, "penalty": 0},
    {"period": "2026-10", "amount": 1, "due": "15 Nov"},
    "2026-10",
])
def test_arrears_from_bad_json(bad):
    with pytest.raises(RecordFormatError):
        Arrears.from_dict(bad)


def customer(**kw):
    base = dict(number="0101000001", name="张三", address="某村1组",
                meter=Meter("3300001234567", "000012345678", "2007"), tariff="sichuan-residential", segment="S01",
                seq=3, last_reading=D("12345.67"), last_read_at=dt.datetime(2026, 10, 25, 10, tzinfo=SHANGHAI),
                avg_daily_kwh=D("5.00"),
                arrears=(Arrears("2026-09", 5000, 25), Arrears("2026-10", 6000, 0)), balance=0)
    base.update(kw)
    return Customer(**base)


def test_customer_roundtrip_and_arrears_total():
    c = customer()
    d = json.loads(json.dumps(c.to_dict(), ensure_ascii=False))
    assert Customer.from_dict(d) == c
    assert d["last"] == {"value": "12345.67", "at": "2026-10-25T10:00:00+08:00"}
    assert d["arrears"][0] == {"period": "2026-09", "amount": 5000, "penalty": 25}
    assert c.arrears_total == 5000 + 25 + 6000


def test_customer_from_a_station_route_item():
    item = {"cust": "01010100001", "name": "王秀英", "addr": "四川省仪陇县石佛乡桂花村1组3号", "seq": 1,
            "meter": {"asset": "5130010100001000000001", "addr": "000100000001", "standard": "2007", "card": False},
            "last": {"value": "12345.67", "at": "2026-10-25T10:00:00+08:00"}, "tariff": "sichuan-residential",
            "arrears": [{"period": "2026-10", "amount": 6845, "penalty": 0, "due": "2026-11-30"}], "balance": 0}
    c = Customer.from_dict(item)
    assert (c.number, c.meter.number, c.meter.address, c.meter.card, c.last_reading) == (
        "01010100001", "5130010100001000000001", "000100000001", False, D("12345.67"))
    assert c.arrears_total == 6845 and c.last_read_at.utcoffset() == dt.timedelta(hours=8)
    assert Customer.from_dict({**item, "last": None}).last_reading is None
    # a route download page: {"segment", "name", "items": [...]} (reference station 01xx)
    page = Segment.from_dict({"segment": "010101", "name": "桂花村", "page": 1, "items": [item]})
    assert page.by_meter("5130010100001000000001") == c


def test_customer_from_json_refuses_float_readings():
    d = customer().to_dict()
    d["last"] = {"value": 12345.67, "at": None}
    with pytest.raises(RecordFormatError, match="value"):
        Customer.from_dict(d)


def test_segment_lookup_and_duplicates():
    a, b = customer(), customer(number="0101000002", meter=Meter("3300000000002"))
    seg = Segment("S01", "一组", (a, b))
    assert seg.by_meter("3300000000002") is b and seg.customer("0101000001") is a and seg.by_meter("x") is None
    assert Segment.from_dict(json.loads(json.dumps(seg.to_dict()))) == seg
    with pytest.raises(InvalidValueError, match="twice"):
        Segment("S01", "", (a, a))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["cust", "name", "addr", "meter", "tariff", "asset", "period", "amount", "penalty",
                         "arrears", "last", "value", "balance", "task", "segment", "status", "code", "text",
                         "txn", "at", "customers", "due", "card", "standard", "seq"]), children, max_size=8),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(d=json_values)
def test_from_dict_decodes_or_raises_record_format_error(d):
    """Any JSON at all: a record comes out, or RecordFormatError — never another exception."""
    for cls in (Arrears, Customer, Meter, Segment, DunningTask, Payment, Abnormal):
        try:
            cls.from_dict(d)
        except RecordFormatError as e:
            assert isinstance(e, RemoteProtocolError)


# --- payments and reversals ----------------------------------------------------------------

def test_payment_rules_and_json():
    p = Payment("00000001-17", "0101000001", 11025, AT)
    assert p.to_dict() == {"txn": "00000001-17", "cust": "0101000001", "amount": 11025, "method": "cash",
                           "at": "2026-11-24T10:15:00+08:00"}
    assert Payment.from_dict(p.to_dict()) == p
    for bad in (0, -1, 10_000_001, 1.5):
        with pytest.raises(InvalidValueError):
            Payment("00000001-17", "0101000001", bad, AT)
    with pytest.raises(InvalidValueError):
        Payment("17", "0101000001", 1, AT)
    with pytest.raises(InvalidValueError):
        Payment("00000001-17", "0101000001", 1, dt.datetime(2026, 11, 24, 10, 15))


def test_reversal_same_business_day_only():
    p = Payment("00000001-17", "0101000001", 11025, dt.datetime(2026, 11, 24, 0, 5, tzinfo=SHANGHAI))
    check_reversal_allowed(p, dt.datetime(2026, 11, 24, 23, 59, tzinfo=SHANGHAI), terminal_id="00000001",
                           already_reversed=False)
    # 2026-11-24 23:59 Shanghai is 15:59 UTC: same business day even when given in UTC
    check_reversal_allowed(p, dt.datetime(2026, 11, 24, 15, 59, tzinfo=dt.UTC), terminal_id="00000001",
                           already_reversed=False)
    with pytest.raises(BusinessRuleError, match="2026-11-24"):
        check_reversal_allowed(p, dt.datetime(2026, 11, 25, 0, 1, tzinfo=SHANGHAI), terminal_id="00000001",
                               already_reversed=False)
    with pytest.raises(BusinessRuleError, match="not taken on this terminal"):
        check_reversal_allowed(p, AT, terminal_id="00000002", already_reversed=False)
    with pytest.raises(BusinessRuleError, match="already reversed"):
        check_reversal_allowed(p, AT, terminal_id="00000001", already_reversed=True)


def test_reversal_needs_a_reason():
    r = Reversal("00000001-18", "00000001-17", "金额录错", AT)
    assert r.to_dict() == {"txn": "00000001-18", "orig": "00000001-17", "reason": "金额录错",
                           "at": "2026-11-24T10:15:00+08:00"}
    with pytest.raises(InvalidValueError, match="reason"):
        Reversal("00000001-18", "00000001-17", " ", AT)


# --- dunning -------------------------------------------------------------------------------

def test_dunning_task_roundtrip_and_amount_due():
    t = DunningTask("T1", "0101000001", "S01", (Arrears("2026-09", 5000, 25), Arrears("2026-10", 6000, 30)))
    assert t.amount_due == 11055 and t.status is DunningStatus.OPEN
    assert DunningTask.from_dict(json.loads(json.dumps(t.to_dict()))) == t
    with pytest.raises(RecordFormatError):
        DunningTask.from_dict({**t.to_dict(), "status": "gone"})


def test_domain_package_is_pure():
    """No I/O, clock, thread or UI module is imported by the domain (times are passed in)."""
    import ast
    from pathlib import Path

    import terminal_app.domain as domain
    forbidden = {"socket", "serial", "time", "threading", "asyncio", "os", "pathlib", "io", "urwid",
                 "sqlite3", "subprocess", "random"}
    for f in Path(domain.__file__).parent.glob("*.py"):
        tree = ast.parse(f.read_text("utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for n in names:
                assert n.split(".")[0] not in forbidden, f"{f.name} imports {n}"
                assert not n.startswith(("drivers", "hw_mocks", "ui", "terminal_app.station")), f"{f.name}: {n}"


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


_VALID = [
    (Customer, customer().to_dict()),
    (DunningTask, DunningTask("T1", "0101", "S01", (Arrears("2026-09", 5000, 25, "2026-10-15"),)).to_dict()),
    (Payment, Payment("00000001-17", "0101000001", 11025, AT).to_dict()),
    (Segment, Segment("S01", "一组", (customer(),)).to_dict()),
]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_records_decode_or_raise_record_format_error(data):
    """A valid record with one value anywhere replaced: decodes, or RecordFormatError — nothing else."""
    import copy
    cls, valid = data.draw(st.sampled_from(_VALID))
    doc = copy.deepcopy(valid)
    path = data.draw(st.sampled_from([p for p in _paths(doc) if p]))
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = data.draw(json_values)
    try:
        cls.from_dict(doc)
    except RecordFormatError:
        pass
