"""Benchmark: the reference station under 200 terminals paying at once, over real sockets.

    .venv/bin/python tests/bench/station_load.py [--terminals 200] [--payments 25] [--no-baseline]

The station runs as its own process (``handheld-mocks station``, the CLI a QA desk runs) on a
fresh ledger (one customer per terminal), so its CPU time is its own.
The load generator is ``--procs`` processes (2: one per core, so no one interpreter lock
serialises all 200 terminals): one thread per terminal, each the production
``StationClient`` over ``SocketTransport`` — a new TCP connection per payment, as a terminal
makes one (GT/1 short connections), half of them suite 01 and half suite 02 — paying its
payments one after another with no pause (a closed loop: the station is never idle, so
latency here is queueing, which is what must stay short).  The seq counter is kept in memory:
the terminal's own durability is benchmarked in tests/bench/queue.py, this one measures the
station.  Both share this machine's cores.

Figures, per run:
* ``payments_per_s`` — payments answered "applied", divided by the time from the first
  connection to the last answer;
* ``p50_s``, ``p99_s``, ``max_s`` — client-side latency of each payment: connect, send, answer
  verified;
* ``resets`` — payments whose frames went out with no verified answer (outcome unknown: the
  terminal would have to ask TXN_STATUS); ``not_sent`` — connections that could not be opened;
* ``lost`` — payments the terminals were told were applied that the ledger lacks;
  ``duplicated`` — ledger rows for these terminals beyond the applied payments (a second row for
  one payment, or a payment applied without the terminal being told); the ledger's count and sum
  are compared with the told-applied ones;
* ``station_cpu_ms_per_payment`` — the station process's user + system CPU during the load,
  per payment;
* ``generator_cpu_ms_per_payment`` — the same for the load generator (its processes), for scale;
* ``fsyncs_per_payment`` — the station's group commits per payment (each commit is one fsync
  of the WAL, synchronous=FULL), from the statistics the station prints when it stops.

Baseline (same run, same load): the same station with ``--max-batch 1`` — one commit, so one
fsync, per request: what group commit is measured against.  ``vs_baseline`` is our
payments_per_s ÷ the baseline's.

The last line is one JSON object with the keys above (ours at the top level, the baseline's
under "baseline").  Targets (issue 15, this 2-core machine): payments_per_s ≥ 500,
p99_s ≤ 0.5, resets = 0, lost = duplicated = 0.

``--pg`` (issue 21): the station's production setup instead — a PostgreSQL ledger (a throwaway
cluster started here, fsync on) shared by front-end processes (``--front-end N``), every
terminal landing on any of them (each payment goes to a front end drawn at random).  The
baseline is ONE front end, ours TWO, same load, same run: ``payments_per_s`` (two),
``baseline.payments_per_s`` (one), ``vs_baseline`` their ratio (target ≥ 1.6).  In both runs
``--provisioned`` terminals (default 10 000) are in the provisioning file the front ends load
(the provisioning store: that TOML file, read once at start into a dict keyed by terminal id —
one hash look-up per frame); ``provisioning_load_s`` is how long loading it takes.  lost and
duplicated are checked against the PostgreSQL ledger as above.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# run as a script, this folder is sys.path[0] and its queue.py would shadow the stdlib's queue
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hw_mocks.station import ledger  # noqa: E402
from hw_mocks.station.area import Bill, Customer, insert, packaged_tariffs  # noqa: E402
from terminal_app.station.client import Outcome, Request, StationClient  # noqa: E402
from terminal_app.station.messages import MsgType  # noqa: E402
from terminal_app.station.protocol import Suite  # noqa: E402
from terminal_app.station.transport import SocketTransport  # noqa: E402
from terminal_app.timeutil import iso, now  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


class MemorySeq:
    """The terminal's message counter, in memory (the station is what is measured here)."""

    def __init__(self) -> None:
        self.last = 0
        self._lock = threading.Lock()

    def reserve(self, n: int = 1) -> range:
        with self._lock:
            start = self.last + 1
            self.last += n
            return range(start, self.last + 1)

    def move_past(self, last_seq: int) -> None:
        with self._lock:
            self.last = max(self.last, last_seq)


def terminal_ids(n: int) -> list[str]:
    return [f"7{i:07d}" for i in range(n)]


def key_of(i: int) -> bytes:
    return bytes((i * 7 + j * 13 + 1) % 256 for j in range(16))


def suite_of(i: int) -> Suite:
    return Suite.AES_GCM if i % 2 else Suite.TDES


def customer_of(i: int) -> str:
    return f"9{i:05d}"


def load_area(conn: sqlite3.Connection, n: int) -> None:
    """One customer per terminal, owing two months (with a penalty): a terminal's 25 payments
    pay them off, oldest period and penalty first, the rest going to the prepayment balance."""
    insert(conn, packaged_tariffs(), [
        Customer(customer_of(i), f"用户{i}", f"四川省仪陇县石佛乡桂花村{i % 18 + 1}组{i}号", "B1", "桂花村",
                 f"B{i:06d}", f"{900000000000 + i:012d}", "2007", False, "sichuan-residential")
        for i in range(n)],
        [b for i in range(n) for b in (Bill(customer_of(i), "2026-09", 1500, 45, "2026-10-15"),
                                       Bill(customer_of(i), "2026-10", 1200, 0, "2026-11-15"))], [])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def write_provisioning(work: Path, n: int) -> Path:
    prov = work / "terminals.toml"
    prov.write_text("".join(f'[[terminal]]\nid = "{tid}"\nsuite = {int(suite_of(i))}\nkey = "{key_of(i).hex()}"\n'
                            for i, tid in enumerate(terminal_ids(n))))
    prov.chmod(0o600)
    return prov


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, all cores (/proc/stat): how busy it was."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = f[3] + f[4]
    return sum(f) - idle, sum(f)


def cluster_cpu(pg: Any) -> float:
    """CPU seconds of the PostgreSQL cluster: its postmaster and every process it started."""
    if pg is None:
        return 0.0
    try:
        master = int((pg.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    total = 0.0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(d.name) == master or int(fields[1]) == master:
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def start_station(work: Path, n_terminals: int, max_batch: int | None, *, db: str | None = None,
                  prov: Path | None = None, front_end: int = 0) -> tuple[subprocess.Popen, int]:
    if db is None:
        db = str(work / "station.sqlite")
        with closing(ledger.connect(db)) as conn:
            load_area(conn, n_terminals)
    prov = prov or write_provisioning(work, n_terminals)
    cmd = [sys.executable, "-m", "hw_mocks.cli", "station", "--port", "0", "--db", str(db),
           "--terminals", str(prov), "--stats"]
    if max_batch is not None:
        cmd += ["--max-batch", str(max_batch)]
    if front_end:
        cmd += ["--front-end", str(front_end)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "station listening on 127.0.0.1:PORT for N terminal(s) …"
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"the station did not start: {line}{proc.stderr.read() if proc.stderr else ''}")
    port = int(line.split("listening on ", 1)[1].split()[0].rsplit(":", 1)[1])
    return proc, port


def stop_station(proc: subprocess.Popen) -> dict:
    proc.send_signal(2)  # SIGINT: the station stops and prints its statistics as one JSON line
    out, err = proc.communicate(timeout=60)
    stats = {}
    for line in out.splitlines():
        if line.startswith("{"):
            stats = json.loads(line)
    if proc.returncode not in (0, -2):
        print(err, file=sys.stderr)
    return stats


def generator(ports: list[int], first: int, count: int, payments: int, go: Any, out: Any) -> None:
    """One load-generator process: ``count`` terminals from ``first``, one thread each; each
    payment goes to one of ``ports`` (front ends) drawn at random."""
    results: list[tuple[float, str, str, int]] = []
    lock = threading.Lock()
    local_go = threading.Barrier(count + 1)

    def terminal(i: int, tid: str) -> None:
        seq = MemorySeq()
        clients = [StationClient(terminal_id=tid, key=key_of(i), suite=suite_of(i), transport=SocketTransport(),
                                 seq=seq, host="127.0.0.1", port=port, connect_timeout=30, response_timeout=60)
                   for port in ports]
        rng = random.Random(i)
        mine: list[tuple[float, str, str, int]] = []
        local_go.wait()
        for k in range(1, payments + 1):
            amount = 100 + k
            req = Request(MsgType.PAYMENT, {"txn": f"{tid}-{k}", "cust": customer_of(i), "amount": amount,
                                            "method": "cash", "at": iso(now()), "op": "0007"})
            t0 = time.perf_counter()
            res = rng.choice(clients).exchange([req])[0]
            mine.append((time.perf_counter() - t0, res.outcome.value, f"{tid}-{k}", amount))
        with lock:
            results.extend(mine)

    ids = terminal_ids(first + count)
    threads = [threading.Thread(target=terminal, args=(i, ids[i]), daemon=True) for i in range(first, first + count)]
    for t in threads:
        t.start()
    cpu0 = sum(os.times()[:2])
    go.wait()
    local_go.wait()
    for t in threads:
        t.join()
    out.send((results, sum(os.times()[:2]) - cpu0))
    out.close()


def run(n_terminals: int, payments: int, max_batch: int | None, label: str, procs: int,
        pg: Any = None, front_ends: int = 1, provisioned: int = 0) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-station-") as d:
        work = Path(d)
        dsn = None
        stations: list[tuple[subprocess.Popen, int]] = []
        if pg is not None:  # a fresh database of the throwaway cluster, shared by the front ends
            dsn = pg.create_database(f"bench_{label.replace('-', '_')}")
            with closing(ledger.connect(dsn)) as conn:
                conn.execute("BEGIN")
                load_area(conn, n_terminals)
                conn.execute("COMMIT")
            prov = write_provisioning(work, max(provisioned, n_terminals))
            for fe in range(1, front_ends + 1):
                stations.append(start_station(work, n_terminals, max_batch, db=dsn, prov=prov, front_end=fe))
        else:
            stations.append(start_station(work, n_terminals, max_batch))
        ports = [port for _p, port in stations]
        try:
            # the terminals are spread over ``procs`` processes (forked before any thread exists)
            mp = multiprocessing.get_context("fork")
            go = mp.Barrier(procs + 1)
            workers, pipes = [], []
            share = -(-n_terminals // procs)
            for first in range(0, n_terminals, share):
                recv, send = mp.Pipe(duplex=False)
                w = mp.Process(target=generator, args=(ports, first, min(share, n_terminals - first), payments, go,
                                                       send))
                w.start()
                workers.append(w)
                pipes.append(recv)
            cpu0 = sum(cpu_seconds(p.pid) for p, _port in stations)
            db0, mach0 = cluster_cpu(pg), machine_cpu()
            go.wait()
            t0 = time.perf_counter()
            collected = [p.recv() for p in pipes]
            wall = time.perf_counter() - t0
            cpu = sum(cpu_seconds(p.pid) for p, _port in stations) - cpu0
            db_cpu = cluster_cpu(pg) - db0
            mach1 = machine_cpu()
            machine_busy = (mach1[0] - mach0[0]) / max(mach1[1] - mach0[1], 1)
            for w in workers:
                w.join()
        finally:
            all_stats = [stop_station(p) for p, _port in stations]
        stats = {k: sum(st.get(k, 0) or 0 for st in all_stats) for k in ("commits", "largest_commit", "commit_s",
                                                                           "longest_commit_s", "run_s", "connections")}
        latencies: list[float] = []
        outcomes: dict[str, int] = {}
        told: dict[str, int] = {}  # txn -> amount, for every payment the station said applied
        gen = 0.0
        for results, gen_cpu in collected:
            gen += gen_cpu
            for lat, outcome, txn, amount in results:
                latencies.append(lat)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                if outcome == Outcome.OK.value:
                    told[txn] = amount
        if dsn is not None:
            rows = ledger_rows_of(dsn, "SELECT txn, amount FROM payments WHERE terminal LIKE '7%'")
        else:
            with closing(sqlite3.connect(work / "station.sqlite")) as conn:
                rows = conn.execute("SELECT txn, amount FROM payments WHERE terminal LIKE '7%'").fetchall()
        ledger_rows = dict(rows)
        lost = sum(1 for txn in told if txn not in ledger_rows)
        duplicated = len(rows) - len(ledger_rows) + sum(1 for txn in ledger_rows if txn not in told)
        applied = outcomes.get(Outcome.OK.value, 0)
        latencies.sort()
        result = {
            "label": label,
            "payments": n_terminals * payments,
            "payments_per_s": round(applied / wall, 1),
            "p50_s": round(statistics.median(latencies), 4),
            "p99_s": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 4),
            "max_s": round(latencies[-1], 4),
            "resets": outcomes.get(Outcome.UNKNOWN.value, 0),
            "not_sent": outcomes.get(Outcome.NOT_SENT.value, 0),
            "refused": outcomes.get(Outcome.REFUSED.value, 0),
            "lost": lost,
            "duplicated": duplicated,
            "ledger_count_ok": len(rows) == len(told),
            "ledger_sum_ok": sum(a for _, a in rows) == sum(told.values()),
            "station_cpu_ms_per_payment": round(cpu * 1000 / max(applied, 1), 3),
            "generator_cpu_ms_per_payment": round(gen * 1000 / max(applied, 1), 3),
            "db_cpu_ms_per_payment": round(db_cpu * 1000 / max(applied, 1), 3) if pg is not None else None,
            "machine_busy_pct": round(machine_busy * 100, 1),  # all cores, everyone's processes
            "fsyncs_per_payment": round(stats.get("commits", 0) / max(applied, 1), 3) if stats else None,
            "wall_s": round(wall, 2),
            "front_ends": front_ends if pg is not None else 1,
            "db": "postgresql" if pg is not None else "sqlite",
            "station": {k: stats.get(k) for k in ("commits", "largest_commit", "commit_s", "longest_commit_s",
                                                 "run_s", "connections")},
        }
        print(f"{label:>9}: {result['payments_per_s']:7.1f} payments/s, p50 {result['p50_s']:.3f} s, "
              f"p99 {result['p99_s']:.3f} s, max {result['max_s']:.3f} s, resets {result['resets']}, "
              f"lost {lost}, duplicated {duplicated}, station CPU {result['station_cpu_ms_per_payment']:.2f} ms"
              f"/payment, db CPU {result['db_cpu_ms_per_payment']} ms/payment, machine {result['machine_busy_pct']}% busy,"
              f" {result['fsyncs_per_payment']} fsyncs/payment", flush=True)
        return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--terminals", type=int, default=200)
    ap.add_argument("--payments", type=int, default=25, help="payments per terminal")
    ap.add_argument("--no-baseline", action="store_true", help="skip the one-fsync-per-request baseline run")
    ap.add_argument("--procs", type=int, default=2, help="load-generator processes the terminals are spread over")
    ap.add_argument("--pg", action="store_true",
                    help="PostgreSQL with one front end (baseline) and two front ends (issue 21)")
    ap.add_argument("--provisioned", type=int, default=10_000,
                    help="with --pg: terminals in the provisioning file the front ends load (default 10 000)")
    args = ap.parse_args()
    load = os.getloadavg()
    print(f"{args.terminals} terminals × {args.payments} payments; {os.cpu_count()} CPUs, load average before:"
          f" {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    if args.pg:
        return main_pg(args, load)
    ours = run(args.terminals, args.payments, None, "group", args.procs)
    base = None if args.no_baseline else run(args.terminals, args.payments, 1, "baseline", args.procs)
    out = {k: v for k, v in ours.items() if k != "label"}
    if base is not None:
        out["baseline"] = {k: v for k, v in base.items() if k != "label"}
        out["vs_baseline"] = round(ours["payments_per_s"] / max(base["payments_per_s"], 0.1), 2)
    out["load_avg_before"] = round(load[0], 2)
    print(json.dumps(out))
    return 0


def ledger_rows_of(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    from tests.rigs.station import rows

    return rows(dsn, sql)


def main_pg(args: argparse.Namespace, load: tuple[float, float, float]) -> int:
    from hw_mocks.station.provisioning import load_terminals
    from tests.rigs.pgcluster import ThrowawayCluster, missing

    why = missing()
    if why:
        raise SystemExit(f"--pg: {why}")
    with tempfile.TemporaryDirectory(prefix="bench-prov-") as d:
        prov = write_provisioning(Path(d), args.provisioned)
        t0 = time.perf_counter()
        keys = load_terminals(prov)
        prov_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for tid in terminal_ids(args.provisioned):
            keys[tid]
        lookup_us = (time.perf_counter() - t0) * 1e6 / args.provisioned
    print(f"provisioning: {args.provisioned} terminals loaded in {prov_s:.2f} s, {lookup_us:.2f} µs a look-up",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as d, ThrowawayCluster(d) as pg:
        one = run(args.terminals, args.payments, None, "pg-1fe", args.procs, pg, 1, args.provisioned)
        two = run(args.terminals, args.payments, None, "pg-2fe", args.procs, pg, 2, args.provisioned)
    out = {k: v for k, v in two.items() if k != "label"}
    out["baseline"] = {k: v for k, v in one.items() if k != "label"}
    out["vs_baseline"] = round(two["payments_per_s"] / max(one["payments_per_s"], 0.1), 2)
    out["pg_front_ends"] = {"1": one["payments_per_s"], "2": two["payments_per_s"]}
    out["provisioned_terminals"] = args.provisioned
    out["provisioning_load_s"] = round(prov_s, 3)
    out["provisioning_lookup_us"] = round(lookup_us, 3)
    out["load_avg_before"] = round(load[0], 2)
    print(f"two front ends vs one: ×{out['vs_baseline']}", flush=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
