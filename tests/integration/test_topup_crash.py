"""CRASH TEST: 100 randomized interrupted top-ups, each amount paid credited exactly once.

The terminal runs as a child process (this file run as a script) with the production
CardService, SerialCardReader, journal, sync engine and StationClient; the parent holds the
reference station (with the card key holder), the mock card reader on a pty with the
customer's virtual card, and the card meter.  For each top-up k the parent picks an
interruption at random:

    pull     the card leaves the reader after a random number of APDUs — before the chip saw
             the next one, or after the chip executed it with the answer lost
    exit     the child exits hard (os._exit) at a random step of the flow: captured,
             authorized, written, verified, confirm_captured
    sigkill  the parent SIGKILLs the child at a random moment of the top-up
    none

then retries (the same card back in the reader, a new child if it died; retries may be
interrupted again) until the card holds purchase k.  The meter then loads the card.  At the
end the station's ledger, the card, the journal and the meter must agree: purchase k exactly
once, with its amount, confirmed; nothing else credited.
"""

from __future__ import annotations

import argparse
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

N = 100
#: a child that says nothing for this long is stuck (no time budget for the whole test: a busy
#: machine is slow, not wrong; each top-up must converge within 30 attempts instead)
STALL_S = 60.0
POINTS = ("captured", "authorized", "written", "verified", "confirm_captured")
#: frames of an uninterrupted top-up (tests/integration/test_topup_flow.py, test_card_sgcc.py)
FLOW_APDUS = {"gt1": 8, "sgcc": 12}


def amount(k: int) -> int:
    return 1_000 + (k * 7919) % 49_000


# --------------------------------------------------------------------------- the child

def child(args: argparse.Namespace) -> int:
    from terminal_app.errors import HandheldError
    from tests.rigs.card import open_terminal

    out = sys.stdout.fileno()

    def say(line: str) -> None:
        os.write(out, (line + "\n").encode())

    armed = {"point": "-"}

    def fault(point: str) -> None:
        if point == armed["point"]:
            say(f"X {point}")
            os._exit(77)

    term = open_terminal(Path(args.journal), args.port, args.reader, fault=fault, scheme=args.scheme)
    say("R")
    for line in sys.stdin:
        cmd, *rest = line.split()
        if cmd == "T":
            armed["point"] = rest[1]
            try:
                res = term.service.topup(int(rest[0]))
                say(f"OK {res.auth_txn} {int(res.recovered)} {res.purchase_count}")
            except HandheldError as e:
                reason = getattr(getattr(e, "reason", None), "name", "-")
                say(f"ERR {type(e).__name__} {reason} {str(e)[:200]}")
        elif cmd == "F":
            res = term.service.finish_unfinished()
            say(f"F {res.purchase_count if res else '-'}")
        elif cmd == "S":
            report = term.sync.sync_now()
            say(f"S {term.journal.status().depth} {report.error or '-'}")
        elif cmd == "Q":
            break
    term.close()
    return 0


# --------------------------------------------------------------------------- the parent

class Child:
    def __init__(self, journal: Path, port: int, reader: str, scheme: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--child", "--journal", str(journal), "--port", str(port),
             "--reader", reader, "--scheme", scheme], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=ROOT, env=env)
        self._buf = b""
        self.lines: list[str] = []

    def line(self, timeout: float) -> str | None:
        """The next line, or None on EOF / timeout."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\n", 1)
        text = raw.decode()
        self.lines.append(text)
        return text

    def send(self, text: str) -> None:
        self.proc.stdin.write((text + "\n").encode())
        self.proc.stdin.flush()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(20)

    def close(self) -> tuple[int, str]:
        if self.proc.stdin.closed:
            return self.proc.wait(20), ""
        if self.proc.poll() is None:
            try:
                self.send("Q")
            except BrokenPipeError:
                pass
        try:
            rc = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = self.proc.wait(20)
        err = self.proc.stderr.read().decode(errors="replace")
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except BrokenPipeError:
                pass
        return rc, err


@pytest.mark.parametrize("scheme", ["gt1", "sgcc"])
def test_100_interrupted_topups_credit_every_amount_exactly_once(tmp_path, scheme):
    from hw_mocks.card.device import MockCardReader
    from hw_mocks.card.meter import Insertion, MockCardMeter
    from hw_mocks.station.card_keys import DEMO_MASTER_KEY, CardKeyHolder
    from offline_queue.journal import EntryState, Journal
    from terminal_app.services.topup import KIND_CONFIRM, KIND_PURCHASE, KIND_RESUME
    from tests.rigs.card import (
        CUST,
        METER,
        SERIAL,
        START_COUNT,
        TID,
        held,
        issue_card,
        issue_sgcc_card,
        sgcc_meter,
        station,
        station_db,
    )

    rng = random.Random(int(os.environ.get("CRASH_SEED", "20261124")))
    holder = CardKeyHolder(DEMO_MASTER_KEY)
    db = station_db(tmp_path / "station.sqlite")
    card: Any
    meter: Any
    if scheme == "sgcc":  # the State Grid user card and its meter (docs/card.md)
        card, meter = issue_sgcc_card(holder), sgcc_meter(holder)
    else:
        card = issue_card(holder)
        meter = MockCardMeter(CUST, METER, count=START_COUNT, remaining=2000, bound_serial=SERIAL)
    start_remaining, consumed = meter.remaining, 0
    journal_path = tmp_path / "journal.sqlite"
    stats: Counter[str] = Counter()
    started = time.monotonic()
    with station(db, holder) as st, MockCardReader.on_pty(os.fspath(tmp_path / "ttyCard")) as dev:
        dev.insert(card)
        proc: Child | None = None
        try:
            for k in range(1, N + 1):
                want = START_COUNT + k
                attempt = 0
                while held(card)[0] != want or dev.card is None:
                    attempt += 1
                    assert attempt < 30, f"top-up {k} does not converge: {proc.lines[-5:] if proc else ''}"
                    if dev.card is None:
                        dev.insert(card)  # the customer puts the card back
                    if proc is None or proc.proc.poll() is not None:
                        if proc is not None:
                            rc, err = proc.close()
                            assert rc in (77, -signal.SIGKILL), f"child died with {rc}:\n{err}"
                        proc = Child(journal_path, st.port, dev.url, scheme)
                        assert proc.line(STALL_S) == "R", proc.lines
                        stats["children"] += 1
                    kind = rng.choices(("pull", "exit", "sigkill", "none"), (30, 30, 25, 15))[0] \
                        if attempt == 1 or rng.random() < 0.3 else "none"
                    point = rng.choice(POINTS) if kind == "exit" else "-"
                    if kind == "pull":
                        dev.pull_after(rng.randrange(FLOW_APDUS[scheme]), executed=rng.random() < 0.5)
                    try:
                        proc.send(f"T {amount(k)} {point}")
                    except BrokenPipeError:
                        rc, err = proc.close()
                        raise AssertionError(f"child gone ({rc}): {proc.lines[-5:]}\n{err}") from None
                    if kind == "sigkill":
                        answer = proc.line(rng.uniform(0.0, 0.03))
                        if answer is None:
                            proc.kill()
                            stats["sigkill"] += 1
                            continue
                    else:
                        answer = proc.line(STALL_S)
                    dev.disarm()
                    if dev.pulled.is_set():
                        stats["pulled"] += 1
                        dev.pulled.clear()
                    if answer is None:
                        rc, err = proc.close()
                        raise AssertionError(f"child silent ({rc}): {proc.lines[-5:]}\n{err}")
                    tag, *rest = answer.split(" ", 3)
                    if tag == "X":
                        stats["exit_" + rest[0]] += 1
                        proc.proc.wait(20)
                    elif tag == "OK":
                        stats["recovered" if rest[1] == "1" else "clean"] += 1
                        if int(rest[2]) == want - 1:
                            # purchase k-1 reached the card (and the meter) but its confirmation
                            # was never journaled: this read finished it; k is sold next
                            assert rest[1] == "1", answer
                            stats["finished_previous"] += 1
                        else:
                            assert int(rest[2]) == want, answer
                    else:
                        assert tag == "ERR", answer
                        # what an interruption may leave: a pulled card, a purchase already on
                        # the card whose confirmation is being delivered
                        assert rest[0] in ("CardRemovedError", "TopupRefused", "AuthorizationPending"), answer
                        if rest[0] == "TopupRefused":
                            assert rest[1] == "NOT_LOADED" and held(card)[0] == want, answer
                # purchase k is on the card: the customer takes it to the meter
                assert meter.insert(card) is Insertion.LOADED, (k, held(card), meter)
                use = rng.randrange(0, 3000)
                meter.consume(use, use // 5)
                consumed += use
            # the last top-up may have been interrupted after its write: the next read of the
            # card (by a fresh terminal if the last one died) finishes it, then the journal drains
            if proc.proc.poll() is not None:
                proc.close()
                proc = Child(journal_path, st.port, dev.url, scheme)
                assert proc.line(STALL_S) == "R", proc.lines
            proc.send("F")
            assert (proc.line(STALL_S) or "").startswith("F "), proc.lines[-3:]
            proc.send("S")
            assert proc.line(STALL_S) == "S 0 -", proc.lines[-3:]
        finally:
            if proc is not None:
                proc.close()
    # ---- the verdict
    paid = {START_COUNT + k: amount(k) for k in range(1, N + 1)}
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT txn, amount, purchase_count, state, kind FROM card_purchases"
                         " WHERE terminal = ? ORDER BY purchase_count", (TID,)).fetchall()
        station_count = c.execute("SELECT purchase_count FROM meters WHERE asset = ?", (METER,)).fetchone()[0]
    assert {n: a for _, a, n, _, _ in rows} == paid and len(rows) == N  # the station: each once
    assert {s for *_, s, _ in rows} == {"confirmed"} and station_count == START_COUNT + N
    with Journal.open(journal_path, TID) as j:
        entries = j.entries()
        assert j._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    auths = [e for e in entries if e.kind == KIND_PURCHASE]
    confirms = [e for e in entries if e.kind == KIND_CONFIRM]
    assert all(e.state is EntryState.APPLIED for e in auths + confirms), Counter((e.kind, e.state) for e in entries)
    assert {e.txn: e.reply["purchase_count"] for e in auths} == {t: n for t, _, n, _, _ in rows}  # journal = ledger
    assert sorted(e.depends_on for e in confirms) == sorted(e.txn for e in auths)  # one confirmation each
    assert all(e.state in (EntryState.APPLIED, EntryState.REJECTED) for e in entries if e.kind == KIND_RESUME)
    assert held(card) == (START_COUNT + N, paid[START_COUNT + N])
    assert meter.loaded == sorted(paid.items())  # the meter: every amount credited exactly once
    assert meter.remaining == start_remaining + sum(paid.values()) - consumed
    stats["seconds"] = round(time.monotonic() - started)
    stats["resumes"] = sum(1 for e in entries if e.kind == KIND_RESUME)
    print(f"\ncard crash test ({scheme}): {N} top-ups, each credited once; {dict(stats)}")
    assert stats["pulled"] >= 15 and stats["sigkill"] >= 3 and stats["recovered"] >= 20
    assert all(stats["exit_" + p] >= 1 for p in POINTS), dict(stats)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--journal")
    ap.add_argument("--port", type=int)
    ap.add_argument("--reader")
    ap.add_argument("--scheme", default="gt1")
    sys.exit(child(ap.parse_args()))
