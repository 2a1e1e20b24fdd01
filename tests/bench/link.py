"""Benchmark: payments through the mock GPRS modem to the reference station over a slow link.

    .venv/bin/python tests/bench/link.py [--dialect sim800|m26] [--count 200] [--latency-ms 600] [--kbps 20]

Runs the production StationClient over the production ModemTransport, driving the mock modem on a
pty (hw_mocks.modem, air link: one-way latency and bit rate per direction) bridged to the reference
station (hw_mocks.station) on 127.0.0.1.

1. one payment exchange (this also brings the modem's data context up, so the drain below
   measures the link, not the PDP activation);
2. a drain of ``count`` payments: ONE connection, every request frame written before any
   response is read (pipelining).

The limit set by latency and bit rate, for an exchange of B payload bytes (both directions) on
one new connection:

    limit = RTT (connection setup: the TCP handshake, which the mock charges as one round trip)
          + RTT (the requests' first byte out → the last response back)
          + max(bytes up, bytes down) × 8 ÷ bit rate
    with RTT = 2 × one-way latency.

GPRS carries uplink and downlink in separate timeslots, and the mock's air link is likewise full
duplex (each direction its own channel), so the larger direction's bytes set the floor: that
is the lower bound ``ratio`` is measured against (≥ 1 by construction; 1.0 = at the physics).
The serial figure (up + down) × 8 ÷ bit rate, which a half-duplex link would impose, is printed
too, as ``ratio_serial``.

Round trips used = connection setups + data round trips (StationClient.stats.round_trips counts
one per exchange: write everything, then wait).  Bytes are GT/1 frame bytes (the payload the
modem carries); TCP/IP and PPP headers are not modelled.

The last line is one JSON object:
    {"round_trips_200", "connections_200", "bytes_per_payment", "ratio", "ratio_serial"}
    ratio = drain time ÷ limit
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# run as a script, this folder comes first on sys.path, and its queue.py (the journal's benchmark)
# would shadow the standard library's queue module
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from drivers.modem.transport import ModemTransport  # noqa: E402
from hw_mocks.modem.device import MockModem  # noqa: E402
from hw_mocks.station import ledger  # noqa: E402
from hw_mocks.station.provisioning import TerminalKey  # noqa: E402
from hw_mocks.station.server import StationServer  # noqa: E402
from tests.rigs.station import load_tiny  # noqa: E402
from terminal_app.config import ModemSettings  # noqa: E402
from terminal_app.station.client import Outcome, Request, StationClient  # noqa: E402
from terminal_app.station.messages import MsgType  # noqa: E402
from terminal_app.station.protocol import Suite  # noqa: E402
from terminal_app.station.seq import FileSeqCounter  # noqa: E402
from terminal_app.timeutil import iso, now  # noqa: E402

TID = "10000042"
KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
CUSTOMERS = ["1001", "1002"] + [f"2{n:03d}" for n in range(23)]  # the tiny area of tests.rigs.station


def payment(n: int) -> Request:
    return Request(MsgType.PAYMENT, {"txn": f"{TID}-{n}", "cust": CUSTOMERS[n % len(CUSTOMERS)],
                                     "amount": 100 + n, "method": "cash", "at": iso(now()), "op": "0007"})


def measured(client: StationClient, server: StationServer, requests: list[Request]) -> dict:
    s0 = (client.stats.connections, client.stats.round_trips, client.stats.bytes_sent, client.stats.bytes_received)
    c0 = server.connections
    t0 = time.monotonic()
    results = client.exchange(requests)
    elapsed = time.monotonic() - t0
    bad = [(r.outcome, r.code, r.msg, str(r.error)) for r in results if r.outcome is not Outcome.OK]
    if bad:
        raise SystemExit(f"{len(bad)} of {len(results)} payments failed, first: {bad[0]}")
    conns = client.stats.connections - s0[0]
    if server.connections - c0 != conns:
        raise SystemExit("the station saw a different number of connections than the client opened")
    return {"elapsed": elapsed, "connections": conns, "round_trips": conns + client.stats.round_trips - s0[1],
            "up": client.stats.bytes_sent - s0[2], "down": client.stats.bytes_received - s0[3]}


def limits(m: dict, latency: float, bps: float) -> tuple[float, float]:
    rtt = 2 * latency
    serial = m["connections"] * rtt + rtt + (m["up"] + m["down"]) * 8 / bps
    duplex = m["connections"] * rtt + rtt + max(m["up"], m["down"]) * 8 / bps
    return serial, duplex


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dialect", choices=("sim800", "m26"), default="sim800")
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--latency-ms", type=int, default=600)
    ap.add_argument("--kbps", type=float, default=20.0)
    ap.add_argument("--suite", type=int, choices=(1, 2), default=2)
    args = ap.parse_args(argv)
    latency, bps = args.latency_ms / 1000, args.kbps * 1000

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "station.sqlite"
        conn = ledger.connect(db)
        try:
            load_tiny(conn)
        finally:
            conn.close()
        with StationServer(db, {TID: TerminalKey(TID, args.suite, KEY)}) as server, \
                MockModem(dialect=args.dialect, scenario="normal", latency_ms=args.latency_ms,
                          kbps=args.kbps) as modem:
            transport = ModemTransport(ModemSettings(url=modem.path, dialect=args.dialect))
            client = StationClient(terminal_id=TID, key=KEY, suite=Suite(args.suite), transport=transport,
                                   seq=FileSeqCounter(Path(tmp) / "seq"), host="127.0.0.1", port=server.port,
                                   connect_timeout=60.0, response_timeout=120.0)
            one = measured(client, server, [payment(0)])
            drain = measured(client, server, [payment(n) for n in range(1, args.count + 1)])

    print(f"link: {args.dialect} mock modem, one-way latency {args.latency_ms} ms, {args.kbps:g} kbit/s per"
          f" direction, suite {args.suite:02d}")
    for name, m, n in (("1 payment", one, 1), (f"{args.count}-payment drain", drain, args.count)):
        serial, duplex = limits(m, latency, bps)
        print(f"{name}: {m['elapsed']:.2f} s on {m['connections']} connection(s), {m['round_trips']} round trips;"
              f" {m['up']} B up + {m['down']} B down = {(m['up'] + m['down']) / n:.0f} B per payment;"
              f" {m['elapsed'] / n:.3f} s per payment")
        print(f"  limit = {m['connections']}×RTT setup + 1×RTT + (up+down)×8/rate = {serial:.2f} s"
              f" (ratio {m['elapsed'] / serial:.2f}); duplex bound with max(up, down): {duplex:.2f} s"
              f" (ratio {m['elapsed'] / duplex:.2f}); {serial / n:.3f} s per payment at the limit")
    serial, duplex = limits(drain, latency, bps)
    print(json.dumps({"round_trips_200": drain["round_trips"], "connections_200": drain["connections"],
                      "bytes_per_payment": round((drain["up"] + drain["down"]) / args.count),
                      "ratio": round(drain["elapsed"] / duplex, 3),
                      "ratio_serial": round(drain["elapsed"] / serial, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
