"""QR payment (付款码) on the terminal, below the UI (issue 17): FieldSession/Terminal → the real station
server → the mock acquirer as a process.  Journal first (code redacted), refused offline, a timeout is
"outcome unknown" resolved by TXN_STATUS, the receipt names the wallet and the acquirer's id."""

from __future__ import annotations

import itertools
import json

import pytest

from hw_mocks.station.acquirer import load_channels
from hw_mocks.station.acquirer_policy import Params
from offline_queue.journal import EntryState
from terminal_app.domain.paycode import PayChannel, PayCodeError
from terminal_app.services.qr_payment import QrOfflineError, QrOutcomeUnknownError, QrRefusedError
from tests.integration.test_usecase_rig import Rig
from tests.rigs.acquirer import WHOLE_CODE, code_for, make_keys, order_of, running_acquirer
from tests.rigs.station import rows
from tests.util import wait_for

FAST = Params(query_interval=0.05, query_limit=12, unknown_wait=0.05, reverse_interval=0.05, reverse_limit=4,
              refund_interval=0.05, refund_limit=3)
_serial = itertools.count(70_000_000)


@pytest.fixture
def acquirer(tmp_path_factory):
    # one per test: every test's terminal counts its txns (the merchant's order numbers) from 1 again
    keys = make_keys(tmp_path_factory.mktemp("acq-keys"))
    with running_acquirer(keys) as acq:
        yield acq
    assert not WHOLE_CODE.search(acq["log"].read_text(encoding="utf-8"))


@pytest.fixture
def rig(tmp_path, acquirer):
    channels = load_channels(acquirer["url"], acquirer["keys"], timeout=0.5)
    with Rig(tmp_path, station_kw={"acquirer": channels, "acquirer_params": FAST}) as r:
        r.terminal.download_route("S1")
        r.acq = acquirer
        yield r
    # nothing the terminal wrote down holds a whole code
    for (body,) in rows(r.journal.path, "SELECT body FROM entries"):
        assert not WHOLE_CODE.search(bytes(body).decode())


def code(channel: PayChannel, digits: str) -> str:
    return code_for(channel, next(_serial), digits)


@pytest.mark.parametrize("channel", [PayChannel.WECHAT, PayChannel.ALIPAY])
def test_paid_journaled_redacted_and_the_receipt_names_wallet_and_acquirer_id(rig, channel):
    t = rig.terminal
    scanned = code(channel, "0001") + "\r\n"
    r = t.take_qr_payment("1001", 18412, scanned, bill=t.query_bill("1001"))
    entry = rig.journal.get(r.txn)
    assert entry.state is EntryState.APPLIED and entry.reply["acquirer_id"] == r.acquirer_id != ""
    body = entry.body_dict()
    assert body["method"] == channel.value and body["auth_code"] == r.code and "*" in r.code
    text = rig.tickets(1)[0]
    wallet = {"wechat": "微信支付", "alipay": "支付宝"}[channel.value]
    assert wallet in text and r.code.split(":")[1] in text and r.acquirer_id in text
    assert not WHOLE_CODE.search(text)
    assert rows(rig.db, "SELECT method, acquirer_id FROM payments WHERE txn = ?", r.txn) == \
        [(channel.value, r.acquirer_id)]
    assert order_of(rig.acq["url"], channel, r.txn)["charges"] == 1
    assert t.sync_now().applied == 0  # nothing left to send


def test_refusal_says_why_and_nothing_waits(rig):
    t = rig.terminal
    with pytest.raises(QrRefusedError) as info:
        t.take_qr_payment("1001", 5000, code(PayChannel.ALIPAY, "0003"))
    assert info.value.params["reason"] == "insufficient_funds"
    [entry] = rig.journal.entries()
    assert entry.state is EntryState.REJECTED and entry.reject_code == "E_PAY_REFUSED"


def test_not_a_payment_code_is_refused_before_anything_is_journaled(rig):
    with pytest.raises(PayCodeError):
        rig.terminal.take_qr_payment("1001", 5000, "993456789012345678")
    assert rig.journal.entries() == []


def test_offline_is_refused_clearly_never_queued_never_cash(rig):
    rig.offline()
    with pytest.raises(QrOfflineError):
        rig.terminal.take_qr_payment("1001", 5000, code(PayChannel.WECHAT, "0000"))
    [entry] = rig.journal.entries()
    assert entry.state is EntryState.REJECTED and entry.reject_code == "E_OFFLINE"
    assert json.loads(entry.body)["method"] == "wechat"  # not turned into cash
    rig.online()
    assert rig.terminal.sync_now().exchanges == 0  # nothing waited to be sent
    assert order_of(rig.acq["url"], PayChannel.WECHAT, entry.txn) is None


def test_a_timeout_is_outcome_unknown_resolved_by_txn_status_never_a_second_charge(rig):
    """The answer does not come in time (the customer types the password for 0.3 s; the terminal
    waits 0.1 s): unknown, TXN_STATUS first; once the station has the acquirer's word the journaled
    (redacted) copy fetches the stored answer — one charge."""
    t = rig.terminal
    import terminal_app.services.qr_payment as qp

    pay_code = code(PayChannel.WECHAT, "0001")
    with pytest.raises(QrOutcomeUnknownError):
        qp.take_qr_payment(t.context(), cust="1001", amount=5000, code_text=pay_code, response_timeout=0.1)
    [entry] = rig.journal.entries()
    # asked with TXN_STATUS at once; the redacted copy sent again got "not known yet" (E_INTERNAL)
    assert entry.state is EntryState.UNKNOWN
    assert rig.client.response_timeout == 5.0  # the QR timeout was for that one exchange

    def settled():
        t.sync_now()
        return rig.journal.get(entry.txn).state is EntryState.APPLIED

    wait_for(settled, timeout=30, what="the QR payment's stored answer")
    assert rig.journal.get(entry.txn).reply["acquirer_id"]
    assert order_of(rig.acq["url"], PayChannel.WECHAT, entry.txn)["charges"] == 1
