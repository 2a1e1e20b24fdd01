"""docs/billing.md's worked examples, executed line by line through the production arithmetic.

Every non-comment line of an ``examples`` block is one example; a line this test cannot read
fails it (nothing is skipped), so the page and the code cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest

from terminal_app.domain.allocation import Applied, Owed, allocate
from terminal_app.domain.penalty import DEFAULT_RULE, Accrual, penalty_due
from terminal_app.domain.tariff import PeriodOutOfRangeError, compute_bill, prorate_bound
from terminal_app.tariffs import load_tariff

DOC = Path(__file__).resolve().parents[2] / "docs" / "billing.md"


def example_lines() -> list[str]:
    text = DOC.read_text("utf-8")
    blocks = re.findall(r"```examples\n(.*?)```", text, flags=re.S)
    return [ln.strip() for b in blocks for ln in b.splitlines() if ln.strip() and not ln.strip().startswith("#")]


LINES = example_lines()


def fields(text: str) -> dict[str, str]:
    out = {}
    for token in text.split():
        key, sep, value = token.partition("=")
        assert sep, f"not key=value: {token!r}"
        out[key] = value
    return out


def owed_list(text: str) -> list[Owed]:
    out = []
    for item in filter(None, text.split(",")):
        period, _, money = item.partition(":")
        pen, _, amt = money.partition("+")
        out.append(Owed(period, int(pen), int(amt)))
    return out


def run(kind: str, args: dict[str, str]) -> str:
    if kind == "penalty":
        a = Accrual(args["period"], dt.date.fromisoformat(args["due"]), int(args["basis"]), args["category"],
                    Decimal(args.get("accrued", "0")),
                    dt.date.fromisoformat(args["through"]) if "through" in args else None, int(args.get("paid", "0")))
        return str(penalty_due(DEFAULT_RULE, a, dt.date.fromisoformat(args["day"])))
    if kind == "allocate":
        alloc = allocate(int(args["money"]), owed_list(args["owed"]))
        applied = ",".join(f"{a.period}:{a.penalty}+{a.amount}" for a in alloc.applied)
        return f"{applied} rest={alloc.rest}".strip()
    if kind == "prorate":
        return str(prorate_bound(Decimal(args["bound"]), int(args["days"])))
    if kind == "bill":
        try:
            bill = compute_bill(load_tariff(args["tariff"]), month=args["month"], kwh=Decimal(args["kwh"]),
                                days=int(args["days"]) if "days" in args else None)
        except PeriodOutOfRangeError:
            return "refused"
        return str(bill.total)
    raise AssertionError(f"unknown example kind {kind!r}")


def test_the_page_has_examples_of_every_kind():
    kinds = [ln.split()[0] for ln in LINES]
    assert {k: kinds.count(k) for k in set(kinds)} == {"penalty": 8, "allocate": 4, "prorate": 6, "bill": 6}


@pytest.mark.parametrize("line", LINES)
def test_worked_example(line):
    lhs, sep, expected = line.partition("=>")
    assert sep, f"no '=>' in {line!r}"
    kind, _, rest = lhs.strip().partition(" ")
    assert run(kind, fields(rest)) == expected.strip(), line


def test_allocation_examples_conserve_money():
    for line in LINES:
        if line.startswith("allocate"):
            args = fields(line.partition("=>")[0].partition(" ")[2])
            alloc = allocate(int(args["money"]), owed_list(args["owed"]))
            assert sum(a.total for a in alloc.applied) + alloc.rest == int(args["money"])
            assert all(isinstance(a, Applied) for a in alloc.applied)
