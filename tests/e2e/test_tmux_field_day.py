"""End to end: ``handheld --simulate`` in tmux at 30×16, driven by keys like an electrician's day.

Log in, download a segment, scan a meter (F6 through the mock serial scanner), read it over IR,
take a payment with a receipt, lose coverage (F8), take a payment offline, regain coverage,
sync, reverse a payment, top up a prepaid card (the mock card reader), settle.  Every step waits
on what the screen shows (capture-pane polled), never on a fixed sleep; every wait is bounded.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANDHELD = Path(sys.executable).parent / "handheld"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (bootstrap installs it)")


class Tmux:
    def __init__(self, workdir: Path, cols: int = 30, rows: int = 16) -> None:
        self.sock = f"handheld-e2e-{uuid.uuid4().hex[:8]}"
        self.workdir = workdir
        # stands in for systemd's notify socket: the UI must say READY=1 and ping WATCHDOG=1
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(workdir / "notify.sock"))
        self.notify.setblocking(False)
        self.notified: list[str] = []  # drained while polling: a datagram queue holds only ~10
        cmd = (f"cd {ROOT} && HANDHELD_SIM_DIR={workdir} TERM=xterm LANG=C.UTF-8 "
               f"NOTIFY_SOCKET={workdir / 'notify.sock'} WATCHDOG_USEC=2000000 {HANDHELD} --simulate "
               f"2>{workdir / 'stderr.txt'}; echo HANDHELD-EXIT=$?; sleep 60")
        self._tmux("new-session", "-d", "-s", "day", "-x", str(cols), "-y", str(rows), cmd)

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.sock, *args], check=True, capture_output=True, text=True,
                              timeout=10).stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "day")

    def flat(self) -> str:
        return self.screen().replace("\n", "").replace(" ", "")

    def keys(self, *keys: str) -> None:
        for k in keys:
            self._tmux("send-keys", "-t", "day", k)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "day", "-l", text)

    def wait(self, *needles: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            self.notifications()
            flat = self.flat()
            if all(n.replace(" ", "") in flat for n in needles):
                print(f"{time.monotonic() - deadline + timeout:6.2f}s {needles}")
                return flat
            if "HANDHELD-EXIT=" in flat or time.monotonic() > deadline:
                err = (self.workdir / "stderr.txt").read_text(errors="replace") if \
                    (self.workdir / "stderr.txt").exists() else ""
                raise AssertionError(f"waiting for {needles!r}; screen:\n{self.screen()}\nstderr:\n{err[-2000:]}")
            time.sleep(0.05)  # polling interval of the screen condition, not a synchronisation sleep

    def notifications(self) -> list[str]:
        while True:
            try:
                self.notified.append(self.notify.recv(4096).decode())
            except BlockingIOError:
                return self.notified

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True, timeout=10)
        self.notify.close()


@pytest.fixture
def term(tmp_path):
    t = Tmux(tmp_path)
    try:
        yield t
    finally:
        t.close()


def test_a_field_day_on_the_simulated_terminal(term, tmp_path):
    t0 = time.monotonic()
    term.wait("登录", "模拟：工号1001，密码123456", timeout=60)  # the on-screen hint a new user follows
    term.type("1001")
    term.keys("Enter")
    term.type("123456")
    term.keys("Enter")
    term.wait("主菜单", "1抄表", "F1上传")

    # 抄表: download a segment with its progress, then the route list
    term.keys("1")
    term.wait("1下载抄表段")
    term.keys("1")
    term.wait("010101石佛乡桂花村100户")
    term.keys("Enter")
    term.wait("抄表段010101：已下载100户。", "查找：")

    # scan the first customer's meter barcode (F6: the mock serial scanner) → the customer opens
    term.keys("F6")
    screen = term.wait("用户信息", "表号：")
    assert "0101010001" in screen

    # IR read through the IR driver and the mock meter; save and print the reading notice
    term.keys("F1")
    term.wait("预算电费", "F1保存")
    term.keys("F1")
    term.wait("示数已保存，通知单已打印。")

    # bill in real time, pay 30 yuan with 50 in cash, receipt printed
    term.keys("F3")
    term.wait("合计应缴", "F1收费")
    assert "离线" not in term.flat()
    term.keys("F1")
    term.wait("金额：", "实收：")
    term.keys(*["BSpace"] * 10)
    term.type("30")
    term.keys("Enter")
    term.type("50")
    term.wait("找零：20.00元")
    term.keys("Enter")
    term.wait("已收30.00元。", "凭证已打印。")
    term.keys("F1")
    term.wait("用户信息")

    # lose coverage: the bill comes from the downloaded data, the payment is journaled and waits
    term.keys("F8")
    term.wait("模拟：无信号。")
    term.keys("F3")
    term.wait("离线：", timeout=60)
    term.keys("F1")
    term.wait("金额：")
    term.keys(*["BSpace"] * 10)
    term.type("20")
    term.keys("Enter", "Enter")
    term.wait("已收20.00元。", "已保存，通道恢复后上传。", timeout=30)
    term.keys("F1")
    term.wait("用户信息")

    # regain coverage and sync from the main menu
    term.keys("F8")
    term.wait("模拟：信号恢复。")
    term.keys("Escape")
    term.wait("抄表清单")
    term.keys("Escape")
    term.wait("1下载抄表段")
    term.keys("Escape")
    term.wait("主菜单")
    term.keys("F1")
    term.wait("全部已上传主站。", timeout=60)
    term.wait("待传0")

    # reverse the 30-yuan payment (same day, own payment, with a reason)
    term.keys("2")
    term.wait("1查询用户/缴费", "2冲正")
    term.keys("2")
    term.wait("30.00", "20.00")
    term.keys("Enter")
    term.wait("冲正原因？", "1金额错误")
    term.keys("1")
    term.wait("已冲正")

    # top up the demo customer's prepaid card (the mock reader holds it), then F7: into the meter
    term.keys("Escape")
    term.wait("2冲正")
    term.keys("Escape")
    term.wait("主菜单")
    term.keys("4")
    term.wait("插入用户电卡，按F1。")
    term.keys("F1")
    term.wait("购电次数：", "金额：")
    term.type("50")
    term.keys("Enter")
    term.type("100")
    term.keys("Enter")
    term.wait("已写卡50.00元。", "找零：50.00元", timeout=30)
    term.keys("F7")
    term.wait("模拟：已拔卡并插入电表。")
    term.keys("F1", "Escape")
    term.wait("主菜单")

    # daily settlement: totals, reconciliation with the station, slip printed
    term.keys("5")
    term.wait("日结", "F1日结")
    term.keys("F1")
    term.wait("应交款：70.00元", "冲正：1笔", "与主站对账一致。", "日结单已打印。", timeout=60)

    tickets = sorted(p.read_text(encoding="utf-8") for p in (tmp_path / "tickets").glob("*.txt"))
    assert len(tickets) >= 4  # reading notice, two receipts, settlement slip
    assert any("30.00" in t for t in tickets) and any("20.00" in t for t in tickets)

    term.keys("F10")  # simulate mode: quit; every mock and device closes
    deadline = time.monotonic() + 30
    while "HANDHELD-EXIT=0" not in term.flat():
        term.notifications()
        assert time.monotonic() < deadline, term.screen()
        time.sleep(0.05)
    print(f"\nfield day in tmux: {time.monotonic() - t0:.1f} s")  # a figure, not a budget
    sent = "\n".join(term.notifications())
    assert "READY=1" in sent and "WATCHDOG=1" in sent and "STOPPING=1" in sent  # systemd's watchdog fed
    assert not any(p.is_symlink() for p in tmp_path.iterdir())  # the mocks' pty links are gone
    assert os.path.exists(tmp_path / "journal.sqlite")
