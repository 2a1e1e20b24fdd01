"""The shop's screens (issue 19 point 6) over the real use cases and the simulated site: the most
that can be bought (the meter's hoarding limit), a purchase above it refused before any money is
taken, the re-issue (补卡) of a lost card, and the agent cash limit on the payment path."""

from __future__ import annotations

from terminal_app.cli.simulate import SIM_CASH_LIMIT, SIM_HOARD_LIMIT
from tests.integration.test_ui_simulated import flat, log_in
from tests.rigs.card import held


def card_purchases(site):
    import sqlite3

    with sqlite3.connect(site.workdir / "station.sqlite") as c:
        return c.execute("SELECT amount, purchase_count, kind, state FROM card_purchases ORDER BY rowid").fetchall()


def test_hoarding_limit_shown_and_enforced_before_money(field):
    app, site = field
    log_in(app)
    app.press("4", "f1")
    card = app.top.card
    room = SIM_HOARD_LIMIT - 2000  # the meter held 20.00 元 when the card was last in it
    assert card.max_fen == room and card.hoard_limit_fen == SIM_HOARD_LIMIT
    assert "本次最多可购1980.00元" in flat(app.render_text())
    app.type("1980.01")
    app.press("enter")
    app.type("2000")
    text = flat(app.press("enter"))
    assert "电表囤积上限2000.00元" in text and "现最多可购1980.00元" in text, text
    assert card_purchases(site) == [] and held(site.card)[0] == card.purchase_count  # nothing taken, nothing written
    assert app.backend.session.terminal.journal.entries() == []
    app.press("f4")
    app.press("4", "f1")
    app.type("1980")
    app.press("enter")
    text = flat(app.press("enter"))
    assert "已写卡1980.00元。" in text, text
    app.press("f7")  # into the meter: exactly full, and the meter takes it
    assert site.card_meter.remaining == SIM_HOARD_LIMIT


def test_lost_card_is_reissued_on_screen_and_the_meter_loads_its_purchase_once(field):
    app, site = field
    log_in(app)
    app.press("4", "f1")
    app.type("50")
    app.press("enter")
    text = flat(app.press("enter"))
    assert "已写卡50.00元。" in text, text
    count = held(site.card)[0]
    app.press("f1")  # done; the customer loses the card before inserting it into the meter
    app.press("f11")  # the business hall's re-issue card goes into the reader
    app.press("f1")  # read it
    text = flat(app.render_text())
    assert "补卡卡" in text and "F2补卡" in text, text
    text = flat(app.press("f2"))  # no amount: the meter's last purchase again
    assert "补卡已写：带上次购电。" in text, text
    assert held(site.card) == (count, 5000)
    remaining = site.card_meter.remaining
    app.press("f7")  # the new card into the meter: it loads the purchase the old card never brought
    assert site.card_meter.remaining == remaining + 5000
    assert card_purchases(site)[-1] == (5000, count, "purchase", "confirmed")


def test_cash_limit_refuses_a_payment_with_the_most_that_can_be_taken(field):
    app, site = field
    log_in(app)
    app.press("1", "1", "enter")  # route download: HELLO brings the operator's cash limit
    session = app.backend.session
    from terminal_app.services import cash_limit

    assert cash_limit.limit_of(session.terminal.store, "1001") == SIM_CASH_LIMIT
    customer = session.terminal.store.customers("010101")[0].number
    try:
        session.pay(customer, SIM_CASH_LIMIT + 1, SIM_CASH_LIMIT + 1)
    except cash_limit.CashLimitError as e:
        assert "at most 5000.00 yuan" in str(e)
    else:
        raise AssertionError("a payment above the cash limit was taken")
    assert [e for e in session.terminal.journal.entries() if e.kind == "payment"] == []  # nothing journaled
    app.press("esc", "esc", "esc")
    assert session.pay(customer, SIM_CASH_LIMIT, SIM_CASH_LIMIT).amount_fen == SIM_CASH_LIMIT  # up to it: taken


def test_the_card_screen_names_the_customer_of_a_state_grid_card(field):
    """A State Grid card names its customer by the station's number left-padded to 12 digits: the
    screen still finds the downloaded customer's name."""
    app, site = field
    log_in(app)
    app.press("4", "f1")
    assert app.top.card.name == ""  # nothing downloaded yet: no name to show
    app.press("f4", "1", "1", "enter")  # the card customer's segment (010101)
    app.press("esc", "esc", "esc", "4", "f1")
    card = app.top.card
    store = app.backend.session.terminal.store
    want = next(c.name for c in store.customers("010101") if c.number.rjust(12, "0") == site.card_cust)
    assert card.customer == site.card_cust != card.customer.lstrip("0")
    assert want and card.name == want and want in flat(app.render_text())
