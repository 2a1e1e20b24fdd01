"""Benchmark: a payment's round trip while 20 photos wait to upload vs with an empty photo lane.

    .venv/bin/python tests/bench/photo_lane.py [--rounds 16] [--payments 20]

The production pieces, in one process: the reference station (hw_mocks.station, its TCP server on
127.0.0.1, SQLite ledger), the StationClient, the journal and the sync engine run by its
SyncThread, with the HELLO unsynced report behind every batch — as the terminal runs them.  A
payment is journaled as the payment use case does (PAYMENT captured, then ``notify_captured``);
its round trip is from that capture until the journal holds the station's answer (state
applied), waited for on the journal's change signal.

Method (interleaved, paired): ROUNDS rounds; each round runs a block A — PER_BLOCK payments with an
empty photo lane — and a block B — PER_BLOCK payments while 20 reading photos (photo.compress
JPEGs of a mock meter display, ~7 chunks each, new ones each round) wait in the photo lane —, in
the order A B in even rounds and B A in odd ones (ABBA: a drift of the shared machine within a
round cancels).  After each B block the lane is emptied unpaced (photo_duty 1), so each A block
starts with it empty.  The figure is the ratio of the MEDIANS of all B and all A payments of the
interleaved rounds (the median: a payment delayed by another engineer's job on the shared machine
is one outlier, not a shift of the mean; the interleaving: a drift of the machine's load over the
run falls on A and B alike).  Each round's own ratio, median(B) ÷ median(A) of its blocks, is
printed and their median reported too (``median_paired_ratio``): with 20 payments a block it is
the noisier of the two, and shows how much the machine's load moved between blocks.  Payments
arrive at random gaps (0–40 ms, seeded), so they meet the lane at random points of its chunk
cycle.  A B block counts only if photos were still waiting when its last payment was applied
(checked; the run fails otherwise).

The last line is one JSON object:
    {"payment_latency_ratio_with_photos": median(all B) ÷ median(all A), "median_paired_ratio",
     "p90_ratio", "rounds", "payments_per_block", "chunks_during_b", "photo_duty", "baseline_ms"}
Target (issue 18): ratio ≤ 1.10.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]  # (queue.py shadows queue)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw  # noqa: E402

from drivers.scanner.photo import compress  # noqa: E402
from offline_queue.journal import EntryState  # noqa: E402
from offline_queue.sync import PHOTO_KIND, SyncThread  # noqa: E402
from terminal_app.domain.reading import ReadingSource  # noqa: E402
from terminal_app.station.messages import MsgType  # noqa: E402
from terminal_app.station.protocol import encode_body_fast  # noqa: E402
from terminal_app.timeutil import iso  # noqa: E402
from tests.integration.test_usecase_rig import Rig  # noqa: E402

PHOTOS = 20


def display(n: int) -> bytes:
    img = Image.new("RGB", (1280, 960), (40, 60, 40))
    d = ImageDraw.Draw(img)
    for y in range(0, 960, 7):
        d.line([(0, y), (1280, (y * (37 + n)) % 960)], fill=((y * 13) % 255, (y * 7) % 255, (y * 3 + n) % 255),
               width=3)
    d.rectangle([200, 350, 1080, 610], fill=(150, 190, 150))
    d.text((260, 420), f"{n:05d}.00", fill=(0, 0, 0))
    return compress(img)


def photo_chunks_waiting(rig: Rig) -> int:
    return sum(1 for e in rig.journal.open_entries() if e.kind == PHOTO_KIND)


def payments(rig: Rig, count: int, rng: random.Random) -> list[float]:
    """Round trips (s) of ``count`` payments, one after the other, at random gaps."""
    applied = threading.Event()
    gap = threading.Event()  # never set: its wait is the arrival gap
    out = []
    disconnect = rig.journal.changed.connect(lambda _reason: applied.set())
    try:
        for n in range(count):
            gap.wait(rng.uniform(0.0, 0.04))
            applied.clear()
            t0 = time.perf_counter()
            e = rig.journal.capture("payment", MsgType.PAYMENT, encode_body_fast(
                {"cust": "1001", "amount": 100 + n, "method": "cash", "at": iso(rig.clock.now()), "op": "0007"}))
            rig.terminal.sync.notify_captured()
            while True:
                state = rig.journal.get(e.txn).state  # type: ignore[union-attr]
                if state is EntryState.APPLIED:
                    break
                if state is EntryState.REJECTED:
                    raise SystemExit(f"the station refused payment {e.txn}")
                if not applied.wait(30.0):
                    raise SystemExit(f"payment {e.txn} not applied within 30 s")
                applied.clear()
            out.append(time.perf_counter() - t0)
    finally:
        disconnect()
    return out


def p90(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=10)[-1]


def drain(rig: Rig) -> None:
    """Empty the photo lane unpaced (photo_duty 1), waited for on the journal's change signal."""
    engine = rig.terminal.sync
    engine.photo_duty = 1.0
    engine.notify_captured()
    done = threading.Event()
    disconnect = rig.journal.changed.connect(lambda _r: done.set() if photo_chunks_waiting(rig) == 0 else None)
    try:
        if photo_chunks_waiting(rig) and not done.wait(300.0):
            raise SystemExit("the photo lane did not drain within 300 s")
    finally:
        disconnect()
        engine.photo_duty = 0.1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=16)
    ap.add_argument("--payments", type=int, default=20, help="payments per block")
    args = ap.parse_args()
    rng = random.Random(18)
    with tempfile.TemporaryDirectory() as tmp, Rig(Path(tmp)) as rig:
        t = rig.terminal
        t.download_route("S2")
        readings = []
        for c in t.route_customers("S2")[:PHOTOS]:
            value = (c.last_reading or Decimal(0)) + 10
            res = t.save_reading(c, t.check_reading(c, value), source=ReadingSource.IR)
            assert res.txn is not None
            readings.append(res.txn)
        t.upload_readings()  # the readings are at the station: only photos will wait
        engine = t.sync
        engine.report = t.unsynced_report  # as Terminal.from_settings wires it: a HELLO behind every batch
        all_a: list[float] = []
        all_b: list[float] = []
        ratios: list[float] = []
        sent_during_b = 0
        sizes: list[int] = []
        with SyncThread(engine, idle_check_s=1.0):
            payments(rig, 3, rng)  # warm-up (connections, caches)

            def block_b(r: int) -> list[float]:
                nonlocal sent_during_b
                jpegs = [display(r * PHOTOS + n) for n in range(PHOTOS)]  # new photos: new hashes
                sizes.extend(map(len, jpegs))
                for txn, jpeg in zip(readings, jpegs, strict=True):
                    t.attach_photo(txn, jpeg)
                waiting = photo_chunks_waiting(rig)
                b = payments(rig, args.payments, rng)
                left = photo_chunks_waiting(rig)
                if left == 0:
                    raise SystemExit(f"round {r}: the photo lane emptied during block B: the measurement is void")
                sent_during_b += waiting - left
                drain(rig)
                return b

            for r in range(args.rounds):
                if r % 2 == 0:
                    a = payments(rig, args.payments, rng)
                    b = block_b(r)
                else:
                    b = block_b(r)
                    a = payments(rig, args.payments, rng)
                all_a += a
                all_b += b
                ratios.append(statistics.median(b) / statistics.median(a))
                print(f"round {r + 1:2d} ({'AB' if r % 2 == 0 else 'BA'}): A median {statistics.median(a) * 1e3:.2f} ms, "
                      f"B median {statistics.median(b) * 1e3:.2f} ms, ratio {ratios[-1]:.3f}", flush=True)
            complete = rig.station_rows("SELECT count(*) FROM photos")[0][0]
        ratio = statistics.median(all_b) / statistics.median(all_a)
        print(f"photos {min(sizes)}–{max(sizes)} bytes; complete at the station: {complete} of {PHOTOS * args.rounds}")
        print(f"A (empty lane, {len(all_a)} payments): median {statistics.median(all_a) * 1e3:.2f} ms, "
              f"p90 {p90(all_a) * 1e3:.2f} ms")
        print(f"B ({PHOTOS} photos waiting, {len(all_b)} payments, {sent_during_b} chunks sent during B): "
              f"median {statistics.median(all_b) * 1e3:.2f} ms, p90 {p90(all_b) * 1e3:.2f} ms")
        print(f"paired ratios: min {min(ratios):.3f}, median {statistics.median(ratios):.3f}, max {max(ratios):.3f}")
        print(json.dumps({"payment_latency_ratio_with_photos": round(ratio, 3),
                          "median_paired_ratio": round(statistics.median(ratios), 3),
                          "p90_ratio": round(p90(all_b) / p90(all_a), 3), "rounds": args.rounds,
                          "payments_per_block": args.payments, "chunks_during_b": sent_during_b, "photo_duty": 0.1,
                          "baseline_ms": round(statistics.median(all_a) * 1e3, 2)}))


if __name__ == "__main__":
    main()
