"""CRASH TEST (issue 18): killed while a photo uploads → the station ends with exactly one complete,
decodable photo per reading photographed, nothing lost.

A child process (this file run as a script) takes readings (READINGS_UPLOAD journaled) and their
photos (photo.compress JPEGs of a mock meter display, journaled as PHOTO_UPLOAD chunks in one
transaction — terminal_app.services.photo's chunk_bodies and Journal.capture_group, as
attach_photo does) and syncs them with the production journal, sync engine (its photo lane,
unpaced), StationClient and SocketTransport to the reference station over loopback TCP.  The
parent SIGKILLs it at random moments (0–60 ms after its first capture, or after start-up so the
recovery drain dies too) and starts it again; besides, the child exits hard at the sync engine's
points (in_flight, exchanged, settled) and right after a reading's capture, before its photo is
journaled — the first runs once each for sure, then with p = 3 %.  A reading left without its
photo by such a crash is photographed on the next start (as the operator, shown the reading, would).

Verdict: the journal holds N readings, each with exactly one photo's chunks, all applied; the
station holds the N readings once each and exactly one photo per reading, byte-identical to the
JPEG of that reading, its sha256 right and decodable; no chunk stored twice.

No time budget; the guard against a hang is progress (STALL_S without a capture or a settlement).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import signal
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import subprocess  # noqa: E402

from tests.integration.test_crash_journal import STALL_S  # noqa: E402
from tests.integration.test_crash_journal import Run as _JournalRun  # noqa: E402

TID = "30000018"
KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
N = int(os.environ.get("CRASH_PHOTO_N", "12"))
POINTS = ("photo_pending", "in_flight", "exchanged", "settled")


def jpeg_of(k: int) -> bytes:
    """Reading k's photo: a mock meter display showing k (deterministic: the parent recomputes it)."""
    from PIL import Image, ImageDraw

    from drivers.scanner.photo import compress

    img = Image.new("RGB", (960, 720), (40, 60, 40))
    d = ImageDraw.Draw(img)
    for y in range(0, 720, 6):
        d.line([(0, y), (960, (y * (29 + k)) % 720)], fill=((y * 13) % 255, (y * 7 + k) % 255, 90), width=3)
    d.rectangle([150, 260, 810, 460], fill=(150, 190, 150))
    d.text((200, 330), f"{k:05d}.00", fill=(0, 0, 0))
    return compress(img)


class Run(_JournalRun):
    """test_crash_journal's child runner (its line reading and kill), starting this file's child."""

    def __init__(self, journal: Path, port: int, seed: int, p: float, force: str | None, n: int) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--child", "--journal", str(journal), "--port", str(port),
             "--seed", str(seed), "--p", str(p), *(["--force", force] if force else []), "--n", str(n)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env)
        self._buf = b""
        self.lines: list[str] = []
        self._finished: tuple[int, str] | None = None
        self._seen = 0


def child(args: argparse.Namespace) -> int:
    from offline_queue.journal import EntryState, Journal
    from offline_queue.sync import PHOTO_KIND, SyncEngine
    from terminal_app.services.photo import chunk_bodies
    from terminal_app.station.client import StationClient
    from terminal_app.station.messages import MsgType
    from terminal_app.station.protocol import Suite, encode_body_fast
    from terminal_app.station.transport import SocketTransport
    from terminal_app.timeutil import iso, now

    rng = random.Random(args.seed)
    out = sys.stdout.fileno()

    def say(line: str) -> None:
        os.write(out, (line + "\n").encode())

    def fault(point: str) -> None:
        if point == args.force or rng.random() < args.p:
            say(f"X {point}")
            os._exit(77)

    journal = Journal.open(args.journal, TID)
    client = StationClient(terminal_id=TID, key=KEY, suite=Suite.AES_GCM, transport=SocketTransport(),
                           seq=journal.seq_counter(), host="127.0.0.1", port=args.port,
                           connect_timeout=5.0, response_timeout=5.0)
    engine = SyncEngine(journal, client, fault_hook=fault, photo_duty=1.0)

    def photograph(reading_txn: str, k: int) -> None:
        journal.capture_group(PHOTO_KIND, MsgType.PHOTO_UPLOAD,
                              [encode_body_fast(b) for b in chunk_bodies(reading_txn, jpeg_of(k))],
                              depends_on=reading_txn)
        say(f"P {reading_txn} {k}")

    entries = journal.entries()
    readings = [e for e in entries if e.kind == "reading"]
    photographed = {e.depends_on for e in entries if e.kind == PHOTO_KIND}
    for k, e in enumerate(readings, 1):
        if e.txn not in photographed:  # a crash between the reading and its photo: take it now
            photograph(e.txn, k)
    # photos the previous run left part-uploaded (some chunks applied, some not): a kill mid-photo
    by_photo: dict[str | None, list[bool]] = {}
    for e in entries:
        if e.kind == PHOTO_KIND:
            by_photo.setdefault(e.depends_on, []).append(e.state is EntryState.APPLIED)
    say(f"R {sum(1 for done in by_photo.values() if any(done) and not all(done))}")
    report = engine.sync_now()
    say(f"S {report.applied}")
    count = len(readings)
    while True:
        if count >= args.n:
            report = engine.sync_now()
            if journal.status().depth == 0:
                journal.close()
                say("D")
                return 0
            if not report.ok:
                say(f"E {report.error}")
                return 3
            continue
        k = count + 1
        item = {"cust": "1001", "meter": "A1001", "value": f"{1300 + k}.00", "at": iso(now()), "source": "ir"}
        e = journal.capture("reading", MsgType.READINGS_UPLOAD, encode_body_fast({"readings": [item]}))
        count = k
        say(f"C {e.txn} {k}")
        fault("photo_pending")
        photograph(e.txn, k)
        engine.notify_captured()
        report = engine.sync_now()
        say(f"S {report.applied}")
        if not report.ok:
            say(f"E {report.error}")
            return 3


def test_crash_photo_every_reading_has_exactly_one_whole_photo(tmp_path):
    from PIL import Image

    from hw_mocks.station import ledger
    from hw_mocks.station.provisioning import TerminalKey
    from hw_mocks.station.server import StationServer
    from offline_queue.journal import EntryState, Journal
    from tests.rigs.station import load_tiny

    db = tmp_path / "station.sqlite"
    conn = ledger.connect(db)
    try:
        load_tiny(conn)
    finally:
        conn.close()
    journal_path = tmp_path / "journal.sqlite"
    rng = random.Random(int(os.environ.get("CRASH_SEED", "20261207")))
    stats: Counter[str] = Counter()
    last_progress = time.monotonic()
    with StationServer(db, {TID: TerminalKey(TID, 2, KEY)}) as station:
        done = False
        while not done:
            assert time.monotonic() - last_progress < STALL_S, f"no progress for {STALL_S:g} s: {dict(stats)}"
            force = POINTS[stats["runs"]] if stats["runs"] < len(POINTS) else None
            run = Run(journal_path, station.port, rng.randrange(2**32), p=0.03, force=force, n=N)
            try:
                run.expect("R")
                stats["runs"] += 1
                if int(next(line for line in run.lines if line.startswith("R")).split()[1]):
                    stats["restarts_mid_photo"] += 1
                if force is not None:
                    run.expect("X")
                else:
                    if rng.random() < 0.75:
                        run.read_until(time.monotonic() + STALL_S, want=("C", "D", "X"))
                    if "D" not in run.lines and not run.read_until(time.monotonic() + rng.uniform(0.0, 0.06),
                                                                   want="D"):
                        run.kill()
            finally:
                if "D" not in run.lines:
                    run.kill()
                rc, err = run.finish()
            for line in run.lines:
                kind, *rest = line.split(" ", 1)
                if kind in ("C", "P") or (kind == "S" and rest[0] != "0"):
                    last_progress = time.monotonic()
                if kind == "X":
                    stats["injected_exit_" + rest[0]] += 1
                elif kind == "P":
                    stats["photos_journaled"] += 1
                elif kind == "E":
                    raise AssertionError(f"child sync failed: {rest[0]}\n{err}")
            if rc == 0:
                done = "D" in run.lines
            elif rc == -signal.SIGKILL:
                stats["sigkills"] += 1
            elif rc != 77:
                raise AssertionError(f"child died with {rc}:\n{err}")

    with Journal.open(journal_path, TID) as j:
        entries = j.entries()
    assert all(e.state is EntryState.APPLIED for e in entries), Counter(e.state for e in entries)
    readings = [e for e in entries if e.kind == "reading"]
    assert len(readings) == N
    for r in readings:  # exactly one photo's chunks per reading in the journal
        chunks = [e.body_dict() for e in entries if e.depends_on == r.txn]
        assert len({c["sha256"] for c in chunks}) == 1 and sorted(c["index"] for c in chunks) == \
            list(range(chunks[0]["count"])), r.txn
    with sqlite3.connect(db) as c:
        station_readings = c.execute("SELECT txn, value FROM readings WHERE terminal = ? ORDER BY value",
                                     (TID,)).fetchall()
        photos = {reading: (bytes(jpeg), digest) for reading, jpeg, digest in
                  c.execute("SELECT reading, jpeg, sha256 FROM photos WHERE terminal = ?", (TID,))}
        chunk_rows = c.execute("SELECT count(*) FROM photo_chunks").fetchone()[0]
    assert [v for _, v in station_readings] == [f"{1300 + k}.00" for k in range(1, N + 1)]  # each once
    assert set(photos) == {r.txn for r in readings}  # one photo per reading, none lost
    for k, r in enumerate(readings, 1):
        jpeg, digest = photos[r.txn]
        assert jpeg == jpeg_of(k) and hashlib.sha256(jpeg).hexdigest() == digest
        with Image.open(io.BytesIO(jpeg)) as img:
            img.load()
    assert chunk_rows == sum(1 for e in entries if e.kind == "photo")  # no chunk stored twice
    print(f"\ncrash test (photos): {N} readings, {N} photos, 0 lost, 0 duplicated; {dict(stats)}")
    assert stats["restarts_mid_photo"] >= 1, dict(stats)  # it was killed while a photo uploaded
    assert stats["sigkills"] >= 1 and all(stats["injected_exit_" + p] >= 1 for p in POINTS), dict(stats)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--journal")
    ap.add_argument("--port", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--p", type=float, default=0.0)
    ap.add_argument("--force", choices=POINTS)
    ap.add_argument("--n", type=int, default=N)
    sys.exit(child(ap.parse_args()))
