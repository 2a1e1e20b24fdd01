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
