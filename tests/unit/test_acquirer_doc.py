"""docs/acquirer.md prints the station's policy table and the mock's scenarios: it must say what the code does."""

from __future__ import annotations

from pathlib import Path

from hw_mocks.acquirer import scenarios
from hw_mocks.station.acquirer_policy import table_rows

DOC = (Path(__file__).resolve().parents[2] / "docs" / "acquirer.md").read_text(encoding="utf-8")


def test_the_doc_prints_the_policy_table_as_the_code_has_it():
    rows = table_rows()
    printed = [line for line in DOC.splitlines() if line.startswith("| ") and "| → " in line]
    assert printed == ["| " + " | ".join(r) + " |" for r in rows]


def test_the_doc_lists_every_selectable_scenario():
    book = scenarios.load()
    for digits, scenario in book.by_suffix.items():
        assert f"| {digits} | {scenario.name} |" in DOC
