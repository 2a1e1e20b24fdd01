"""The station's acquirer client against the mock acquirer as a real process over HTTP: every scenario,
on both channels, ends in a definite outcome that matches the acquirer's own books."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw_mocks.acquirer import wire
from hw_mocks.station.acquirer import (
    AlipayChannel,
    AlipayKeys,
    OrderJournal,
    QrOrderConflict,
    QrPayments,
    WechatChannel,
    WechatKeys,
    load_channels,
    order_number,
)
from hw_mocks.station.acquirer_policy import Event, Outcome, Params, Phase, State
from hw_mocks.station.qr_check import daily_check
from terminal_app.domain.paycode import PayChannel, parse_paycode
from terminal_app.timeutil import SHANGHAI

ROOT = Path(__file__).resolve().parents[2]
#: quick intervals: the acquirer's advice is 10 s; the behaviour is the same at any scale
FAST = Params(query_interval=0.05, query_limit=12, unknown_wait=0.05, reverse_interval=0.05, reverse_limit=4,
              refund_interval=0.05, refund_limit=3)
#: for the scenarios where nothing is answered (every unanswered call costs the client's timeout)
SHORT = Params(query_interval=0.05, query_limit=2, unknown_wait=0.05, reverse_interval=0.05, reverse_limit=4)
TIMEOUT = 0.5


@contextlib.contextmanager
def running_acquirer(keys: Path):
    """``handheld-mocks acquirer`` as a process on a free port; its log is checked for whole codes."""
    proc = subprocess.Popen([sys.executable, "-m", "hw_mocks.cli", "acquirer", "--port", "0", "--keys", str(keys),
                             "--hang-seconds", "1", "-v"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # blocking: the process prints the bound port once listening
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert m, f"acquirer did not start: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
        yield {"url": f"http://127.0.0.1:{m.group(1)}", "keys": keys, "proc": proc}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        finally:
            proc.stdout.close()
            log = proc.stderr.read()
            proc.stderr.close()
    # the mock's own log never carried a whole payment code either
    assert not re.search(r"(?<![0-9])(1[0-5][0-9]{16}|(2[5-9]|30)[0-9]{14,22})(?![0-9])", log), log[-2000:]


@pytest.fixture(scope="module")
def acquirer(tmp_path_factory):
    keys = tmp_path_factory.mktemp("acq-keys")
    subprocess.run([sys.executable, "-m", "hw_mocks.cli", "acquirer", "--make-keys", str(keys)], cwd=ROOT,
                   check=True, capture_output=True)
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in keys.iterdir())
    with running_acquirer(keys) as acq:
        yield acq


_serial = iter(range(10_000_000, 99_999_999))


def txn() -> str:
    return f"10000017-{next(_serial)}"


def code_for(channel: PayChannel, scenario_digits: str) -> str:
    n = next(_serial)
    return (f"1345{n:010d}" if channel is PayChannel.WECHAT else f"2876{n:010d}") + scenario_digits


def books(acquirer) -> dict[str, dict]:
    with urllib.request.urlopen(acquirer["url"] + "/_mock/orders", timeout=5) as r:
        return {(o["channel"], o["out_trade_no"]): o for o in json.loads(r.read())}


def mock_order(acquirer, channel: PayChannel, t: str) -> dict | None:
    return books(acquirer).get((channel.value, order_number(t, channel)))


@pytest.fixture
def pay(acquirer, tmp_path):
    journal = OrderJournal(tmp_path / "qr.sqlite")
    channels = load_channels(acquirer["url"], acquirer["keys"], timeout=TIMEOUT)

    def make(params: Params = FAST) -> QrPayments:
        return QrPayments(journal, channels, params)

    make.journal = journal
    make.channels = channels
    yield make
    journal.close()


CHANNELS = [PayChannel.WECHAT, PayChannel.ALIPAY]

#: scenario digits → (policy params, outcome, held by the merchant afterwards)
SCENARIOS = {
    "0000": ("success", FAST, Outcome.PAID, True),
    "0001": ("user paying for 0.3 s, then success", FAST, Outcome.PAID, True),
    "0002": ("user cancels", FAST, Outcome.NOT_PAID, False),
    "0003": ("insufficient funds", FAST, Outcome.NOT_PAID, False),
    "0011": ("insufficient funds after the password", FAST, Outcome.NOT_PAID, False),
    "0004": ("system error, the charge went through", FAST, Outcome.PAID, True),
    "0005": ("no answer to the pay, the charge went through", FAST, Outcome.PAID, True),
    "0006": ("no answer to pay or queries: reversed after success", SHORT, Outcome.REVERSED, False),
    "0007": ("user paying past the limit: reversed", SHORT, Outcome.REVERSED, False),
    "0008": ("a code the acquirer refuses", FAST, Outcome.NOT_PAID, False),
    "0009": ("reversal refused twice, then done", SHORT, Outcome.REVERSED, False),
}


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("digits", list(SCENARIOS))
def test_every_scenario_ends_definite_and_matches_the_acquirers_books(acquirer, pay, channel, digits):
    _, params, outcome, held = SCENARIOS[digits]
    t, code = txn(), parse_paycode(code_for(channel, digits))
    r = pay(params).charge(t, code, 1234)
    assert r.outcome is outcome, r
    o = mock_order(acquirer, channel, t)
    assert o is not None and o["charges"] <= 1
    assert o["held"] == (1234 if held else 0)
    if outcome is Outcome.PAID:
        assert r.acquirer_id == o["transaction_id"] and len(r.acquirer_id) == 28
    row = pay.journal.order(t)
    assert row["outcome"] == outcome.value and row["code"] == code.redacted()
    assert code.secret not in json.dumps(row, ensure_ascii=False)
    # asked again: the stored outcome, nothing sent (the acquirer's counters do not move)
    again = pay(params).charge(t, code, 1234)
    assert again.repeated and again.outcome is outcome and again.acquirer_id == r.acquirer_id
    after = mock_order(acquirer, channel, t)
    assert (after["queries"], after["reverses"], after["charges"]) == (o["queries"], o["reverses"], o["charges"])


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_txn_retried_after_the_station_lost_its_record_is_not_charged_twice(acquirer, pay, tmp_path, channel):
    """Duplicate order: the acquirer refuses a second pay under the same order number (ORDERPAID /
    ACQ.TRADE_HAS_SUCCESS); the client then asks and finds the first payment."""
    t, code = txn(), parse_paycode(code_for(channel, "0000"))
    first = pay().charge(t, code, 500)
    fresh = OrderJournal(tmp_path / "other.sqlite")
    try:
        second = QrPayments(fresh, pay.channels, FAST).charge(t, code, 500)
    finally:
        fresh.close()
    assert first.outcome is second.outcome is Outcome.PAID and not second.repeated
    assert second.acquirer_id == first.acquirer_id
    assert mock_order(acquirer, channel, t)["charges"] == 1


@pytest.mark.parametrize("channel", CHANNELS)
def test_the_same_txn_for_another_amount_is_refused_by_both_sides(acquirer, pay, channel):
    t, code = txn(), parse_paycode(code_for(channel, "0000"))
    pay().charge(t, code, 500)
    with pytest.raises(QrOrderConflict):
        pay().charge(t, code, 600)
    ch = pay.channels[channel]  # the acquirer itself refuses it too (OUT_TRADE_NO_USED / CONTEXT_INCONSISTENT)
    assert ch.pay(order_number(t, channel), code, 600, "电费").event is Event.UNKNOWN
    assert mock_order(acquirer, channel, t)["charges"] == 1


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_station_that_died_after_sending_queries_first_and_never_pays_again(acquirer, pay, channel):
    t, code = txn(), parse_paycode(code_for(channel, "0001"))  # the customer is typing a password
    pay.journal.begin(t, channel, 800, code.redacted())
    assert pay.channels[channel].pay(order_number(t, channel), code, 800, "电费").event is Event.USERPAYING
    # restart: the record has no outcome
    assert t in pay.journal.unfinished()
    r = pay().resume(t)
    assert r.outcome is Outcome.PAID and not r.repeated
    o = mock_order(acquirer, channel, t)
    assert o["charges"] == 1 and o["queries"] >= 1
    assert t not in pay.journal.unfinished()


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_reversal_of_an_order_never_seen_burns_the_number(acquirer, pay, channel):
    """A pay lost on the way and reversed: if it arrives later it cannot charge."""
    t, code = txn(), parse_paycode(code_for(channel, "0000"))
    out_no = order_number(t, channel)
    ch = pay.channels[channel]
    assert ch.reverse(out_no).event is Event.REVERSED
    assert ch.pay(out_no, code, 300, "电费").event is Event.FAILED  # ORDERREVERSED / ACQ.TRADE_HAS_CLOSE
    assert mock_order(acquirer, channel, t) is None  # nothing was charged, no order holds money


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_paid_order_reversed_gives_the_money_back(acquirer, pay, channel):
    t, code = txn(), parse_paycode(code_for(channel, "0000"))
    assert pay().charge(t, code, 900).outcome is Outcome.PAID
    assert pay.channels[channel].reverse(order_number(t, channel)).event is Event.REVERSED
    o = mock_order(acquirer, channel, t)
    assert o["state"] == "REVOKED" and o["held"] == 0 and o["charges"] == 1
    assert pay.channels[channel].query(order_number(t, channel), 900).event is Event.FAILED


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("digits", ["0000", "0010"])
def test_same_day_reversal_is_a_refund_once(acquirer, pay, channel, digits):
    t, code = txn(), parse_paycode(code_for(channel, digits))
    assert pay().charge(t, code, 2500).outcome is Outcome.PAID
    refund_no = txn()
    r = pay().refund(t, refund_no, 2500)
    assert r.outcome is Outcome.REFUNDED
    again = pay().refund(t, refund_no, 2500)
    assert again.repeated and again.outcome is Outcome.REFUNDED
    o = mock_order(acquirer, channel, t)
    assert o["refunded"] == 2500 and o["held"] == 0
    # the acquirer's side is idempotent too: the same refund number asked again moves no money
    ch = pay.channels[channel]
    assert ch.refund(order_number(t, channel), order_number(refund_no, channel), 2500, 2500).event is Event.REFUNDED
    assert mock_order(acquirer, channel, t)["refunded"] == 2500
    # a second, different refund beyond what is left is refused for good by the acquirer
    assert pay().refund(t, txn(), 1).outcome is Outcome.REFUND_REFUSED
    # and one above the payment itself never leaves the station
    from terminal_app.errors import BusinessRuleError

    with pytest.raises(BusinessRuleError):
        pay().refund(t, txn(), 2501)


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_refund_of_an_unpaid_order_is_refused_before_anything_is_sent(acquirer, pay, channel):
    from terminal_app.errors import BusinessRuleError

    t, code = txn(), parse_paycode(code_for(channel, "0003"))
    assert pay().charge(t, code, 100).outcome is Outcome.NOT_PAID
    with pytest.raises(BusinessRuleError):
        pay().refund(t, txn(), 100)


@pytest.mark.parametrize("channel", CHANNELS)
def test_answers_that_do_not_verify_are_never_taken_for_paid(acquirer, tmp_path, channel):
    """A station with the wrong key to check the acquirer's answers: the charge really happens at the
    acquirer, but the station never believes an unsigned "paid" — it reverses, and the money goes back."""
    good = load_channels(acquirer["url"], acquirer["keys"], timeout=TIMEOUT)[channel]
    if channel is PayChannel.WECHAT:  # a wrong API key: the acquirer refuses the requests themselves
        bad = WechatChannel(acquirer["url"], WechatKeys(good.keys.appid, good.keys.mch_id, "0" * 32), TIMEOUT)
    else:  # the right request key, a wrong key for the answers
        bad = AlipayChannel(acquirer["url"], AlipayKeys(good.keys.app_id, good.keys.app_private,
                                                        wire.new_rsa_key().public_key()), TIMEOUT)
    journal = OrderJournal(tmp_path / "qr.sqlite")
    try:
        t, code = txn(), parse_paycode(code_for(channel, "0000"))
        r = QrPayments(journal, {channel: bad}, SHORT).charge(t, code, 700)
    finally:
        journal.close()
    assert r.outcome is Outcome.UNRESOLVED  # never PAID, and not "not paid" either: nobody knows yet
    o = mock_order(acquirer, channel, t)
    assert o is None or o["held"] == 0  # WeChat: never charged; Alipay: charged, then reversed


def test_the_daily_statement_lists_every_payment_reversal_and_refund(acquirer, pay):
    today = dt.datetime.now(SHANGHAI).date()
    done = {}
    for channel in CHANNELS:
        paid, reversed_, refunded = txn(), txn(), txn()
        assert pay().charge(paid, parse_paycode(code_for(channel, "0000")), 1001).outcome is Outcome.PAID
        assert pay(SHORT).charge(reversed_, parse_paycode(code_for(channel, "0006")), 1002).outcome \
            is Outcome.REVERSED
        assert pay().charge(refunded, parse_paycode(code_for(channel, "0000")), 1003).outcome is Outcome.PAID
        refund_no = txn()
        assert pay().refund(refunded, refund_no, 1003).outcome is Outcome.REFUNDED
        lines = pay.channels[channel].statement(today)
        mine = {(ln.order_number, ln.kind): ln.amount for ln in lines}
        def n(x: str, channel: PayChannel = channel) -> str:
            return order_number(x, channel)

        assert mine[(n(paid), "pay")] == 1001
        assert mine[(n(refunded), "pay")] == 1003 and mine[(n(refunded), "refund")] == 1003
        if channel is PayChannel.WECHAT:  # a reversed payment is listed REVOKED under its own number
            assert mine[(n(reversed_), "revoked")] == 1002
        else:  # Alipay lists the payment and the money given back
            assert mine[(n(reversed_), "pay")] == 1002 and mine[(n(reversed_), "refund")] == 1002
        done[channel] = lines
    assert pay.channels[PayChannel.WECHAT].statement(today - dt.timedelta(days=400)) == []
    assert pay.channels[PayChannel.ALIPAY].statement(today - dt.timedelta(days=400)) == []


def _post(acquirer, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(acquirer["url"] + path, data=body, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_the_mock_bounds_and_checks_every_request(acquirer, pay):
    assert _post(acquirer, "/pay/micropay", b"x" * (wire.MAX_BODY + 1))[0] == 413
    status, body = _post(acquirer, "/pay/micropay", b"<xml><a>1</a>")
    assert status == 200 and wire.wx_decode(body)["return_code"] == "FAIL"
    ch = pay.channels[PayChannel.WECHAT]
    signed = wire.wx_signed({"appid": ch.keys.appid, "mch_id": ch.keys.mch_id, "nonce_str": "n" * 32,
                             "out_trade_no": txn()}, ch.keys.api_key)
    first = wire.wx_decode(_post(acquirer, "/pay/orderquery", wire.wx_encode(signed))[1])
    assert first["return_code"] == "SUCCESS"
    replay = wire.wx_decode(_post(acquirer, "/pay/orderquery", wire.wx_encode(signed))[1])
    assert replay["return_code"] == "FAIL"  # the same nonce twice is refused
    tampered = {**signed, "nonce_str": "m" * 32}
    assert wire.wx_decode(_post(acquirer, "/pay/orderquery", wire.wx_encode(tampered))[1])["return_msg"] == "签名错误"
    assert _post(acquirer, "/nowhere", b"")[0] == 404


def test_a_wechat_code_sent_to_alipay_is_refused_for_good(acquirer, pay):
    t = txn()
    wx = parse_paycode(code_for(PayChannel.WECHAT, "0000"))
    ali = pay.channels[PayChannel.ALIPAY]
    assert ali.pay(order_number(t, PayChannel.ALIPAY), wx, 100, "电费").event is Event.FAILED


def test_the_daily_check_agrees_on_a_clean_day_and_lists_each_difference(acquirer, tmp_path):
    """A fresh acquirer (its books hold only this day's orders) against a fresh station journal."""
    today = dt.datetime.now(SHANGHAI).date()
    with running_acquirer(acquirer["keys"]) as acq:
        journal = OrderJournal(tmp_path / "qr.sqlite")
        try:
            channels = load_channels(acq["url"], acq["keys"], timeout=TIMEOUT)
            qr = QrPayments(journal, channels, FAST)
            for channel in CHANNELS:
                assert qr.charge(txn(), parse_paycode(code_for(channel, "0000")), 100).outcome is Outcome.PAID
                assert QrPayments(journal, channels, SHORT).charge(
                    txn(), parse_paycode(code_for(channel, "0006")), 200).outcome is Outcome.REVERSED
                assert qr.charge(txn(), parse_paycode(code_for(channel, "0003")), 300).outcome is Outcome.NOT_PAID
                refunded = txn()
                assert qr.charge(refunded, parse_paycode(code_for(channel, "0000")), 400).outcome is Outcome.PAID
                assert qr.refund(refunded, txn(), 400).outcome is Outcome.REFUNDED
            assert daily_check(journal, channels, today) == []

            wx = channels[PayChannel.WECHAT]
            stranger = txn()  # charged at the acquirer, unknown to the station
            assert wx.pay(order_number(stranger, PayChannel.WECHAT), parse_paycode(code_for(PayChannel.WECHAT, "0000")),
                          555, "电费").event is Event.PAID
            ghost = txn()  # the station believes it paid; the acquirer never saw it
            journal.begin(ghost, PayChannel.ALIPAY, 666, "alipay:28**********0000")
            journal.update(ghost, State(Phase.DONE, outcome=Outcome.PAID))
            limbo = txn()  # the station died after sending; the acquirer charged
            code = parse_paycode(code_for(PayChannel.WECHAT, "0000"))
            journal.begin(limbo, PayChannel.WECHAT, 777, code.redacted())
            assert wx.pay(order_number(limbo, PayChannel.WECHAT), code, 777, "电费").event is Event.PAID
            diffs = {(d.txn or d.order_number, d.kind, d.station_fen, d.acquirer_fen)
                     for d in daily_check(journal, channels, today)}
            assert diffs == {(stranger, "not_on_station", 0, 555), (ghost, "not_at_acquirer", 666, 0),
                             (limbo, "unresolved", 0, 777)}
            # resuming the order in limbo settles it: the check then agrees on it
            assert qr.resume(limbo).outcome is Outcome.PAID
            assert {d.kind for d in daily_check(journal, channels, today)} == {"not_on_station", "not_at_acquirer"}
        finally:
            journal.close()


class _CountingChannel:
    """The real channel, with its pay calls counted (the acquirer would refuse a second anyway: this
    shows the station does not even send one)."""

    def __init__(self, inner) -> None:
        self.inner, self.channel, self.pays = inner, inner.channel, 0
        self._lock = threading.Lock()

    def pay(self, *a):
        with self._lock:
            self.pays += 1
        return self.inner.pay(*a)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.mark.parametrize("channel", CHANNELS)
def test_the_same_txn_from_many_threads_sends_one_pay(acquirer, pay, channel):
    counting = _CountingChannel(pay.channels[channel])
    qr = QrPayments(pay.journal, {channel: counting}, FAST)
    t, code = txn(), parse_paycode(code_for(channel, "0001"))  # USERPAYING: the first run takes a while
    results = []
    threads = [threading.Thread(target=lambda: results.append(qr.charge(t, code, 4321)), name=f"qr-{i}")
               for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert len(results) == 8 and {r.outcome for r in results} == {Outcome.PAID}
    assert len({r.acquirer_id for r in results}) == 1 and sum(not r.repeated for r in results) == 1
    assert counting.pays == 1 and mock_order(acquirer, channel, t)["charges"] == 1


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_query_is_paid_only_for_our_amount(acquirer, pay, channel):
    t, code = txn(), parse_paycode(code_for(channel, "0000"))
    assert pay().charge(t, code, 1500).outcome is Outcome.PAID
    ch = pay.channels[channel]
    assert ch.query(order_number(t, channel), 1500).event is Event.PAID
    assert ch.query(order_number(t, channel), 1501).event is Event.UNKNOWN


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/pay/micropay", "/pay/orderquery", "/secapi/pay/reverse", "/secapi/pay/refund",
                             "/pay/downloadbill", "/gateway.do"]),
       body=st.one_of(st.binary(max_size=400),
                      st.builds(lambda inner: b"<xml>" + inner + b"</xml>", st.binary(max_size=200)),
                      st.builds(lambda v: b"app_id=2014072300007148&method=alipay.trade.pay&sign_type=RSA2&sign=" + v,
                                st.binary(max_size=100))))
def test_any_body_is_refused_cleanly_and_the_acquirer_keeps_serving(acquirer, path, body):
    status, answer = _post(acquirer, path, body)
    assert status == 200
    if path == "/gateway.do":
        assert json.loads(answer)  # a signed refusal, never a crash page
        assert b'"code":"10000"' not in answer
    else:
        assert wire.wx_decode(answer)["return_code"] == "FAIL" or b"result_code><![CDATA[FAIL" in answer
