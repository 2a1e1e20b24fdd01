"""The station's transport under GT/1 version 02 (station-protocol.md "Transport", "Audit"):
deadlines no trickle can extend, unauthenticated slots (the oldest goes, a newcomer is never
refused), connections released as soon as the terminal has its answers, the bounded audit of
frames that do not authenticate, and fresh salts on everything the station sends.

The deadlines are configured short here (the station takes them as parameters); each test
drives the connection slower than its deadline and checks what the station did — never how long
it took.  Every wait is for a condition, bounded by a generous guard against a hang.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import select
import socket
import sqlite3
import time
from contextlib import closing

import pytest

from hw_mocks.station import audit, ledger
from hw_mocks.station.provisioning import TerminalKey
from hw_mocks.station.server import StationServer
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import MAX_BODY, Suite, decode_frame, open_frame, seal
from terminal_app.timeutil import SHANGHAI, FixedClock, iso
from tests.rigs.station import snapshot, tiny_ledger

NOW = dt.datetime(2026, 11, 24, 10, 0, 30, tzinfo=SHANGHAI)
K1 = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
K2 = bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f")
TERMINALS = {"00000001": TerminalKey("00000001", 2, K1), "00000002": TerminalKey("00000002", 1, K2)}
GUARD = 30.0  # seconds: only a hang would reach it


@pytest.fixture
def db(tmp_path):
    return tiny_ledger(tmp_path / "station.sqlite")


def until(cond, what: str, guard: float = GUARD) -> None:
    end = time.monotonic() + guard
    while not cond():
        assert time.monotonic() < end, f"still waiting for {what}"
        time.sleep(0.01)


def payment(seq: int, tid: str = "00000001", txn: int = 1, amount: int = 1000) -> bytes:
    t = TERMINALS[tid]
    return seal(t.key, Suite(t.suite), tid, seq, MsgType.PAYMENT,
                {"txn": f"{tid}-{txn}", "cust": "1001", "amount": amount, "method": "cash", "at": iso(NOW)})


def hello(seq: int, tid: str = "00000001") -> bytes:
    t = TERMINALS[tid]
    return seal(t.key, Suite(t.suite), tid, seq, MsgType.HELLO, {"op": "0007", "app": "0.2.0"})


def closed_by_peer(s: socket.socket, timeout: float = GUARD) -> bool:
    """True once the station has closed (EOF or reset); False if it is still open after ``timeout``."""
    r, _, _ = select.select([s], [], [], timeout)
    if not r:
        return False
    try:
        return s.recv(65536) == b""
    except ConnectionResetError:
        return True


def drip(s: socket.socket, data: bytes, every: float) -> int:
    """Send ``data`` one byte at a time until the station closes; how many bytes went out."""
    for i in range(len(data)):
        try:
            s.sendall(data[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            return i
        if closed_by_peer(s, every):
            return i + 1
    return len(data)


def answers(s: socket.socket, n: int) -> list:
    """Read ``n`` whole answer frames."""
    from terminal_app.station.protocol import FrameDecoder

    dec, out = FrameDecoder(), []
    s.settimeout(GUARD)
    while len(out) < n:
        chunk = s.recv(65536)
        assert chunk, f"the station closed after {len(out)} of {n} answers"
        out += dec.feed(chunk)
    return out


def last_audit(db) -> tuple:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT note, raw, size, sha256, terminal FROM audit ORDER BY id DESC LIMIT 1").fetchone()


# --------------------------------------------------------------------------- deadlines


def authenticated(port: int) -> socket.socket:
    """A connection whose first frame (a HELLO) authenticated: only the per-frame deadlines apply."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(hello(1))
    assert open_frame(K1, answers(s, 1)[0])["ok"]
    return s


def test_a_trickled_first_frame_cannot_extend_the_deadline_counted_from_acceptance(db):
    with StationServer(db, TERMINALS, clock=FixedClock(at=NOW), header_timeout=0.5, idle_timeout=30) as st, \
            socket.create_connection(("127.0.0.1", st.port)) as s:
        frame = payment(5)
        sent = drip(s, frame, every=0.1)  # a byte every 0.1 s
        assert sent < 30
        note, raw, size, _d, _t = last_audit(db)
        assert note.startswith("truncated: no authenticated frame within 0.5 s of connecting") and raw == frame[:size]


def test_a_trickled_header_cannot_extend_the_header_deadline(db):
    with StationServer(db, TERMINALS, clock=FixedClock(at=NOW), header_timeout=0.5, idle_timeout=30) as st, \
            closing(authenticated(st.port)) as s:
        frame = payment(5)
        sent = drip(s, frame[:30], every=0.1)  # a byte every 0.1 s: 3 s for the header
        assert sent < 30, "the station waited for a header trickled over six times its deadline"
        note, raw, size, digest, _ = last_audit(db)
        assert note.startswith("truncated: header not complete") and raw == frame[:size]
        assert digest == hashlib.sha256(frame[:size]).hexdigest()


def test_a_trickled_body_cannot_extend_the_frame_deadline(db):
    # deadline 0.5 s + N ÷ 500 s from the frame's first byte; the body trickles a byte per 0.1 s
    with StationServer(db, TERMINALS, clock=FixedClock(at=NOW), header_timeout=0.5, idle_timeout=30) as st, \
            closing(authenticated(st.port)) as s:
        frame = payment(5)
        s.sendall(frame[:30])  # the whole header at once: N is known, the terminal too
        sent = drip(s, frame[30:], every=0.1)
        assert sent < len(frame) - 30
        note, _raw, size, _d, terminal = last_audit(db)
        assert note.startswith("truncated: frame not complete") and terminal == "00000001"
        # what the station read by its deadline: every byte sent but, on a busy machine, the one
        # sent as the deadline passed (it arrives after the station stopped reading)
        assert 30 + sent - 1 <= size <= 30 + sent, (size, sent)
        assert snapshot(db)["payments"] == []


def test_a_silent_connection_is_closed_at_the_first_frame_deadline_not_the_idle_one(db):
    with StationServer(db, TERMINALS, clock=FixedClock(at=NOW), header_timeout=0.3, idle_timeout=600) as st, \
            socket.create_connection(("127.0.0.1", st.port)) as s:
        assert closed_by_peer(s), "a connection that never sent a frame was kept"  # (idle would be 600 s)


def test_an_authenticated_connection_is_not_held_to_the_first_frame_deadline(db):
    with StationServer(db, TERMINALS, clock=FixedClock(at=NOW), header_timeout=0.3, idle_timeout=600) as st, \
            socket.create_connection(("127.0.0.1", st.port)) as s:
        s.sendall(hello(1))
        assert open_frame(K1, answers(s, 1)[0])["ok"]
        # idle between frames is governed by the idle timeout (600 s): a second request much later
        # than the first-frame deadline is still answered on the same connection
        time.sleep(1.0)  # > 3 × the first-frame deadline; not a synchronisation
        s.sendall(hello(2))
        assert open_frame(K1, answers(s, 1)[0])["ok"]


# --------------------------------------------------------------------------- slots


def test_the_oldest_unauthenticated_connection_makes_room_and_no_newcomer_is_refused(db):
    # deadlines far away: only the slots decide who is closed here
    with StationServer(db, TERMINALS, clock=FixedClock(at=NOW), unauth_slots=4, idle_timeout=600,
                       header_timeout=600) as st:
        idle = [socket.create_connection(("127.0.0.1", st.port)) for _ in range(4)]
        try:
            until(lambda: st.connections == 4, "4 connections accepted")
            kept = socket.create_connection(("127.0.0.1", st.port))  # the 5th: the oldest makes room
            until(lambda: st.connections == 5 and st.evicted == 1, "the 5th connection")
            assert closed_by_peer(idle[0]), "the oldest idle connection was not closed"
            # an authenticated connection holds no unauthenticated slot: it survives newcomers
            kept.sendall(hello(1))
            assert open_frame(K1, answers(kept, 1)[0])["ok"]
            idle.append(socket.create_connection(("127.0.0.1", st.port)))  # takes the slot kept freed
            until(lambda: st.connections == 6, "the 6th connection")
            assert st.evicted == 1
            for n in range(1, 4):  # from now on each newcomer closes the oldest of the rest, in order
                idle.append(socket.create_connection(("127.0.0.1", st.port)))
                assert closed_by_peer(idle[n]), f"idle connection {n} (the oldest) was not closed"
            assert st.evicted == 4
            # a terminal arriving now is admitted and served, and the authenticated one still is
            with socket.create_connection(("127.0.0.1", st.port)) as s:
                s.sendall(hello(2))
                assert open_frame(K1, answers(s, 1)[0])["ok"]
            kept.sendall(hello(3))
            assert open_frame(K1, answers(kept, 1)[0])["ok"]
            kept.close()
            assert st.evicted == 5 and st.connections == 10  # every connection was accepted
        finally:
            for s in idle:
                s.close()


def test_the_connection_is_released_as_soon_as_the_terminal_has_its_answers_and_closes(db):
    with StationServer(db, TERMINALS, clock=FixedClock(at=NOW), idle_timeout=600) as st:
        with socket.create_connection(("127.0.0.1", st.port)) as s:
            s.sendall(hello(1) + payment(2) + hello(3))  # pipelined
            got = answers(s, 3)
            assert [f.seq for f in got] == [1, 2, 3]
            s.shutdown(socket.SHUT_WR)
            assert closed_by_peer(s)
        until(lambda: not st._conns, "the station to let go of the connection")  # long before 600 s


# --------------------------------------------------------------------------- salts


@pytest.mark.parametrize("tid", ["00000001", "00000002"])  # suite 02 and suite 01
def test_no_two_frames_the_station_sends_share_a_salt(db, tid):
    """The review's attack on version 01: a replayed request answered E_REPLAY under the key and
    nonce of the original answer.  Replays, repeats of a txn and errors each get a new salt."""
    key = TERMINALS[tid].key

    def exchange(frame: bytes) -> dict:
        with socket.create_connection(("127.0.0.1", st.port)) as s:
            s.sendall(frame)
            (f,) = answers(s, 1)
        return open_frame(key, f)

    with StationServer(db, TERMINALS, clock=FixedClock(at=NOW)) as st:
        original = payment(9, tid)
        first = exchange(original)
        assert first["ok"] is True
        for _ in range(3):  # the captured request, replayed
            assert exchange(original)["code"] == "E_REPLAY"
        for seq in (10, 11):  # the same txn resent (new seqs): its stored response, twice
            assert exchange(payment(seq, tid)) == first
        assert exchange(payment(12, tid, txn=1, amount=5))["code"] == "E_TXN_CONFLICT"
    with closing(sqlite3.connect(db)) as conn:
        sent = [bytes(r[0]) for r in conn.execute("SELECT raw FROM audit WHERE direction = 'out' AND terminal = ?",
                                                  (tid,))]
        received = [bytes(r[0]) for r in conn.execute("SELECT raw FROM audit WHERE direction = 'in' AND terminal = ?",
                                                      (tid,))]
    frames = [decode_frame(f) for f in sent]
    assert len(frames) == 7
    salts = [f.salt for f in frames]
    assert len(set(salts)) == len(salts), "two frames the station sent share a salt"
    # …so no (key, nonce) pair or suite 01 session key repeats — not even between the answers to
    # a request and to its replays, whose seq and body are the same
    assert len({(f.seq, f.salt) for f in frames}) == 7
    replay_answers = [f for f in frames if f.seq == 9]
    assert len(replay_answers) == 4 and len({f.ciphertext for f in replay_answers}) == 4
    # an answer never copies the salt of the request it answers
    assert not set(salts) & {decode_frame(f).salt for f in received}


# --------------------------------------------------------------------------- the bounded audit


def _bad_mac(n: int, size: int = 200) -> bytes:
    frame = bytearray(seal(K1, Suite.AES_GCM, "00000001", 1000 + n, MsgType.READINGS_UPLOAD,
                           {"txn": f"00000001-{n}", "pad": "x" * size}, deflate=False))
    frame[-1] ^= 1
    return bytes(frame)


def _send_from(address: str, port: int, data: bytes) -> None:
    with socket.socket() as s:
        s.bind((address, 0))
        s.connect(("127.0.0.1", port))
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the station may close first
        closed_by_peer(s)


def _refused_rows(db) -> list[tuple]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT peer, note, length(raw), size FROM audit WHERE body IS NULL AND direction = 'in'"
                            " ORDER BY id").fetchall()


def test_refused_frames_are_rate_limited_with_one_counter_row_per_minute(db):
    clock = FixedClock(at=NOW)
    with StationServer(db, TERMINALS, clock=clock) as st:
        for n in range(15):
            _send_from("127.0.0.1", st.port, _bad_mac(n))
        until(lambda: st.refused == 15, "15 refusals")
        # 12 peer addresses × 10 frames: the 100-a-minute limit in all
        for peer in range(2, 14):
            for n in range(10):
                _send_from(f"127.0.0.{peer}", st.port, _bad_mac(n))
        until(lambda: st.refused == 135, "135 refusals")
        clock.advance(dt.timedelta(minutes=1))  # the next minute: its first refusal closes the last one
        _send_from("127.0.0.1", st.port, _bad_mac(99))
        until(lambda: st.refused == 136, "the refusal of the next minute")
    rows = _refused_rows(db)
    first_minute = rows[:-1]
    per_peer: dict[str, int] = {}
    for peer, _note, _len, _size in first_minute:
        if peer != "*":
            per_peer[peer.rsplit(":", 1)[0]] = per_peer.get(peer.rsplit(":", 1)[0], 0) + 1
    assert per_peer["127.0.0.1"] == 10 and max(per_peer.values()) == 10
    assert sum(per_peer.values()) == 100  # 10 + 9 peers × 10, then the in-all limit
    counters = [r for r in rows if r[0] == "*"]
    assert len(counters) == 1 and "dropped: 35 frame(s)" in counters[0][1]
    assert rows[-1][0].startswith("127.0.0.1:") and "MAC/tag" in rows[-1][1]
    assert all(length <= 64 for _p, _n, length, _s in rows)
    with closing(ledger.connect(db)) as conn:
        assert audit.verify(conn).ok  # the chain covers what was kept, counters included


def test_unauthenticated_frames_cannot_fill_the_disk(db):
    """600 frames of 60 KiB that do not authenticate (half naming an unknown terminal, refused
    from the header; half failing their tag, read whole): the station's files grow < 2 MB."""
    def files() -> int:
        return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))

    with StationServer(db, TERMINALS, clock=FixedClock(at=NOW)) as st:
        with socket.create_connection(("127.0.0.1", st.port)) as s:
            s.sendall(hello(1))
            answers(s, 1)
    at_rest = files()  # the station stopped: its ledger file alone (the WAL is checkpointed away)
    with StationServer(db, TERMINALS, clock=FixedClock(at=NOW)) as st:
        in_service = files()  # with its WAL
        big = _bad_mac(0, size=60 * 1024)
        unknown = seal(K1, Suite.AES_GCM, "99999999", 1, MsgType.PAYMENT, {"pad": "y" * (60 * 1024)},
                       deflate=False)
        assert 60 * 1024 <= len(big) <= MAX_BODY + 46 and len(unknown) >= 60 * 1024
        for n in range(600):
            _send_from(f"127.0.0.{2 + n % 50}", st.port, big if n % 2 else unknown)
        until(lambda: st.refused == 600, "600 refusals")
        until(lambda: st.stats["jobs"] >= 100, "the 100 rows kept to be committed")
        grown_in_service = files() - in_service
    grown = files() - at_rest
    print(f"\nstation files grew by {grown} bytes at rest ({grown_in_service} in service, WAL included)"
          " after 600 unauthenticated 60 KiB frames")
    assert grown < 2_000_000 and grown_in_service < 2_000_000
    assert len(_refused_rows(db)) <= 101  # 100 rows and one counter row at the most


# --------------------------------------------------------------------------- group commit


def test_requests_share_a_commit_and_each_answer_follows_it(db):
    with StationServer(db, TERMINALS, clock=FixedClock(at=NOW)) as st, \
            socket.create_connection(("127.0.0.1", st.port)) as s:
        commits = st.stats["commits"]
        s.sendall(b"".join(payment(seq, txn=seq) for seq in range(1, 21)))  # 20 payments, pipelined
        got = answers(s, 20)
        assert all(open_frame(K1, f)["ok"] for f in got)
        assert st.stats["commits"] - commits < 20  # many requests, fewer fsyncs
        assert len(snapshot(db)["payments"]) == 20


def test_no_answer_before_its_commit_is_durable(db, monkeypatch):
    """A commit that fails (disk error): none of its requests is answered — the terminal sees a
    closed connection (outcome unknown) — and TXN_STATUS then truthfully says "unknown"."""
    import sqlite3 as sqlite

    from hw_mocks.station.commit import GroupCommit

    real = GroupCommit._commit_now
    failing = {"left": 1}

    def commit_now(self):
        if failing["left"]:
            failing["left"] -= 1
            self.conn.execute("ROLLBACK")
            raise sqlite.OperationalError("disk I/O error")
        real(self)

    monkeypatch.setattr(GroupCommit, "_commit_now", commit_now)
    before = snapshot(db)
    with StationServer(db, TERMINALS, clock=FixedClock(at=NOW)) as st:
        with socket.create_connection(("127.0.0.1", st.port)) as s:
            s.sendall(payment(1, txn=1))
            assert closed_by_peer(s)  # closed with no answer at all
        assert snapshot(db) == before and st.stats["failed_commits"] == 1
        with socket.create_connection(("127.0.0.1", st.port)) as s:
            s.sendall(seal(K1, Suite.AES_GCM, "00000001", 2, MsgType.TXN_STATUS, {"txns": ["00000001-1"]}))
            (f,) = answers(s, 1)
        assert open_frame(K1, f)["status"] == {"00000001-1": "unknown"}
