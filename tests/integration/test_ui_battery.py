"""The battery guard on the simulated site: below the low level a card write and a payment's print
do not start (nothing journaled, the card untouched), said in Chinese; charging lifts it."""

from __future__ import annotations

import pytest

from drivers.power import write_mock_battery
from terminal_app.errors import BusinessRuleError
from tests.integration.test_ui_simulated import flat, log_in
from tests.rigs.card import held


def test_a_top_up_is_refused_on_a_low_battery_and_nothing_is_journaled(field):
    app, site = field
    log_in(app)
    app.refresh_status()
    assert "电80%" in app.render_text().split("\n")[0]
    app.press("4", "f1")  # 购电 → read the card (reading is allowed)
    before = app.top.card
    journal = app.backend.session.terminal.journal
    entries = len(journal.entries())
    write_mock_battery(str(site.power_dir), 12)
    app.type("50")
    app.press("enter")
    app.type("100")
    text = flat(app.press("enter"))
    assert "电池电量低（12%），不能写卡。" in text, text
    assert len(journal.entries()) == entries  # nothing journaled
    assert held(site.card)[0] == before.purchase_count  # the card is untouched
    app.refresh_status()
    assert "电12%!" in app.render_text().split("\n")[0]


def test_a_payment_is_refused_on_a_low_battery_until_it_charges(field):
    app, site = field
    log_in(app)
    journal = app.backend.session.terminal.journal
    write_mock_battery(str(site.power_dir), 9)
    s = app.backend.session
    customer = s.route()[0].number if s.route() else None
    if customer is None:  # no route yet: download the first segment
        s.download_route(s.segments()[0][0], lambda done, total: None)
        customer = s.route()[0].number
    entries = len(journal.entries())
    with pytest.raises(BusinessRuleError) as e:
        s.pay(customer, 100, 100)
    assert app._.error(e.value).startswith("电池电量低（9%），不能打印。"), app._.error(e.value)
    assert len(journal.entries()) == entries
    write_mock_battery(str(site.power_dir), 9, "Charging")
    assert s.pay(customer, 100, 100).printed
    assert len(journal.entries()) > entries
