"""Properties of the tariff engine over generated energies and generated tariffs (hypothesis).

* the total never decreases when the energy grows;
* the energy lines' kWh add up to the bill's kWh (every kWh billed once);
* the total is the sum of the lines;
* billing a+b at once puts the same kWh in each tier as billing a, then b with a as tier usage;
* no float anywhere: Decimal kWh and prices, int fen, and the JSON has no float.
"""

from __future__ import annotations

import json
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from terminal_app.domain.bill import LineKind
from terminal_app.domain.tariff import Register, compute_bill
from terminal_app.tariffs import load_tariff, packaged_names, parse_tariff

TIERED_OR_FLAT = [n for n in packaged_names() if n != "tou-sample"]
TARIFFS = {n: load_tariff(n) for n in packaged_names()}

kwh_st = st.decimals(min_value=0, max_value=100000, places=2, allow_nan=False, allow_infinity=False)
month_st = st.builds(lambda y, m: f"{y}-{m:02d}", st.integers(2012, 2040), st.integers(1, 12))
price_st = st.decimals(min_value=0, max_value=5, places=4, allow_nan=False, allow_infinity=False)


@st.composite
def tiered_docs(draw):
    """A random tiered tariff document (with optional surcharges), as its TOML would parse."""
    n = draw(st.integers(2, 5))
    bounds = sorted(draw(st.sets(st.integers(1, 5000), min_size=n - 1, max_size=n - 1)))
    prices = [str(draw(price_st)) for _ in range(n)]
    tiers = [{"upto": str(b), "price": p} for b, p in zip(bounds, prices[:-1], strict=True)] + [{"price": prices[-1]}]
    doc = {"name": "gen", "title": "generated", "kind": "tiered",
           "tier_period": draw(st.sampled_from(["month", "year"])), "tier": tiers}
    if draw(st.booleans()):
        doc["surcharge"] = [{"name": "附加", "price": str(draw(price_st))}]
    return doc


def check_types(bill):
    assert isinstance(bill.total, int) and not isinstance(bill.total, bool)
    assert isinstance(bill.kwh, D)
    for ln in bill.lines:
        assert isinstance(ln.amount, int) and not isinstance(ln.amount, bool)
        assert isinstance(ln.kwh, D) and isinstance(ln.price, D)

    def walk(v):
        assert not isinstance(v, float)
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    d = bill.to_dict()
    walk(d)
    walk(json.loads(json.dumps(d, ensure_ascii=False)))


def check_invariants(bill):
    assert bill.total == sum(ln.amount for ln in bill.lines)
    assert sum((ln.kwh for ln in bill.lines if ln.kind is LineKind.ENERGY), D(0)) == bill.kwh
    assert all(ln.amount >= 0 for ln in bill.lines)
    check_types(bill)


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(TIERED_OR_FLAT), a=kwh_st, b=kwh_st, month=month_st,
       usage=st.decimals(min_value=0, max_value=6000, places=2))
def test_packaged_tariffs_monotone_and_consistent(name, a, b, month, usage):
    t = TARIFFS[name]
    usage = usage if t.kind.value == "tiered" else D(0)
    lo, hi = sorted((a, b))
    bill_lo = compute_bill(t, month=month, kwh=lo, tier_usage=usage)
    bill_hi = compute_bill(t, month=month, kwh=hi, tier_usage=usage)
    assert bill_lo.total <= bill_hi.total
    check_invariants(bill_lo)
    check_invariants(bill_hi)


@settings(max_examples=150, deadline=None)
@given(doc=tiered_docs(), a=kwh_st, b=kwh_st, usage=st.decimals(min_value=0, max_value=6000, places=2),
       month=month_st)
def test_generated_tiered_tariffs(doc, a, b, usage, month):
    t = parse_tariff(doc, "generated")
    whole = compute_bill(t, month=month, kwh=a + b, tier_usage=usage)
    first = compute_bill(t, month=month, kwh=a, tier_usage=usage)
    second = compute_bill(t, month=month, kwh=b, tier_usage=usage + a)
    for bill in (whole, first, second):
        check_invariants(bill)

    def per_tier(bill):
        out: dict[str, D] = {}
        for ln in bill.energy_lines:
            out[ln.name] = out.get(ln.name, D(0)) + ln.kwh
        return out
    split = per_tier(first)
    for k, v in per_tier(second).items():
        split[k] = split.get(k, D(0)) + v
    assert split == per_tier(whole)
    # monotone in kWh at fixed usage
    assert compute_bill(t, month=month, kwh=min(a, b), tier_usage=usage).total <= \
        compute_bill(t, month=month, kwh=max(a, b), tier_usage=usage).total


@settings(max_examples=100, deadline=None)
@given(regs=st.fixed_dictionaries({r: kwh_st for r in (Register.PEAK, Register.FLAT, Register.VALLEY)}),
       extra=kwh_st, which=st.sampled_from([Register.PEAK, Register.FLAT, Register.VALLEY]), month=month_st)
def test_time_of_use_monotone_and_consistent(regs, extra, which, month):
    t = TARIFFS["tou-sample"]
    bill = compute_bill(t, month=month, registers=regs)
    more = dict(regs)
    more[which] += extra
    assert bill.total <= compute_bill(t, month=month, registers=more).total
    assert bill.kwh == sum(regs.values(), D(0))
    check_invariants(bill)
