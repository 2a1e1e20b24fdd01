"""A reading's photo (issue 18 point 2): journaled in chunks with the reading, sent in the sync
engine's own lane after money and readings, stored once, assembled, hash-checked and decodable at
the real station; resumable (a restart sends only what the station lacks)."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from drivers.scanner.photo import PHOTO_BUDGET, compress
from offline_queue.journal import EntryState
from offline_queue.sync import PHOTO_KIND, SyncEngine
from terminal_app.domain.reading import ReadingSource
from terminal_app.errors import BusinessRuleError
from terminal_app.services import photo as photo_service
from terminal_app.station.messages import MsgType
from tests.integration.test_usecase_rig import Rig


def meter_display(text: str = "01300.00") -> bytes:
    """A still of a meter's display: a busy enough picture for several chunks."""
    img = Image.new("RGB", (1280, 960), (40, 60, 40))
    d = ImageDraw.Draw(img)
    for y in range(0, 960, 7):  # texture, so the JPEG is tens of KB before compression
        d.line([(0, y), (1280, (y * 37) % 960)], fill=((y * 13) % 255, (y * 7) % 255, (y * 3) % 255), width=3)
    d.rectangle([200, 350, 1080, 610], fill=(150, 190, 150))
    d.text((260, 420), text, fill=(0, 0, 0))
    return compress(img)


@pytest.fixture
def rig(tmp_path):
    with Rig(tmp_path) as r:
        yield r


def _read(rig, cust: str, value: str) -> str:
    t = rig.terminal
    c = t.find_customer(cust)
    res = t.save_reading(c, t.check_reading(c, Decimal(value)), source=ReadingSource.IR)
    assert res.txn is not None
    return res.txn


def test_a_photo_reaches_the_station_whole_decodable_and_listed_with_its_reading(rig):
    rig.terminal.download_route("S1")
    jpeg = meter_display()
    assert 3 * photo_service.CHUNK_BYTES < len(jpeg) <= PHOTO_BUDGET  # several chunks, within budget
    reading_txn = _read(rig, "1001", "1300.00")
    txns = rig.terminal.attach_photo(reading_txn, jpeg)
    rig.terminal.sync.photo_duty = 1.0  # unpaced: the whole photo in this one drain
    assert len(txns) == -(-len(jpeg) // photo_service.CHUNK_BYTES)
    status = rig.terminal.upload_readings()
    assert (status.waiting, status.refused) == (0, 0)
    assert all(rig.journal.get(t).state is EntryState.APPLIED for t in txns)
    rows = rig.station_rows("SELECT r.cust, r.value, p.size, p.sha256, p.jpeg FROM readings r"
                            " JOIN photos p ON p.reading = r.txn")
    assert len(rows) == 1
    cust, value, size, digest, stored = rows[0]
    assert (cust, value, size) == ("1001", "1300.00", len(jpeg))
    assert bytes(stored) == jpeg and digest == hashlib.sha256(jpeg).hexdigest()
    with Image.open(io.BytesIO(bytes(stored))) as img:
        img.load()
        assert img.format == "JPEG" and max(img.size) <= 640
    # the last chunk's answer lists every chunk the station holds
    assert rig.journal.get(txns[-1]).reply["have"] == list(range(len(txns)))
    # the station's CLI lists the photo with its reading and serves the JPEG as stored
    out = subprocess.run([sys.executable, "-m", "hw_mocks.cli", "station", "photos", "--db", str(rig.db),
                          "--out", str(rig.tmp / "photos")], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    listed = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(i["reading"], i["cust"], i["value"], i["size"]) for i in listed] == \
        [(reading_txn, "1001", "1300.00", len(jpeg))]
    assert Path(listed[0]["file"]).read_bytes() == jpeg


def test_photo_chunks_go_after_money_and_readings_one_per_exchange(rig):
    t = rig.terminal
    t.download_route("S1")
    reading_txn = _read(rig, "1001", "1300.00")
    chunks = t.attach_photo(reading_txn, meter_display())
    later_reading = _read(rig, "1002", "95.10")  # captured after the photo: still goes first
    sent: list[list[int]] = []

    class Recording:
        def exchange(self, requests):
            sent.append([r.msg_type for r in requests])
            return rig.client.exchange(requests)

    engine = SyncEngine(rig.journal, Recording(), photo_duty=1.0)
    try:
        report = engine.sync_now()
    finally:
        engine.close()
    assert report.ok and report.applied == 2 + len(chunks)
    assert sent[0] == [MsgType.READINGS_UPLOAD, MsgType.READINGS_UPLOAD]
    assert sent[1:] == [[MsgType.PHOTO_UPLOAD]] * len(chunks)
    assert rig.journal.get(later_reading).state is EntryState.APPLIED


def test_a_restart_sends_only_the_chunks_the_station_lacks(rig):
    t = rig.terminal
    t.download_route("S1")
    reading_txn = _read(rig, "1001", "1300.00")
    chunks = t.attach_photo(reading_txn, meter_display())
    calls = 0

    class DropsAfterTwoChunks:
        def exchange(self, requests):
            nonlocal calls
            calls += 1
            if calls == 4:  # reading, chunk 0, chunk 1 went through; the link dies on chunk 2
                rig.offline()
            return rig.client.exchange(requests)

    engine = SyncEngine(rig.journal, DropsAfterTwoChunks(), photo_duty=1.0)
    try:
        assert not engine.sync_now().ok
    finally:
        engine.close()
    assert [rig.journal.get(c).state for c in chunks[:2]] == [EntryState.APPLIED] * 2
    assert rig.station_rows("SELECT count(*) FROM photo_chunks")[0][0] == 2
    assert rig.station_rows("SELECT count(*) FROM photos")[0][0] == 0
    rig.online()
    asked: list[int] = []

    class Counting:
        def exchange(self, requests):
            asked.extend(r.body.get("index", -1) for r in requests if r.msg_type == MsgType.PHOTO_UPLOAD)
            return rig.client.exchange(requests)

    engine = SyncEngine(rig.journal, Counting(), photo_duty=1.0)
    try:
        assert engine.sync_now().ok
    finally:
        engine.close()
    assert asked == list(range(2, len(chunks)))  # only what the station lacked
    assert rig.station_rows("SELECT count(*) FROM photos")[0][0] == 1


def test_the_terminal_refuses_what_is_not_a_photo_of_a_journaled_reading(rig):
    rig.terminal.download_route("S1")
    reading_txn = _read(rig, "1001", "1300.00")
    with pytest.raises(BusinessRuleError):
        rig.terminal.attach_photo(reading_txn, b"not a jpeg")
    with pytest.raises(BusinessRuleError):
        rig.terminal.attach_photo(reading_txn, b"\xff\xd8" + bytes(PHOTO_BUDGET))
    with pytest.raises(BusinessRuleError):
        rig.terminal.attach_photo(rig.journal.terminal_id + "-999999", meter_display())
    assert not [e for e in rig.journal.entries() if e.kind == PHOTO_KIND]


def test_the_photo_lane_is_paced_and_a_capture_does_not_wait_for_it(rig):
    t = rig.terminal
    t.download_route("S1")
    reading_txn = _read(rig, "1001", "1300.00")
    chunks = t.attach_photo(reading_txn, meter_display())
    now = [0.0]
    sent: list[list[int]] = []

    class OneSecondPerExchange:
        def exchange(self, requests):
            sent.append([r.msg_type for r in requests])
            now[0] += 1.0
            return rig.client.exchange(requests)

    engine = SyncEngine(rig.journal, OneSecondPerExchange(), monotonic=lambda: now[0], photo_duty=0.25)
    try:
        report = engine.sync_now()  # the reading, then one chunk (1 s): the next chunk waits 3 s
        assert sent == [[MsgType.READINGS_UPLOAD], [MsgType.PHOTO_UPLOAD]]
        assert report.ok and report.photo_due == 5.0 and engine.next_attempt_in() == 3.0
        assert engine.poll() is None  # not due yet
        later = _read(rig, "1002", "95.10")
        engine.notify_captured()
        assert engine.next_attempt_in() == 0.0  # a capture goes at once, past the paused lane
        engine.poll()
        assert sent[2:] == [[MsgType.READINGS_UPLOAD]] and rig.journal.get(later).state is EntryState.APPLIED
        now[0] = 5.0
        engine.poll()
        assert sent[3:] == [[MsgType.PHOTO_UPLOAD]]
        assert [rig.journal.get(c).state for c in chunks[:2]] == [EntryState.APPLIED] * 2
    finally:
        engine.close()


def test_photo_chunks_are_not_reported_as_unsynced_money(rig):
    t = rig.terminal
    t.download_route("S1")
    reading_txn = _read(rig, "1001", "1300.00")
    t.attach_photo(reading_txn, meter_display())
    report = t.unsynced_report([])
    assert report.body["unsynced"]["count"] == 1  # the reading, not its photo's chunks
