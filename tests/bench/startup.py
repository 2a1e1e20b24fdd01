"""Startup of the field UI: process start → first drawn login screen, and resident memory then.

Runs ``handheld --config FILE`` on a 30×16 pseudo-terminal (the smallest screen), with a
configuration whose devices need not exist (the login screen touches none), and measures:

* ``first_screen_s``: from spawning the process to the login screen's text arriving on the pty;
* ``urwid_import_s``: from spawning ``python -c "import urwid"`` to its exit, in the same run —
  the floor any urwid UI pays (field-facts: 10–40× slower on a small ARM board, so the ratio
  is what carries over to the device);
* ``rss_mb``: VmRSS of the UI process once the login screen is up and its CPU use has settled.

Each figure is the median of 5 runs.  Targets: ratio ≤ 2.0, rss_mb ≤ 60.  The last line is one
JSON object: {"first_screen_s", "urwid_import_s", "ratio", "rss_mb"}.
"""

from __future__ import annotations

import sys
from pathlib import Path

# tests/bench/queue.py would shadow the stdlib ``queue`` module: drop this folder from the path
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if p not in ("", _HERE)]

import fcntl  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import termios  # noqa: E402
import time  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
RUNS = 5
MARK = "登录".encode()  # the login screen's title, drawn in the first frame


def _config(tmp: Path) -> Path:
    sys.path.insert(0, str(ROOT))
    from ui.operators import OperatorStore

    OperatorStore(tmp / "operators.json").set_pin("1001", "bench", "123456")
    cfg = tmp / "config.toml"
    cfg.write_text(f'[journal]\npath = "{tmp / "journal.sqlite"}"\n\n'
                   f'[devices.scanner]\nmode = "serial"\ndevice = "{tmp / "no-scanner"}"\n\n'
                   f'[ui]\noperators_file = "{tmp / "operators.json"}"\n', encoding="utf-8")
    return cfg


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def one_ui_run(cfg: Path) -> tuple[float, float]:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 16, 30, 0, 0))
    env = dict(os.environ, TERM="xterm", LANG="C.UTF-8", HANDHELD_CONFIG=str(cfg))
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(VENV_BIN / "handheld")], stdin=slave, stdout=slave, stderr=slave, env=env,
                            close_fds=True, start_new_session=True)
    os.close(slave)
    seen = b""
    try:
        deadline = t0 + 30
        while MARK not in seen:
            if time.perf_counter() > deadline or proc.poll() is not None:
                raise RuntimeError(f"no login screen; output: {seen[-400:]!r}")
            r, _, _ = select.select([master], [], [], 0.05)
            if r:
                seen += os.read(master, 65536)
        first = time.perf_counter() - t0
        # RSS once the process is idle: CPU time unchanged over 0.2 s (the scanner thread and
        # the status timer have started by then)
        last = _cpu_ticks(proc.pid)
        while True:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                os.read(master, 65536)
            now = _cpu_ticks(proc.pid)
            if now == last:
                break
            last = now
        rss = _rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            while proc.poll() is None:
                r, _, _ = select.select([master], [], [], 0.1)
                if r:
                    try:
                        os.read(master, 65536)
                    except OSError:
                        break
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(master)
    return first, rss


def one_import_run() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import urwid"], check=True)
    return time.perf_counter() - t0


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="handheld-bench-") as d:
        cfg = _config(Path(d))
        firsts, rsss, imports = [], [], []
        for i in range(RUNS):
            imports.append(one_import_run())
            f, r = one_ui_run(cfg)
            firsts.append(f)
            rsss.append(r)
            print(f"run {i + 1}: first screen {f * 1000:.0f} ms, import urwid {imports[-1] * 1000:.0f} ms, "
                  f"RSS {r:.1f} MB")
    first, imp, rss = statistics.median(firsts), statistics.median(imports), statistics.median(rsss)
    ratio = first / imp
    print(f"first screen {first * 1000:.0f} ms = {ratio:.2f} × bare 'import urwid' ({imp * 1000:.0f} ms); "
          f"RSS {rss:.1f} MB (targets: ratio ≤ 2.0, RSS ≤ 60 MB)")
    print(json.dumps({"first_screen_s": round(first, 4), "urwid_import_s": round(imp, 4), "ratio": round(ratio, 3),
                      "rss_mb": round(rss, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
