"""Benchmark: a legitimate terminal's HELLO while the station is held by connections that never
authenticate — and what unauthenticated traffic adds to the station's files.

    .venv/bin/python tests/bench/station_abuse.py [--seconds 60] [--idle 1000] [--drip 300]

The station runs as its own process (``handheld-mocks station``, default settings: 1024
unauthenticated slots, 10 s + N ÷ 500 s deadlines).  An attacker process (this file with
``--attacker``) holds ``idle`` connections that send nothing and ``drip`` connections that send
a 30-byte header announcing a 65535-byte body of a provisioned terminal (so the station cannot
refuse it from the header, and its deadline is the longest there is: 10 s + 65535 ÷ 500 s ≈
141 s), then one body byte a second.  Whenever the station closes one, the attacker opens
another at once, so the count stays up the whole time.

Phase 1 — meanwhile, the legitimate terminal (the production StationClient over a socket, a new
connection each time, as in the field) says HELLO every 2 s for ``seconds``:
``hello_ok_share`` is the share answered and verified, ``hello_max_s`` the worst latency
(connect + HELLO + verified answer), and the station's counters show what it did (connections
accepted, unauthenticated ones closed to admit newer ones, frames refused).  Targets (issue 15):
hello_ok_share ≥ 0.9, hello_max_s ≤ 3.  The physical floor of one HELLO on this machine is
measured first, with no attacker: ``hello_floor_s`` (median of 5).

Phase 2 — 600 frames of 60 KiB that do not authenticate (half naming an unknown terminal,
refused from the header; half of a provisioned terminal with a bad tag, read whole), from 50
source addresses (127.0.0.x): ``growth_bytes`` is how much the station's files (ledger, WAL,
shared memory) grew, measured with the station stopped before and after (at rest), and
``growth_in_service_bytes`` while it runs.  Target: < 2 MB (the audit keeps at most 10 rows a
minute per address and 100 in all, each with 64 bytes of the frame).

The last line is one JSON object with those keys.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hw_mocks.station import ledger  # noqa: E402
from terminal_app.station.client import Outcome, Request, StationClient  # noqa: E402
from terminal_app.station.messages import MsgType  # noqa: E402
from terminal_app.station.protocol import Suite, build_header, new_salt, seal  # noqa: E402
from terminal_app.station.transport import SocketTransport  # noqa: E402
from tests.rigs.station import load_tiny  # noqa: E402

LEGIT = ("10000001", bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c"))
DRIPPER = ("10000002", bytes.fromhex("000102030405060708090a0b0c0d0e0f"))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --------------------------------------------------------------------------- the attacker process

def attacker(port: int, n_idle: int, n_drip: int) -> int:
    raise_fd_limit()
    sel = selectors.DefaultSelector()
    header = build_header(Suite.AES_GCM, 0, DRIPPER[0], 1, new_salt(), int(MsgType.PAYMENT), 65535)
    opened = closed = 0
    drips: dict[socket.socket, int] = {}  # socket -> body bytes sent

    def connect(kind: str) -> None:
        nonlocal opened
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        opened += 1
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, kind)

    for _ in range(n_idle):
        connect("idle")
    for _ in range(n_drip):
        connect("drip")
    out = sys.stdout
    ready_said = False
    next_drip = time.monotonic() + 1.0
    while True:
        for key, events in sel.select(timeout=0.2):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            if events & selectors.EVENT_WRITE:  # the connection is established (or failed)
                sel.modify(s, selectors.EVENT_READ, key.data)
                if key.data == "drip":
                    try:
                        s.send(header)
                        drips[s] = 0
                    except OSError:
                        pass
                continue
            try:
                gone = s.recv(4096) == b""
            except OSError:
                gone = True
            if gone:  # the station closed it: open another at once
                sel.unregister(s)
                drips.pop(s, None)
                s.close()
                closed += 1
                connect(key.data)
        now = time.monotonic()
        if now >= next_drip:
            next_drip = now + 1.0
            for s in list(drips):
                try:
                    s.send(b"\x00")
                    drips[s] += 1
                except OSError:
                    pass
            established = sum(1 for k in sel.get_map().values() if k.events == selectors.EVENT_READ)
            print(f"held {established} opened {opened} closed {closed}", file=out, flush=True)
            if not ready_said and established >= n_idle + n_drip:
                print("ready", file=out, flush=True)
                ready_said = True


# --------------------------------------------------------------------------- the station and the terminal

class MemorySeq:
    def __init__(self) -> None:
        self.last = 0

    def reserve(self, n: int = 1) -> range:
        self.last += n
        return range(self.last - n + 1, self.last + 1)

    def move_past(self, last_seq: int) -> None:
        self.last = max(self.last, last_seq)


def start_station(work: Path) -> tuple[subprocess.Popen, int]:
    prov = work / "terminals.toml"
    prov.write_text("".join(f'[[terminal]]\nid = "{tid}"\nsuite = 2\nkey = "{key.hex()}"\n'
                            for tid, key in (LEGIT, DRIPPER)))
    prov.chmod(0o600)
    proc = subprocess.Popen([sys.executable, "-m", "hw_mocks.cli", "station", "--port", "0", "--db",
                             str(work / "station.sqlite"), "--terminals", str(prov), "--stats"], cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"the station did not start: {line}")
    return proc, int(line.split("listening on ", 1)[1].split()[0].rsplit(":", 1)[1])


def stop_station(proc: subprocess.Popen) -> dict:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    stats: dict = {}
    for line in out.splitlines():
        if line.startswith("{"):
            stats = json.loads(line)
    return stats


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def terminal(port: int) -> StationClient:
    return StationClient(terminal_id=LEGIT[0], key=LEGIT[1], suite=Suite.AES_GCM, transport=SocketTransport(),
                         seq=MemorySeq(), host="127.0.0.1", port=port, connect_timeout=10, response_timeout=10)


def one_hello(client: StationClient) -> tuple[bool, float]:
    t0 = time.perf_counter()
    res = client.exchange([Request(MsgType.HELLO, {"op": "0007", "app": "bench"})])[0]
    return res.outcome is Outcome.OK, time.perf_counter() - t0


def files(work: Path) -> int:
    return sum(p.stat().st_size for p in work.glob("station.sqlite*"))


def send_and_wait(address: str, port: int, data: bytes) -> None:
    with socket.socket() as s:
        s.bind((address, 0))
        s.settimeout(30)
        s.connect(("127.0.0.1", port))
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
        except OSError:
            pass  # the station refused it and closed: what we wait for


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="how long the legitimate terminal says HELLO")
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--drip", type=int, default=300)
    ap.add_argument("--attacker", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.attacker:
        return attacker(args.attacker, args.idle, args.drip)
    raise_fd_limit()
    load = os.getloadavg()
    print(f"{args.idle} idle + {args.drip} slow-drip connections, HELLO every 2 s for {args.seconds:g} s;"
          f" load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-abuse-") as d:
        work = Path(d)
        with closing(ledger.connect(work / "station.sqlite")) as conn:
            load_tiny(conn)
        # ---- phase 1: HELLOs under the attack
        proc, port = start_station(work)
        client = terminal(port)
        floor = statistics.median(one_hello(client)[1] for _ in range(5))
        att = subprocess.Popen([sys.executable, __file__, "--attacker", str(port), "--idle", str(args.idle),
                                "--drip", str(args.drip)], stdout=subprocess.PIPE, text=True)
        assert att.stdout is not None
        held = ""
        try:
            for line in att.stdout:
                held = line.strip()
                if line.startswith("ready"):
                    break
            else:
                raise SystemExit("the attacker could not open its connections")
            print(f"attacker ready ({held})", flush=True)
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            results: list[tuple[bool, float]] = []
            deadline = t0 + args.seconds
            next_at = t0
            while next_at < deadline:
                time.sleep(max(0.0, next_at - time.monotonic()))  # the terminal's pace, not a synchronisation
                results.append(one_hello(client))
                next_at += 2.0
            station_cpu = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
        finally:
            att.send_signal(signal.SIGTERM)
            att.wait(30)
            last = att.stdout.read().strip().splitlines()
            held = last[-1] if last else held
        stats1 = stop_station(proc)
        ok = [lat for good, lat in results if good]
        share = len(ok) / len(results)
        worst = max(lat for _, lat in results)
        print(f"HELLO: {len(ok)}/{len(results)} answered, worst {worst:.3f} s, median "
              f"{statistics.median(lat for _, lat in results):.3f} s (floor {floor:.4f} s); attacker at the end:"
              f" {held}; station: {stats1}, CPU {station_cpu:.0%} of one core", flush=True)
        # ---- phase 2: what 600 unauthenticated 60 KiB frames add to the station's files
        at_rest = files(work)
        proc, port = start_station(work)
        in_service = files(work)
        bad_tag = bytearray(seal(LEGIT[1], Suite.AES_GCM, LEGIT[0], 10**6, int(MsgType.READINGS_UPLOAD),
                                 {"pad": "x" * 61440}, deflate=False))
        bad_tag[-1] ^= 1
        unknown = seal(LEGIT[1], Suite.AES_GCM, "99999999", 1, int(MsgType.PAYMENT), {"pad": "y" * 61440},
                       deflate=False)
        for n in range(600):
            send_and_wait(f"127.0.0.{2 + n % 50}", port, bytes(bad_tag) if n % 2 else unknown)
        grown_in_service = files(work) - in_service
        stats2 = stop_station(proc)
        grown = files(work) - at_rest
        print(f"600 unauthenticated frames of {len(unknown)} / {len(bad_tag)} bytes: files grew {grown} bytes at rest,"
              f" {grown_in_service} in service; station: {stats2}", flush=True)
    print(json.dumps({"hello_ok_share": round(share, 3), "hello_max_s": round(worst, 3),
                      "hello_median_s": round(statistics.median(lat for _, lat in results), 4),
                      "hello_floor_s": round(floor, 4), "hellos": len(results),
                      "ratio_max_to_floor": round(worst / floor, 1),
                      "station_connections": stats1.get("connections"), "station_evicted": stats1.get("evicted"),
                      "station_refused": stats1.get("refused"), "station_cpu_share": round(station_cpu, 2),
                      "growth_bytes": grown, "growth_in_service_bytes": grown_in_service,
                      "load_avg_before": round(load[0], 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
