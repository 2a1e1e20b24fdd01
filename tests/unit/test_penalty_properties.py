"""Properties of the money at the door (issue 14), for ANY arrears, category, due day and payment day:

* the penalty never falls as the day of payment moves later, and once the bill is overdue it is
  never below the rule's minimum (1 元);
* the terminal's offline figure (route download on one day, counted to a later day on the
  terminal) equals the station's online figure (BILL_QUERY and PAYMENT on that day) — also after a
  partial payment has carried the accrual forward;
* allocation never loses or invents a fen: what is applied plus what is left is the money.
"""

from __future__ import annotations

import datetime as dt
from contextlib import closing
from decimal import Decimal
from fractions import Fraction

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hw_mocks.station import assignments, ledger
from hw_mocks.station.area import Bill, Customer, insert, packaged_tariffs
from hw_mocks.station.handlers import Limits, Station
from terminal_app.domain.allocation import Owed, allocate
from terminal_app.domain.customer import Customer as TerminalCustomer
from terminal_app.domain.penalty import DEFAULT_RULE, Accrual, PenaltyRule, penalty_due, penalty_total
from terminal_app.station.messages import MsgType
from terminal_app.timeutil import SHANGHAI, FixedClock, iso

CATEGORIES = st.sampled_from(sorted(DEFAULT_RULE.rates))
DAYS = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 12, 31))


@st.composite
def accruals(draw):
    due = draw(DAYS)
    # the billing month is before the due day, up to a year and a half
    back = draw(st.integers(0, 18))
    y, m = divmod(due.year * 12 + due.month - 1 - back, 12)
    through = due + dt.timedelta(days=draw(st.integers(0, 400)))
    accrued = Decimal(draw(st.integers(0, 10**9))) / Decimal(10) ** draw(st.integers(0, 4))
    carried = draw(st.booleans())
    return Accrual(f"{y:04d}-{m + 1:02d}", due, draw(st.integers(0, 10**10)), draw(CATEGORIES),
                   accrued if carried else Decimal(0), through if carried else None,
                   draw(st.integers(0, 10**6)))


@settings(max_examples=300, deadline=None)
@given(a=accruals(), d1=DAYS, later=st.integers(0, 2000))
def test_penalty_is_monotone_in_the_day(a, d1, later):
    d2 = d1 + dt.timedelta(days=later)
    assert penalty_total(DEFAULT_RULE, a, d1) <= penalty_total(DEFAULT_RULE, a, d2)
    assert penalty_due(DEFAULT_RULE, a, d1) <= penalty_due(DEFAULT_RULE, a, d2)


@settings(max_examples=300, deadline=None)
@given(a=accruals(), late=st.integers(1, 3000))
def test_never_below_the_minimum_once_due(a, late):
    fresh = Accrual(a.period, a.due, a.basis, a.category)  # nothing accrued or paid before
    assume(fresh.basis > 0)
    day = a.due + dt.timedelta(days=late)
    assert penalty_due(DEFAULT_RULE, fresh, day) >= DEFAULT_RULE.minimum
    assert penalty_due(DEFAULT_RULE, fresh, a.due) == 0  # on the due day itself: nothing


@settings(max_examples=300, deadline=None)
@given(money=st.integers(0, 10**9),
       owed=st.lists(st.tuples(st.integers(2000, 2030), st.integers(1, 12), st.integers(0, 10**6),
                               st.integers(0, 10**7)), max_size=8, unique_by=lambda t: (t[0], t[1])))
def test_allocation_never_loses_or_invents_a_fen(money, owed):
    bills = [Owed(f"{y}-{m:02d}", pen, amt) for y, m, pen, amt in owed]
    alloc = allocate(money, bills)
    assert sum(a.penalty + a.amount for a in alloc.applied) + alloc.rest == money
    by_period = {b.period: b for b in bills}
    for i, a in enumerate(alloc.applied):
        b = by_period[a.period]
        assert 0 <= a.penalty <= b.penalty and 0 <= a.amount <= b.amount
        assert a.amount == 0 or a.penalty == b.penalty  # penalty before charge
        if i < len(alloc.applied) - 1:  # every bill but the last one reached is paid in full
            assert (a.penalty, a.amount) == (b.penalty, b.amount)
    assert alloc.rest == 0 or all((a.penalty, a.amount) == (by_period[a.period].penalty,
                                                            by_period[a.period].amount) for a in alloc.applied)
    assert [a.period for a in alloc.applied] == sorted(a.period for a in alloc.applied)


def _station(category: str, amount: int, period: str, due: dt.date) -> tuple[object, Station, FixedClock]:
    conn = ledger.connect(":memory:")
    cust = Customer("C1", "王秀英", "四川省仪陇县石佛乡桂花村1组1号", "S1", "桂花村", "A1", "000000000001", "2007",
                    False, "sichuan-residential", "100.00", "2020-01-01T10:00:00+08:00", category=category)
    insert(conn, packaged_tariffs(), [cust], [Bill("C1", period, amount, 0, due.isoformat())], as_of=due)
    assignments.assign(conn, [("S1", "0007")], by="test")
    clock = FixedClock(at=dt.datetime.combine(due, dt.time(9), SHANGHAI))
    # no payment limit: the property is about any arrears, not about E_LIMIT
    return conn, Station(conn, clock, Limits(payment_max=10**12)), clock


@settings(max_examples=60, deadline=None)
@given(category=CATEGORIES, amount=st.integers(1, 10**8), back=st.integers(0, 14),
       due=st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2029, 12, 31)),
       partial=st.one_of(st.none(), st.tuples(st.integers(0, 200), st.integers(1, 10**8))),
       download=st.integers(0, 300), later=st.integers(0, 400))
def test_terminal_offline_equals_station_online(category, amount, back, due, partial, download, later):
    y, m = divmod(due.year * 12 + due.month - 1 - back, 12)
    period = f"{y:04d}-{m + 1:02d}"
    conn, station, clock = _station(category, amount, period, due)
    with closing(conn):
        seq = iter(range(1, 100))

        def ask(msg: MsgType, body: dict) -> dict:
            reply = station.process("00000001", next(seq), msg, body)
            assert not reply.error, reply.body
            return reply.body

        def at(day: dt.date) -> None:
            clock.at = dt.datetime.combine(day, dt.time(9), SHANGHAI)

        day = due
        if partial is not None:  # a partial payment carries the accrual forward on its day
            day = due + dt.timedelta(days=partial[0])
            at(day)
            ask(MsgType.PAYMENT, {"txn": "00000001-1", "cust": "C1", "amount": min(partial[1], amount),
                                  "method": "cash", "at": iso(clock.now())})
        # the terminal downloads the route, with the station's rule (HELLO params)
        day += dt.timedelta(days=download)
        at(day)
        rule = PenaltyRule.from_params(ask(MsgType.HELLO, {"op": "1", "app": "t"})["params"]["penalty"])
        page = ask(MsgType.ROUTE_DOWNLOAD, {"segment": "S1", "page": 1, "page_size": 10, "op": "0007"})
        offline = TerminalCustomer.from_dict(page["items"][0])
        # … and the customer pays `later` days after: the terminal's estimate vs the station's figures
        pay_day = day + dt.timedelta(days=later)
        estimate = {a.period: a.as_of(rule, pay_day) for a in offline.arrears}
        at(pay_day)
        online = {a["period"]: a for a in ask(MsgType.BILL_QUERY, {"cust": "C1"})["arrears"]}
        assert {p: (a.amount, a.penalty) for p, a in estimate.items()} == \
               {p: (a["amount"], a["penalty"]) for p, a in online.items()}
        if online:
            owed = sum(a["amount"] + a["penalty"] for a in online.values())
            paid = ask(MsgType.PAYMENT, {"txn": "00000001-2", "cust": "C1", "amount": owed, "method": "cash",
                                         "at": iso(clock.now())})
            assert [(a["period"], a["penalty"]) for a in paid["applied"]] == \
                   [(p, a.penalty) for p, a in sorted(estimate.items())]
            assert paid["to_balance"] == 0 and paid["arrears"] == 0


@settings(max_examples=60, deadline=None)
@given(amount=st.integers(1, 10**7), late_pay=st.integers(1, 200), part=st.integers(1, 10**7),
       later=st.integers(0, 300))
def test_a_partial_payment_changes_the_basis_from_the_next_day_only(amount, late_pay, part, later):
    """Checked against arithmetic written out here (residential: 1‰ a day whatever the year):
    the days up to the payment day accrue on the whole charge, the days after on what is left."""
    due = dt.date(2026, 3, 15)
    conn, station, clock = _station("residential", amount, "2026-02", due)
    with closing(conn):
        seq = iter(range(1, 100))
        pay_day = due + dt.timedelta(days=late_pay)
        clock.at = dt.datetime.combine(pay_day, dt.time(9), SHANGHAI)
        exact_then = Fraction(amount * late_pay, 1000)
        pen_then = max(100, int(exact_then + Fraction(1, 2)))  # half up; positive, so at least 1 元
        paid = station.process("00000001", next(seq), MsgType.PAYMENT,
                               {"txn": "00000001-1", "cust": "C1", "amount": min(part, amount + pen_then - 1),
                                "method": "cash", "at": iso(clock.now())}).body
        paid_pen = paid["applied"][0]["penalty"]
        paid_amt = paid["applied"][0]["amount"] - paid_pen
        assert paid_pen == min(pen_then, paid["amount"])
        day = pay_day + dt.timedelta(days=later)
        clock.at = dt.datetime.combine(day, dt.time(9), SHANGHAI)
        bill = station.process("00000001", next(seq), MsgType.BILL_QUERY, {"cust": "C1"}).body["arrears"]
        exact = exact_then + Fraction((amount - paid_amt) * later, 1000)
        total = max(100, int(exact + Fraction(1, 2)))
        assert [(a["amount"], a["penalty"]) for a in bill] == [(amount - paid_amt, total - paid_pen)]
