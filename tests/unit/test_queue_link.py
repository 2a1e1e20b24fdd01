"""The seam between the queue and the station: offline_queue.link, which the station client satisfies."""

from __future__ import annotations

import inspect

from offline_queue import link
from terminal_app.station import client
from terminal_app.station.messages import MsgType


def test_the_queues_txn_status_is_the_stations():
    assert link.TXN_STATUS == MsgType.TXN_STATUS


def test_the_station_client_speaks_the_queues_types():
    assert client.Request is link.Request and client.Result is link.Result and client.Outcome is link.Outcome
    want = inspect.signature(link.Link.exchange)
    got = inspect.signature(client.StationClient.exchange)
    assert list(got.parameters) == list(want.parameters)
