"""Benchmark: IR meter reads against the mock meter at 1200 baud with a 50 ms reply delay.

    .venv/bin/python tests/bench/ir_read.py

Reads total energy (00010000) and then the 5-register block (0001FF00) several times each and
compares each read with its wire-time limit: (request bytes incl. FE preamble + reply bytes)
× 11 bits ÷ baud + the meter's reply delay.  A driver that polls or sleeps shows up as a ratio
well above 1.  The last line is one JSON object: {"single_s", "block_s", "ratio", "block_ratio"}.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from drivers.ir_meter.driver import IrMeter  # noqa: E402
from drivers.ir_meter.protocol import encode_frame, encode_read  # noqa: E402
from hw_mocks.meter import MockMeter, load_profile  # noqa: E402

BAUD = 1200
DELAY_S = 0.05
ROUNDS = 5


def wire_limit(profile, di: str) -> float:
    request = encode_read(profile.address, di)
    value = profile.registers[di]
    reply = encode_frame(profile.address, 0x91, bytes.fromhex(di)[::-1] + value, b"\xFE" * profile.reply_preamble)
    return (len(request) + len(reply)) * 11 / BAUD + DELAY_S


def bench(meter: IrMeter, di: str, rounds: int, limit: float) -> float:
    times = []
    for i in range(rounds):
        start = time.perf_counter()
        meter.read(di)
        times.append(time.perf_counter() - start)
        print(f"  {di} read {i + 1}: {times[-1] * 1000:.1f} ms, ratio {times[-1] / limit:.3f}")
    return statistics.fmean(times)


def main() -> int:
    profile = dataclasses.replace(load_profile(standard="2007"), baudrate=BAUD, reply_delay_s=DELAY_S)
    with MockMeter.on_pty(profile) as mock, IrMeter(mock.url, baudrate=BAUD, address=profile.address,
                                                     standard="2007") as meter:
        single_limit = wire_limit(profile, "00010000")
        block_limit = wire_limit(profile, "0001FF00")
        single = bench(meter, "00010000", ROUNDS, single_limit)
        block = bench(meter, "0001FF00", ROUNDS, block_limit)
    print(f"single read 00010000, mean: {single * 1000:.1f} ms (wire limit {single_limit * 1000:.1f} ms)")
    print(f"block read  0001FF00, mean: {block * 1000:.1f} ms (wire limit {block_limit * 1000:.1f} ms)")
    print(json.dumps({"single_s": round(single, 4), "block_s": round(block, 4),
                      "ratio": round(single / single_limit, 3), "block_ratio": round(block / block_limit, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
