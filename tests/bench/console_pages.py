"""Benchmark: the supervisors' console's page times while the station is under station_load.py's load.

    .venv/bin/python tests/bench/console_pages.py [--terminals 200] [--payments 25] [--pg]

``--pg``: the ledger is a database of the tests' throwaway PostgreSQL cluster (tests/rigs/pgcluster.py),
the station's production setup, with one front end; without it, an SQLite ledger.

Runs tests/bench/station_load.py's load (its ``run``, group commit, no baseline run of its own) and,
on the same ledger, the console as its own process (``handheld-mocks station console``, the CLI a
supervisor's office runs).  A supervisor's browser is simulated by one client that logs in (CSRF
token, argon2 check) and then fetches, one after another with no pause, the pages a supervisor keeps
open: /transit.json (what the 在途资金 page polls), /transit, /checks, /collections?by=segment.

Baseline (same run): the same client against the same console on the same ledger before the load
starts (the station idle).  Figures: ``p50_s``, ``p99_s``, ``max_s`` of each page fetch under load;
``idle_p99_s``; ``vs_baseline`` = p99 under load ÷ idle p99; ``pages`` fetched under load; ``errors``
(any answer but 200, or no answer within 30 s); per page ``page_p99_s`` and ``page_errors``; plus the
load's own ``payments_per_s`` and ``p99_s`` (as ``load_…``) and how busy the machine was.
The last line is one JSON object with those keys.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "bench"))

import station_load  # noqa: E402

from hw_mocks.station import ledger  # noqa: E402
from hw_mocks.station.console import app as console  # noqa: E402
from hw_mocks.station.console import store  # noqa: E402

PASSWORD = "bench console 22"
PAGES = ("/transit.json", "/transit", "/checks", "/collections?by=segment")


class Browser:
    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[int, str]:
        with self.opener.open(self.base + path, timeout=30) as r:
            return r.status, r.read().decode("utf-8")

    def log_in(self) -> None:
        _, page = self.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        data = urllib.parse.urlencode({"username": "sup", "password": PASSWORD, "csrf_token": token}).encode()
        with self.opener.open(self.base + "/login", data=data, timeout=30) as r:
            assert r.status == 200 and "/transit" in r.url, r.url

    def round(self, times: list[float], errors: list[int], per_page: dict[str, list[float]] | None = None,
              page_errors: dict[str, int] | None = None) -> None:
        for p in PAGES:
            t0 = time.perf_counter()
            try:
                status, _ = self.get(p)
            except Exception:  # noqa: BLE001 — counted, the bench goes on
                status = 0
            took = time.perf_counter() - t0
            times.append(took)
            if per_page is not None:
                per_page.setdefault(p, []).append(took)
            if status != 200:
                errors.append(status)
                if page_errors is not None:
                    page_errors[p] = page_errors.get(p, 0) + 1


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return round(s[min(len(s) - 1, int(q * len(s)))], 4) if s else 0.0


class Console:
    """Started by the patched start_station on the ledger the load's station uses."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.browser: Browser | None = None
        self.idle: list[float] = []
        self.loaded: list[float] = []
        self.errors: list[int] = []
        self.per_page: dict[str, list[float]] = {}
        self.page_errors: dict[str, int] = {}
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.log: IO[str] | None = None

    def start(self, db: str) -> None:
        with closing(ledger.connect(db)) as conn:
            store.ensure_schema(conn)
            console.add_user(conn, "sup", "supervisor", PASSWORD, "bench")
        # the console's log (a line per request) goes to a file: a pipe nobody reads fills after
        # ~640 requests (64 KiB) and the console's next log write blocks it — every page then hung
        # 30 s (the stall of the first measurements was this, not the station's load)
        self.log = tempfile.TemporaryFile(mode="w+", prefix="bench-console-", suffix=".log")
        self.proc = subprocess.Popen([sys.executable, "-m", "hw_mocks.cli", "station", "console", "--db", db,
                                      "--console", "127.0.0.1:0"], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "console on" not in line:
            self.log.seek(0)
            raise SystemExit(f"the console did not start: {line}{self.log.read()[-2000:]}")
        self.browser = Browser(line.split("console on ", 1)[1].strip().rstrip("/"))
        self.browser.log_in()
        for _ in range(25):  # baseline: the idle station
            self.browser.round(self.idle, self.errors)
        self.errors.clear()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        assert self.browser is not None
        while not self.stop.is_set():
            self.browser.round(self.loaded, self.errors, self.per_page, self.page_errors)

    def finish(self) -> None:
        self.stop.set()
        if self.thread:
            self.thread.join(timeout=60)
        if self.proc:
            self.proc.terminate()
            self.proc.communicate(timeout=30)
        if self.log:
            self.log.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--terminals", type=int, default=200)
    ap.add_argument("--payments", type=int, default=25)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--pg", action="store_true", help="a PostgreSQL ledger (the tests' throwaway cluster)")
    args = ap.parse_args()
    if args.pg:
        from tests.rigs.pgcluster import ThrowawayCluster, missing

        why = missing()
        if why:
            raise SystemExit(f"--pg: {why}")
        with tempfile.TemporaryDirectory(prefix="bench-console-pg-") as d, ThrowawayCluster(d) as pg:
            return bench(args, pg)
    return bench(args, None)


def bench(args: argparse.Namespace, pg: object) -> int:
    con = Console()
    original_start, original_stop = station_load.start_station, station_load.stop_station

    def start_station(work: Path, *a, **kw):  # type: ignore[no-untyped-def]
        proc, port = original_start(work, *a, **kw)
        con.start(kw.get("db") or str(work / "station.sqlite"))
        return proc, port

    def stop_station(proc):  # type: ignore[no-untyped-def]
        con.finish()
        return original_stop(proc)

    station_load.start_station, station_load.stop_station = start_station, stop_station
    load = station_load.run(args.terminals, args.payments, None, "pg-1fe" if pg is not None else "group", args.procs,
                            pg, 1, args.terminals if pg is not None else 0)
    idle_p99 = pct(con.idle, 0.99)
    out = {"p50_s": pct(con.loaded, 0.50), "p99_s": pct(con.loaded, 0.99), "max_s": round(max(con.loaded, default=0), 4),
           "idle_p99_s": idle_p99, "vs_baseline": round(pct(con.loaded, 0.99) / max(idle_p99, 1e-6), 2),
           "pages": len(con.loaded), "errors": len(con.errors),
           "load_payments_per_s": load.get("payments_per_s"), "load_p99_s": load.get("p99_s"),
           "terminals": args.terminals, "payments_per_terminal": args.payments, "db": load.get("db"),
           "page_p99_s": {p: pct(ts, 0.99) for p, ts in con.per_page.items()}, "page_errors": con.page_errors,
           "machine_busy_pct": load.get("machine_busy_pct")}
    print(f"console pages under load: {out['pages']} fetched, p99 {out['p99_s']} s (idle p99 {idle_p99} s)")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
