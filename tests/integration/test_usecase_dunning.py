"""Dunning end to end: tasks by segment, dunning notices (copy on reprint), and the real-time
arrears check that guards every disconnection (避免误停电).

Tiny area: task T1 = customer 1001 (owes 18412 fen, action disconnect), T2 = 1002 (owes nothing)."""

from __future__ import annotations

import pytest

from drivers.printer import COPY_MARK, PrintOutcome
from terminal_app.errors import BusinessRuleError
from terminal_app.services.dunning import CannotConfirmError
from tests.integration.test_usecase_rig import Rig


@pytest.fixture
def rig(tmp_path):
    with Rig(tmp_path) as r:
        yield r


def test_tasks_download_by_segment_and_notices_print_once_then_as_copies(rig):
    t = rig.terminal
    tasks = t.download_dunning_tasks("S1")
    assert [(x.task, x.customer, x.amount_due) for x in tasks] == [("T1", "1001", 18412), ("T2", "1002", 0)]
    assert t.print_dunning_notice("T1").outcome is PrintOutcome.ORIGINAL_PRINTED
    assert t.print_dunning_notice("T1").outcome is PrintOutcome.COPY_PRINTED
    original, copy = rig.tickets(2)
    assert "催费通知单" in original and "王秀英" in original and "S1" in original
    assert "￥184.12" in original and "2026年12月1日" in original  # pay within 7 days of 2026-11-24
    assert COPY_MARK in copy and COPY_MARK not in original
    # the original is reported once (notice_printed), the copy is not
    assert [e.body_dict()["result"] for e in rig.journal.entries()] == ["notice_printed"]
    assert t.sync_now().applied == 1
    with pytest.raises(BusinessRuleError):
        t.print_dunning_notice("T9")


def test_disconnection_is_confirmed_only_after_a_real_time_check_that_shows_arrears(rig):
    t = rig.terminal
    t.download_dunning_tasks("S1")
    cut = t.confirm_disconnection("T1", note="表箱加封")
    assert cut.check.total == 18412 and cut.check.may_disconnect
    assert rig.journal.get(cut.txn).body_dict()["result"] == "disconnected"
    assert t.sync_now().applied == 1
    assert rig.station_rows("SELECT state FROM dunning_tasks WHERE task = 'T1'") == [("disconnected",)]


def test_no_cut_when_the_arrears_are_paid_even_if_the_payment_is_not_synced_yet(rig):
    t = rig.terminal
    t.download_route("S1")
    t.download_dunning_tasks("S1")
    t.take_payment("1001", 18412)  # journaled, not yet at the station
    with pytest.raises(BusinessRuleError) as info:
        t.confirm_disconnection("T1")
    assert "owes nothing" in str(info.value) and "Do NOT disconnect" in str(info.value)
    t.sync_now()  # now the station itself says so
    check = t.check_arrears("1001")
    assert check.total == 0 and not check.may_disconnect
    with pytest.raises(BusinessRuleError):
        t.confirm_disconnection("T1")
    assert [e.kind for e in rig.journal.entries()] == ["payment"]


def test_offline_the_terminal_says_it_cannot_confirm(rig):
    t = rig.terminal
    t.download_dunning_tasks("S1")
    rig.offline()
    with pytest.raises(CannotConfirmError) as info:
        t.confirm_disconnection("T1")
    assert "Do NOT disconnect" in str(info.value)
    assert rig.journal.entries() == []
