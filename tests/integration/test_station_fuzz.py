"""Any bytes at the station's port: it answers only authenticated requests, never changes the
ledger for anything else, and keeps serving (hypothesis: random streams and one-byte mutations
of a valid frame)."""

from __future__ import annotations

import datetime as dt
import socket
from contextlib import closing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw_mocks.station import ledger
from hw_mocks.station.provisioning import TerminalKey
from hw_mocks.station.server import StationServer
from terminal_app.errors import ConfigurationError
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import Suite, decode_frame, open_frame, seal
from terminal_app.timeutil import SHANGHAI, FixedClock, iso
from tests.rigs.station import load_tiny, snapshot

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)
KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
TERMINALS = {"00000001": TerminalKey("00000001", 1, KEY)}


@pytest.fixture
def station(tmp_path):
    db = tmp_path / "fuzz.sqlite"
    with closing(ledger.connect(db)) as conn:
        load_tiny(conn, fillers=0)
    with StationServer(db, TERMINALS, clock=FixedClock(at=NOW), idle_timeout=5) as srv:
        yield srv, db


def _payment(seq: int) -> bytes:
    return seal(KEY, Suite.TDES, "00000001", seq, MsgType.PAYMENT,
                {"txn": f"00000001-{seq}", "cust": "1001", "amount": 100, "method": "cash", "at": iso(NOW)})


def _send(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the station may close as soon as it sees a bad byte
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except ConnectionResetError:
            pass
        return out


GOOD = _payment(1000)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(
    st.binary(max_size=300),
    st.builds(lambda tail: b"GT\x02\x01\x00\x00" + tail, st.binary(max_size=300)),
    st.builds(lambda tail: b"GT\x01\x01\x00\x00" + tail, st.binary(max_size=300)),  # retired version 01
    st.builds(lambda i, x: GOOD[:i % len(GOOD)] + bytes([GOOD[i % len(GOOD)] ^ x]) + GOOD[i % len(GOOD) + 1:],
              st.integers(0, 10_000), st.integers(1, 255)),
    st.builds(lambda n: GOOD[:n % len(GOOD)], st.integers(0, 10_000)),
))
def test_no_input_but_an_authentic_request_changes_the_ledger(station, data):
    srv, db = station
    before = snapshot(db)
    assert _send(srv.port, data) == b""
    assert snapshot(db) == before


def test_station_keeps_serving_after_garbage(station):
    srv, db = station
    for junk in (b"\xff" * 100, GOOD[:30], b"GT\x02\x09", b"GT\x01\x02"):
        _send(srv.port, junk)
    answer = decode_frame(_send(srv.port, _payment(5)))
    assert open_frame(KEY, answer)["ok"] is True


def test_port_in_use_is_a_clear_error(station):
    srv, db = station
    with pytest.raises(ConfigurationError, match="cannot listen"):
        StationServer(db, TERMINALS, port=srv.port).start()
