"""The route walk on the rig (real station, store and journal): the walking order the electrician
sets outlives a new download (new customers come last), and a door skipped with a reason counts
as visited — as "skipped", not as read.

The tiny area (tests/rigs/station.py): 1001, 1002, 1003 in S1; fillers 2000… in S2."""

from __future__ import annotations

import pytest

from terminal_app.domain.abnormal import Abnormal, AbnormalCode
from tests.integration.test_usecase_rig import Rig


@pytest.fixture
def rig(tmp_path):
    with Rig(tmp_path) as r:
        r.terminal.download_route("S1")
        yield r


def numbers(rig: Rig) -> list[str]:
    return [c.number for c in rig.terminal.route_customers("S1")]


def test_the_walking_order_is_kept_across_downloads_and_new_customers_come_last(rig):
    t = rig.terminal
    assert numbers(rig) == ["1001", "1002", "1003"]  # the station's order at first
    t.set_walk_order("S1", ["1003", "1001", "1002"])
    assert numbers(rig) == ["1003", "1001", "1002"]
    # at the station a customer joins S1, first in the station's own order
    rig.station_rows("UPDATE customers SET segment = 'S1', seq_in_segment = 0 WHERE cust = '2001'")  # autocommit
    t.download_route("S1")
    assert numbers(rig) == ["1003", "1001", "1002", "2001"]
    # a reordering later names the newcomer too; another download keeps it
    t.set_walk_order("S1", ["2001", "1003", "1001", "1002"])
    t.download_route("S1")
    assert numbers(rig) == ["2001", "1003", "1001", "1002"]


def test_a_skipped_door_is_visited_not_read(rig):
    t = rig.terminal
    t.save_reading(t.find_customer("1002"), None, abnormal=Abnormal(AbnormalCode.DOOR_LOCKED))
    assert t.visits_today() == {"1002": "skipped"}
    assert t.read_today() == {"1002"}  # the route's visited set counts it


def test_a_premise_note_edited_here_reaches_the_station_once_and_comes_back_with_the_route(rig):
    import datetime as dt

    from offline_queue.journal import EntryState
    from terminal_app.errors import BusinessRuleError

    t = rig.terminal
    assert t.premise_note("1001") == ""
    rig.offline()
    txn = t.edit_premise_note("1001", "  狗凶，先敲门；表在后院  ")
    assert t.premise_note("1001") == "狗凶，先敲门；表在后院"  # trimmed, shown at once, offline
    t.sync_now()
    assert rig.journal.get(txn).state is not EntryState.APPLIED  # waits for the link
    rig.online()
    t.sync_now()
    t.sync_now()  # a second drain sends nothing again
    assert rig.journal.get(txn).state is EntryState.APPLIED
    assert rig.station_rows("SELECT cust, text, txn FROM premise_notes") == [("1001", "狗凶，先敲门；表在后院", txn)]
    # the office writes a newer note at the station: the next download shows it
    later = (rig.clock.now() + dt.timedelta(hours=1)).isoformat()
    rig.station_rows("UPDATE premise_notes SET text = '钥匙在邻居家', at = ?, terminal = '' WHERE cust = '1001'", later)
    t.download_route("S1")
    assert t.premise_note("1001") == "钥匙在邻居家"
    # an older edit arriving late does not overwrite the newer note at the station
    rig.clock.advance(dt.timedelta(minutes=10))  # still before the office's note
    t.edit_premise_note("1001", "旧的")
    t.sync_now()
    assert rig.station_rows("SELECT text FROM premise_notes") == [("钥匙在邻居家",)]
    with pytest.raises(BusinessRuleError):
        t.edit_premise_note("1001", "x" * 201)
    with pytest.raises(BusinessRuleError):
        t.edit_premise_note("9999", "无此户")
