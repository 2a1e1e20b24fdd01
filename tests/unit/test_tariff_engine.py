"""Tariff engine worked examples, computed by hand here with the arithmetic in the comments.

Rule under test (terminal_app/domain/money.py): each line = kWh × price, rounded half-up to the
fen; total = sum of lines.  Prices below are the sample files' figures (sichuan-residential:
0.5224 / 0.6224 / 0.8224 元/kWh, bounds 180 / 280 kWh per month).
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from terminal_app.domain.bill import LineKind
from terminal_app.domain.errors import InvalidValueError
from terminal_app.domain.money import ROUNDING_RULE, line_amount_fen
from terminal_app.domain.tariff import Register, Season, Tier, compute_bill, split_tiers
from terminal_app.tariffs import load_tariff, parse_tariff


@pytest.fixture(scope="module")
def sichuan():
    return load_tariff("sichuan-residential")


def lines(bill):
    return [(ln.name, ln.kwh, ln.price, ln.amount) for ln in bill.lines]


def test_sichuan_example_300_kwh(sichuan):
    bill = compute_bill(sichuan, month="2026-01", kwh=D("300"))
    # 300 kWh in January = 180 + 100 + 20 (the example has one table all year: docs/billing.md):
    #   180 × 0.5224 = 94.032 元 → 94.03 元 = 9403 fen
    #   100 × 0.6224 = 62.240 元 → 62.24 元 = 6224 fen
    #    20 × 0.8224 = 16.448 元 → 16.45 元 = 1645 fen  (the 0.8 fen rounds up)
    #   total = 9403 + 6224 + 1645 = 17272 fen = 172.72 元
    assert lines(bill) == [("第一档", D(180), D("0.5224"), 9403),
                           ("第二档", D(100), D("0.6224"), 6224),
                           ("第三档", D(20), D("0.8224"), 1645)]
    assert bill.total == 17272
    # July bills the same: no seasonal difference is claimed for figures nobody could check
    assert compute_bill(sichuan, month="2026-07", kwh=D("300")).lines == bill.lines


@pytest.mark.parametrize("kwh, expected_lines, total", [
    # exactly at the first bound: all 180 kWh in tier 1; 180 × 0.5224 = 94.032 → 9403
    ("180", [("第一档", "180", 9403)], 9403),
    # one hundredth above: 0.01 × 0.6224 = 0.006224 元 = 0.6224 fen → 1 fen; 9403 + 1 = 9404
    ("180.01", [("第一档", "180", 9403), ("第二档", "0.01", 1)], 9404),
    # exactly at the second bound: 100 × 0.6224 = 62.24 → 6224; 9403 + 6224 = 15627
    ("280", [("第一档", "180", 9403), ("第二档", "100", 6224)], 15627),
    # 0.01 into tier 3: 0.01 × 0.8224 = 0.8224 fen → 1; 15627 + 1 = 15628
    ("280.01", [("第一档", "180", 9403), ("第二档", "100", 6224), ("第三档", "0.01", 1)], 15628),
    # just below the bound: 179.99 × 0.5224 = 94.026776 元 → 94.03 = 9403 (same fen as 180)
    ("179.99", [("第一档", "179.99", 9403)], 9403),
])
def test_tier_boundaries(sichuan, kwh, expected_lines, total):
    bill = compute_bill(sichuan, month="2026-03", kwh=D(kwh))
    assert [(n, k, a) for n, k, _, a in lines(bill)] == [(n, D(k), a) for n, k, a in expected_lines]
    assert bill.total == total


@pytest.mark.parametrize("month, season", [
    ("2026-05", "枯水期"), ("2026-06", "丰水期"),   # May dry, June wet
    ("2026-10", "丰水期"), ("2026-11", "枯水期"),   # October wet, November dry
    ("2026-12", "枯水期"), ("2027-01", "枯水期"),
])
def test_season_boundary_months(month, season):
    bill = compute_bill(parse_tariff(SEASONAL, "seasonal-test"), month=month, kwh=D("200"))
    assert bill.season == season
    # 200 kWh: above the dry season's 180-kWh bound, within the wet season's 260
    expected = [season + "第一档"] if season == "丰水期" else [season + "第一档", season + "第二档"]
    assert [ln.name for ln in bill.lines] == expected


SEASONAL = {
    # a test tariff whose seasons differ in their bounds, so the month changes the money
    "name": "seasonal-test", "title": "seasonal", "kind": "tiered",
    "season": [
        {"name": "枯水期", "months": [1, 2, 3, 4, 5, 11, 12],
         "tier": [{"upto": "180", "price": "0.5"}, {"price": "0.8"}]},
        {"name": "丰水期", "months": [6, 7, 8, 9, 10],
         "tier": [{"upto": "260", "price": "0.5"}, {"price": "0.8"}]},
    ],
}


@pytest.mark.parametrize("month, total", [
    # 300 kWh, dry: 180 × 0.5 = 90.00 + 120 × 0.8 = 96.00 → 18600 fen
    ("2026-05", 18600),
    # 300 kWh, wet: 260 × 0.5 = 130.00 + 40 × 0.8 = 32.00 → 16200 fen
    ("2026-06", 16200),
    ("2026-10", 16200),
    ("2026-11", 18600),
])
def test_season_changes_thresholds(month, total):
    tariff = parse_tariff(SEASONAL, "seasonal-test")
    assert compute_bill(tariff, month=month, kwh=D(300)).total == total


def test_yearly_tiers_use_usage_already_billed():
    t = load_tariff("zhejiang-residential-yearly")  # ≤2760 0.538, ≤4800 0.588, above 0.838 (per year)
    bill = compute_bill(t, month="2026-11", kwh=D(300), tier_usage=D(2600))
    # 2600 already billed; this bill brings the year to 2900:
    #   2760 − 2600 = 160 kWh × 0.538 = 86.08 元 = 8608 fen
    #   2900 − 2760 = 140 kWh × 0.588 = 82.32 元 = 8232 fen ; total 16840
    assert lines(bill) == [("第一档", D(160), D("0.538"), 8608), ("第二档", D(140), D("0.588"), 8232)]
    assert bill.total == 16840
    # the same 300 kWh early in the year is all tier 1: 300 × 0.538 = 161.40 元 = 16140 fen
    assert compute_bill(t, month="2026-02", kwh=D(300)).total == 16140
    # usage already past the last bound: 300 × 0.838 = 251.40 元 = 25140 fen
    assert compute_bill(t, month="2026-12", kwh=D(300), tier_usage=D(5000)).total == 25140


def test_flat_with_surcharge_lines():
    t = load_tariff("flat-commercial")  # 0.65 + 可再生能源电价附加 0.019 + 水利基金 0.0098
    bill = compute_bill(t, month="2026-04", kwh=D("123.45"))
    # 123.45 × 0.65   = 80.2425 元   → 80.24 = 8024 fen
    # 123.45 × 0.019  = 2.34555 元   → 2.35  = 235 fen
    # 123.45 × 0.0098 = 1.20981 元   → 1.21  = 121 fen ; total 8024 + 235 + 121 = 8380
    assert [(ln.name, ln.amount, ln.kind) for ln in bill.lines] == [
        ("电度电费", 8024, LineKind.ENERGY),
        ("可再生能源电价附加", 235, LineKind.SURCHARGE),
        ("国家重大水利工程建设基金", 121, LineKind.SURCHARGE)]
    assert bill.total == 8380
    assert [ln.kwh for ln in bill.energy_lines] == [D("123.45")]


def test_flat_agricultural_has_no_surcharges():
    bill = compute_bill(load_tariff("flat-agricultural"), month="2026-07", kwh=D(50))
    # 50 × 0.48 = 24.00 元 = 2400 fen
    assert lines(bill) == [("电度电费", D(50), D("0.4800"), 2400)] and bill.total == 2400


def test_time_of_use_registers():
    t = load_tariff("tou-sample")  # 峰 0.8151, 平 0.5434, 谷 0.2717
    regs = {Register.PEAK: D("120.5"), Register.FLAT: D(80), Register.VALLEY: D("99.5")}
    bill = compute_bill(t, month="2026-03", registers=regs)
    # 120.5 × 0.8151 = 98.21955 元 → 98.22 = 9822 fen
    #  80   × 0.5434 = 43.472   元 → 43.47 = 4347 fen
    #  99.5 × 0.2717 = 27.03415 元 → 27.03 = 2703 fen ; total 16872, kWh 300
    assert lines(bill) == [("峰", D("120.5"), D("0.8151"), 9822), ("平", D(80), D("0.5434"), 4347),
                           ("谷", D("99.5"), D("0.2717"), 2703)]
    assert bill.total == 16872 and bill.kwh == D(300)
    # a matching total is accepted, a different one refused
    assert compute_bill(t, month="2026-03", registers=regs, kwh=D(300)).total == 16872
    with pytest.raises(InvalidValueError, match="not the sum"):
        compute_bill(t, month="2026-03", registers=regs, kwh=D(301))
    with pytest.raises(InvalidValueError, match="do not match"):
        compute_bill(t, month="2026-03", registers={Register.PEAK: D(1)})
    with pytest.raises(InvalidValueError, match="time-of-use"):
        compute_bill(t, month="2026-03", kwh=D(1))


def test_register_names_follow_dlt645_tariff_numbers():
    assert [(r.tariff_number, r.zh) for r in Register] == [(1, "尖"), (2, "峰"), (3, "平"), (4, "谷")]
    assert Register.parse("峰") is Register.PEAK and Register.parse("4") is Register.VALLEY
    with pytest.raises(InvalidValueError):
        Register.parse("5")


HALF = {"name": "half-test", "title": "half", "kind": "flat", "flat": {"price": "0.5"}}


@pytest.mark.parametrize("kwh, fen", [
    ("0.01", 1),  # 0.01 × 0.5 = 0.005 元 = 0.5 fen → half-up 1 (banker's rounding would give 0)
    ("0.03", 2),  # 1.5 fen → 2
    ("0.05", 3),  # 2.5 fen → 3 (banker's: 2)
    ("0.02", 1),  # 1.0 fen exactly
    ("0.0099", 0),  # 0.495 fen → 0
])
def test_rounding_half_up(kwh, fen):
    t = parse_tariff(HALF, "half-test")
    assert compute_bill(t, month="2026-01", kwh=D(kwh)).total == fen
    assert line_amount_fen(D(kwh), D("0.5")) == fen


def test_rounding_half_up_on_sichuan_price(sichuan):
    # 6.25 × 0.5224 = 3.265 元 = 326.5 fen → 327 (half-up; half-even would give 326)
    assert compute_bill(sichuan, month="2026-01", kwh=D("6.25")).total == 327


def test_total_is_sum_of_rounded_lines_not_rounded_sum():
    t = parse_tariff({"name": "tou-test", "title": "t", "kind": "tou",
                      "tou": [{"register": r, "price": "0.5"} for r in ("peak", "flat", "valley")]}, "tou-test")
    bill = compute_bill(t, month="2026-01", registers={r: D("0.01") for r in t.registers})
    # each line 0.01 × 0.5 = 0.5 fen → 1 fen; total 1 + 1 + 1 = 3 (rounding 0.03 × 0.5 = 1.5 once would give 2)
    assert [ln.amount for ln in bill.lines] == [1, 1, 1] and bill.total == 3
    assert "half-up" in ROUNDING_RULE and bill.to_dict()["rounding"] == ROUNDING_RULE


def test_zero_kwh_bills_nothing(sichuan):
    bill = compute_bill(load_tariff("flat-commercial"), month="2026-01", kwh=D(0))
    assert bill.lines == () and bill.total == 0


@pytest.mark.parametrize("kwargs, needle", [
    ({"month": "2026-13", "kwh": D(1)}, "month"),
    ({"month": "26-01", "kwh": D(1)}, "month"),
    ({"month": "2026-01"}, "No energy"),
    ({"month": "2026-01", "kwh": D(-1)}, "Energy"),
    ({"month": "2026-01", "kwh": D("NaN")}, "Energy"),
    ({"month": "2026-01", "kwh": D(1), "tier_usage": D(-5)}, "Tier usage"),
])
def test_bad_input_is_refused(sichuan, kwargs, needle):
    with pytest.raises(InvalidValueError, match=needle):
        compute_bill(sichuan, **kwargs)


def test_tier_usage_refused_for_flat_tariff():
    with pytest.raises(InvalidValueError, match="no tiers"):
        compute_bill(load_tariff("flat-agricultural"), month="2026-01", kwh=D(1), tier_usage=D(1))


def test_split_tiers_counts_only_this_bill(sichuan):
    tiers = sichuan.season_for(1).tiers
    # 150 already billed, 100 more: 30 in tier 1 (150→180), 70 in tier 2 (180→250)
    assert [k for _, k in split_tiers(tiers, D(100), D(150))] == [D(30), D(70), D(0)]


@pytest.mark.parametrize("tiers", [
    (),
    (Tier("a", D("0.5"), D(100)),),                                   # last tier bounded
    (Tier("a", D("0.5"), None), Tier("b", D("0.6"), None)),           # unbounded tier before the last
    (Tier("a", D("0.5"), D(100)), Tier("b", D("0.6"), D(100)), Tier("c", D(1))),  # bounds not increasing
    (Tier("a", D("-0.5")),),                                          # negative price
])
def test_season_refuses_tier_tables_that_would_lose_kwh(tiers):
    with pytest.raises(InvalidValueError):
        Season("x", frozenset({1}), tiers)
