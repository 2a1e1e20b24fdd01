"""The mock acquirer's books with an injected clock: the customer's side of each scenario, reversal
tombstones, refunds, statements; and the scenario file's checks."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from hw_mocks.acquirer import scenarios
from hw_mocks.acquirer.books import Books, Reply, State
from hw_mocks.acquirer.cli import load_keys, make_keys, read_secret
from terminal_app.errors import ConfigurationError
from terminal_app.timeutil import SHANGHAI

DAY = dt.date(2026, 12, 7)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.at = dt.datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI)

    def mono(self) -> float:
        return self.t

    def wall(self) -> dt.datetime:
        return self.at + dt.timedelta(seconds=self.t - 1000.0)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def books(clock):
    return Books(scenarios.load(), mono=clock.mono, wall=clock.wall)


CODE = "13456789012345"


def test_user_paying_turns_into_paid_by_the_acquirers_clock(books, clock):
    a = books.pay("wechat", "T1", CODE + "0001", 100, "电费")
    assert a.reply is Reply.PAYING and a.order.charges == 0
    clock.t += 0.29
    assert books.query("wechat", "T1").order.state is State.PAYING
    clock.t += 0.02
    q = books.query("wechat", "T1")
    assert q.order.state is State.SUCCESS and q.order.charges == 1 and q.order.held == 100
    assert q.order.paid_at == clock.wall()


@pytest.mark.parametrize("digits, reason", [("0002", "user_cancels"), ("0011", "insufficient_funds")])
def test_failures_after_the_password(books, clock, digits, reason):
    assert books.pay("alipay", "T2", CODE + digits, 100, "").reply is Reply.PAYING
    clock.t += 1
    o = books.query("alipay", "T2").order
    assert o.state is State.PAYERROR and o.reason == reason and o.charges == 0


def test_a_lost_pay_still_charges_and_queries_can_be_lost_too(books):
    a = books.pay("wechat", "T3", CODE + "0006", 100, "")
    assert a.reply is Reply.NO_ANSWER and a.order.charges == 1
    assert books.query("wechat", "T3").reply is Reply.NO_ANSWER
    r = books.reverse("wechat", "T3")
    assert r.reply is Reply.OK and r.order.state is State.REVOKED and r.order.held == 0


def test_reverse_failures_then_success_and_reversal_is_idempotent(books):
    books.pay("wechat", "T4", CODE + "0009", 100, "")
    assert [books.reverse("wechat", "T4").reply for _ in range(4)] == [
        Reply.SYSTEM_ERROR, Reply.SYSTEM_ERROR, Reply.OK, Reply.OK]


def test_a_reversal_before_the_pay_burns_the_number(books):
    assert books.reverse("alipay", "T5").reply is Reply.OK
    a = books.pay("alipay", "T5", CODE + "0000", 100, "")
    assert a.reply is Reply.DUPLICATE and a.order.state is State.CLOSED and a.order.charges == 0
    assert books.snapshot() == []  # a tombstone holds no money and is not an order


def test_duplicates_and_conflicts(books):
    books.pay("wechat", "T6", CODE + "0000", 100, "")
    assert books.pay("wechat", "T6", CODE + "0000", 100, "").reply is Reply.DUPLICATE
    assert books.pay("wechat", "T6", CODE + "0000", 101, "").reply is Reply.CONFLICT
    assert books.pay("wechat", "T6", "13999999999999" + "0000", 100, "").reply is Reply.CONFLICT
    assert books.pay("alipay", "T6", CODE + "0000", 100, "").reply is Reply.OK  # other acquirer, other books
    assert [o["charges"] for o in books.snapshot()] == [1, 1]


def test_refunds_are_idempotent_by_number_and_bounded(books):
    books.pay("wechat", "T7", CODE + "0010", 300, "")
    assert books.refund("wechat", "T7", "R1", 100).reply is Reply.SYSTEM_ERROR  # refund_fails_once
    assert books.refund("wechat", "T7", "R1", 100).reply is Reply.OK
    again = books.refund("wechat", "T7", "R1", 100)
    assert again.reply is Reply.OK and again.repeat
    assert books.refund("wechat", "T7", "R1", 150).reply is Reply.CONFLICT
    assert books.refund("wechat", "T7", "R2", 201).reply is Reply.EXCEEDS
    assert books.refund("wechat", "T7", "R2", 200).reply is Reply.OK
    assert books.refund("wechat", "T7", "R3", 1).reply is Reply.EXCEEDS
    assert books.refund("wechat", "NOPE", "R4", 1).reply is Reply.NOT_FOUND
    # a partly refunded order cannot be reversed any more
    assert books.reverse("wechat", "T7").reply is Reply.FAILED


def test_statement_lists_the_days_payments_and_refunds(books, clock):
    books.pay("wechat", "S1", CODE + "0000", 100, "")
    books.pay("wechat", "S2", CODE + "0000", 200, "")
    books.reverse("wechat", "S2")
    books.pay("wechat", "S3", CODE + "0000", 300, "")
    books.refund("wechat", "S3", "R", 300)
    books.pay("wechat", "S4", CODE + "0003", 400, "")  # not paid: not on the bill
    rows = books.statement("wechat", DAY)
    assert [(r["kind"], r["order"].out_trade_no) for r in rows] == [
        ("pay", "S1"), ("pay", "S2"), ("pay", "S3"), ("refund", "S3")]
    assert books.statement("wechat", DAY + dt.timedelta(days=1)) == []
    assert books.statement("alipay", DAY) == []


def test_scenario_file_errors_are_configuration_errors(tmp_path):
    bad = [
        'default = "nope"',
        '[select]\n"12" = "success"',
        '[scenario.x]\noutcome = "maybe"',
        '[scenario.x]\npaying_seconds = -1',
        '[scenario.x]\ncolour = "red"',
        'not toml =',
    ]
    for i, text in enumerate(bad):
        p = tmp_path / f"s{i}.toml"
        p.write_text(text)
        with pytest.raises(ConfigurationError):
            scenarios.load(p)
    with pytest.raises(ConfigurationError):
        scenarios.load(tmp_path / "missing.toml")


def test_key_set_is_private_and_refused_when_readable_by_others(tmp_path):
    make_keys(tmp_path / "k")
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "k").iterdir()} == {0o600}
    keys = load_keys(tmp_path / "k")
    assert len(keys.wx_key) == 32 and keys.wx_key not in repr(keys)  # a key never reaches a log line
    os.chmod(tmp_path / "k" / "wechat_api.key", 0o644)
    with pytest.raises(ConfigurationError):
        read_secret(tmp_path / "k" / "wechat_api.key")
    with pytest.raises(ConfigurationError):
        load_keys(tmp_path / "k")


def test_the_stations_key_holders_never_show_a_key(tmp_path):
    from hw_mocks.station.acquirer import load_channels
    from terminal_app.domain.paycode import PayChannel

    make_keys(tmp_path / "k")
    channels = load_channels("http://127.0.0.1:9", tmp_path / "k")
    wx_key = (tmp_path / "k" / "wechat_api.key").read_text().strip()
    shown = repr(channels[PayChannel.WECHAT].keys) + repr(channels[PayChannel.ALIPAY].keys)
    assert wx_key not in shown and "PRIVATE" not in shown and "RSAPrivateKey" not in shown
    with pytest.raises(ConfigurationError):
        load_channels("ftp://127.0.0.1:9", tmp_path / "k")
