"""Dunning end to end (issue 13, points 3 and 4): notices only for what is owed at print time,
the lawful cut (notice served + deadline passed + arrears re-checked at the door), the results
recorded at the door and the reconnection task a payment releases.

Tiny area: task T1 = customer 1001 (owes 18412 fen, action disconnect, a notice served 2026-11-10
to pay by 2026-11-17), T2 = 1002 (owes nothing).  The rig's clock is 2026-11-24 09:00."""

from __future__ import annotations

import datetime as dt

import pytest

from drivers.printer import COPY_MARK, PrintOutcome
from hw_mocks.station import ledger
from terminal_app.domain.dunning import CutRefusal, DunningResult, NoticeAction
from terminal_app.errors import BusinessRuleError
from terminal_app.services.dunning import CannotConfirmError
from tests.integration.test_usecase_rig import Rig


@pytest.fixture
def rig(tmp_path):
    with Rig(tmp_path) as r:
        yield r


def owing_task_without_notice(rig: Rig) -> None:
    """Filler customer 2001 (segment S2) owes 5000 fen and gets task T3, with no notice served."""
    conn = ledger.connect(rig.db)
    try:
        conn.execute("INSERT INTO bills (cust, period, amount, due, accrued_through)"
                     " VALUES ('2001', '2026-10', 5000, '2026-11-15', '2026-11-15')")
        conn.execute("INSERT INTO dunning_tasks VALUES ('T3', '2001', 'S2', 'notice', '2026-11-20', 'open')")
    finally:
        conn.close()


def test_a_notice_prints_for_what_is_owed_now_its_copy_only_while_nothing_was_paid(rig):
    t = rig.terminal
    t.download_route("S1")
    tasks = t.download_dunning_tasks("S1")
    assert [(x.task, x.customer, x.amount_due) for x in tasks] == [("T1", "1001", 18412), ("T2", "1002", 0)]
    assert tasks[0].notice is not None and tasks[0].notice.pay_by == dt.date(2026, 11, 17)
    first = t.print_dunning_notice("T1")
    assert (first.action, first.owed.online, first.owed.total) == (NoticeAction.ORIGINAL, True, 18412)
    assert first.printed.outcome is PrintOutcome.ORIGINAL_PRINTED
    copy = t.print_dunning_notice("T1")
    assert copy.action is NoticeAction.COPY and copy.printed.outcome is PrintOutcome.COPY_PRINTED
    original, copied = rig.tickets(2)
    assert "催费通知单" in original and "王秀英" in original and "￥184.12" in original
    assert "2026年11月17日" in original  # the deadline of the notice served first stays
    assert COPY_MARK in copied and COPY_MARK not in original and "COPY" not in copied

    # part paid at the door (not yet at the station): the old notice's figure is wrong now
    t.take_payment("1001", 10300)  # the 2026-09 bill with its penalty
    rig.offline()  # and no link: the downloaded figures less today's payments decide
    new = t.print_dunning_notice("T1")
    assert (new.action, new.owed.online, new.owed.total) == (NoticeAction.NEW, False, 8112)
    assert new.printed.outcome is PrintOutcome.ORIGINAL_PRINTED and new.pay_by == dt.date(2026, 11, 17)
    third = rig.tickets(4)[-1]  # (the receipt of the payment printed in between)
    assert "￥81.12" in third and "2026-09" not in third and "T1-2" in third

    # paid in full: no notice, not even a copy of the old one
    t.take_payment("1001", 8112)
    with pytest.raises(BusinessRuleError) as info:
        t.print_dunning_notice("T1")
    assert "owes nothing now" in str(info.value)
    rig.online()
    with pytest.raises(BusinessRuleError):
        t.print_dunning_notice("T1")
    with pytest.raises(BusinessRuleError):  # a customer who owed nothing from the start
        t.print_dunning_notice("T2")
    assert len(rig.printer_mock.tickets) == 5  # the notice, its copy, a receipt, the new notice, a receipt
    # the notice this terminal served is reported once, with its deadline
    reports = [e.body_dict() for e in rig.journal.entries() if e.kind == "dunning"]
    assert [(r["result"], r["pay_by"]) for r in reports] == [("notice_printed", "2026-11-17")]
    with pytest.raises(BusinessRuleError):
        t.print_dunning_notice("T9")


def test_a_lawful_cut_opens_a_reconnection_task_that_the_payment_releases(rig):
    t = rig.terminal
    t.download_route("S1")
    t.download_dunning_tasks("S1")
    check = t.check_cut("1001")  # by customer number at the door
    assert check.allowed and check.decision.owed == 18412 and check.task == "T1"
    cut = t.confirm_disconnection("T1", note="表箱加封")
    assert rig.journal.get(cut.txn).body_dict()["result"] == "disconnected"
    assert rig.store.reconnections("1001") == [("T1", "1001", "waiting_payment", None)]
    assert t.sync_now().applied == 1
    assert rig.station_rows("SELECT state FROM dunning_tasks WHERE task = 'T1'") == [("disconnected",)]
    assert rig.station_rows("SELECT state FROM reconnections WHERE task = 'T1'") == [("waiting_payment",)]

    part = t.take_payment("1001", 10000, bill=t.query_bill("1001"))
    assert part.reconnection == () and rig.store.reconnections("1001")[0][2] == "waiting_payment"
    full = t.take_payment("1001", 8412, bill=t.query_bill("1001"))
    assert full.reconnection == ("T1",)
    assert rig.store.reconnections("1001") == [("T1", "1001", "released", full.txn)]
    t.sync_now()
    assert rig.station_rows("SELECT state, released_by FROM reconnections") == [("released", full.txn)]
    # the payment that released it is reversed: the reconnection waits again, here and at the station
    t.reverse_payment(full.txn, "金额错误")
    assert rig.store.reconnections("1001")[0][2] == "waiting_payment"
    t.sync_now()
    assert rig.station_rows("SELECT state FROM reconnections") == [("waiting_payment",)]


def test_no_cut_before_the_deadline_or_without_a_notice(rig):
    t = rig.terminal
    owing_task_without_notice(rig)
    t.download_route("S2")
    t.download_dunning_tasks("S2")
    check = t.check_cut("T3")
    assert not check.allowed and check.decision.refusals == (CutRefusal.NO_NOTICE,)
    with pytest.raises(BusinessRuleError, match="No dunning notice was served"):
        t.confirm_disconnection("T3")
    t.print_dunning_notice("T3")  # served now: the customer has until 2026-12-01
    check = t.check_cut("T3")
    assert check.decision.refusals == (CutRefusal.BEFORE_DEADLINE,)
    assert check.decision.notice.pay_by == dt.date(2026, 12, 1)
    with pytest.raises(BusinessRuleError, match="until 2026-12-01"):
        t.confirm_disconnection("T3")
    rig.clock.at = dt.datetime(2026, 12, 1, 17, 0, tzinfo=rig.clock.at.tzinfo)
    assert not t.check_cut("T3").allowed  # the last day to pay is not over yet
    rig.clock.at = dt.datetime(2026, 12, 2, 9, 0, tzinfo=rig.clock.at.tzinfo)
    t.sync_now()  # the notice has reached the station
    assert t.check_cut("T3").allowed
    assert [e.body_dict()["result"] for e in rig.journal.entries()] == ["notice_printed"]


def test_no_cut_when_the_arrears_are_paid_even_if_the_payment_is_not_synced_yet(rig):
    t = rig.terminal
    t.download_route("S1")
    t.download_dunning_tasks("S1")
    rig.offline()
    t.take_payment("1001", 18412)  # journaled, not yet at the station
    rig.online()
    check = t.check_cut("T1")
    assert check.decision.refusals == (CutRefusal.PAID,)
    with pytest.raises(BusinessRuleError) as info:
        t.confirm_disconnection("T1")
    assert "owes nothing" in str(info.value) and "Do NOT disconnect" in str(info.value)
    t.sync_now()  # now the station itself says so
    assert not t.check_arrears("1001").may_disconnect
    with pytest.raises(BusinessRuleError):
        t.confirm_disconnection("T1")
    assert [e.kind for e in rig.journal.entries()] == ["payment"]


def test_the_results_at_the_door_follow_their_rules(rig):
    t = rig.terminal
    t.download_route("S1")
    t.download_dunning_tasks("S1")
    with pytest.raises(BusinessRuleError, match="still owes 184.12"):
        t.record_dunning_result("T1", DunningResult.PAID)
    with pytest.raises(BusinessRuleError):  # a cut is never picked from a list
        t.record_dunning_result("T1", DunningResult.DISCONNECTED)
    t.record_dunning_result("T1", DunningResult.NOT_HOME)
    t.record_dunning_result("T1", DunningResult.PROMISED, note="月底前缴清")
    t.take_payment("1001", 18412)
    t.record_dunning_result("T1", DunningResult.PAID)  # today's payment counts before it is sent
    assert rig.store.dunning_results("T1") == ["not_home", "promised", "paid"]
    report = t.sync_now()
    assert report.rejected == 0, report
    assert rig.station_rows("SELECT result, note FROM dunning_results ORDER BY rowid") == [
        ("not_home", None), ("promised", "月底前缴清"), ("paid", None)]
    assert rig.station_rows("SELECT state FROM dunning_tasks WHERE task = 'T1'") == [("paid",)]


def test_offline_the_terminal_says_it_cannot_confirm(rig):
    t = rig.terminal
    t.download_dunning_tasks("S1")
    rig.offline()
    with pytest.raises(CannotConfirmError) as info:
        t.confirm_disconnection("T1")
    assert "Do NOT disconnect" in str(info.value)
    assert rig.journal.entries() == []
