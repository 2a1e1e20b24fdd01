"""End to end (issue 18): the route walk and yesterday's receipt, on ``handheld --simulate`` in
tmux at 30×16, driven by keys like an electrician's.

Day 1: a payment (its receipt prints).  F9: day 2.  The whole of segment 010101 (100 customers)
is walked with next-unread (F3) — each door opened by that one key, read over IR and saved;
one door is skipped with a reason (F4, 门闭) and counts as visited; the list and the status
line count up to 100/100, and F3 then says every door is visited.  One door's display is
photographed (F3 拍照 on the reading screen, the simulator's mock network camera looking at that
meter): the photo reaches the station (its photo lane), decodes, is within its 30 000-byte budget
and shows that reading's digits (nearer the mock's drawing of the saved value than of any value
one segment away).  Then the print history finds yesterday's receipt by the customer's number and
prints it again, marked 副本.

Every step waits on what the screen shows (capture-pane polled), never on a fixed sleep; every
wait is bounded.  The simulated link is the fast one (the GPRS-speed one is the field day's).
"""

from __future__ import annotations

import re
import socket
import uuid
from pathlib import Path

from tests.e2e.test_tmux_field_day import HANDHELD, ROOT, Tmux, pytestmark  # noqa: F401 — the skip mark

SEGMENT = "010101"
SKIPPED = 37  # the door skipped (门闭), by its place in the walk
PHOTOGRAPHED = 12  # the door whose display is photographed
PAYER = "0101010002"


class FastTmux(Tmux):
    """The field day's tmux harness, with ``--sim-link fast``."""

    def __init__(self, workdir: Path, cols: int = 30, rows: int = 16) -> None:
        self.sock = f"handheld-walk-{uuid.uuid4().hex[:8]}"
        self.workdir = workdir
        self.size = (cols, rows)
        self.samples = []
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(workdir / "notify.sock"))
        self.notify.setblocking(False)
        self.notified = []
        cmd = (f"cd {ROOT} && HANDHELD_SIM_DIR={workdir / 'site'} TERM=xterm LANG=C.UTF-8 "
               f"NOTIFY_SOCKET={workdir / 'notify.sock'} WATCHDOG_USEC=2000000 {HANDHELD} --simulate "
               f"--sim-link fast 2>{workdir / 'stderr.txt'}; echo HANDHELD-EXIT=$?; sleep 60")
        self._tmux("new-session", "-d", "-s", "day", "-x", str(cols), "-y", str(rows), cmd)


def test_walk_a_whole_segment_skip_a_door_and_reprint_yesterdays_receipt(tmp_path):
    term = FastTmux(tmp_path)
    try:
        walk(term, tmp_path / "site")
    finally:
        term.close()


def walk(term: Tmux, site: Path) -> None:
    term.wait("登录", "模拟：工号1001，密码123456", timeout=90)
    term.type("1001")
    term.keys("Enter")
    term.type("123456")
    term.keys("Enter")
    term.wait("主菜单", "1抄表", timeout=30)

    # the route
    term.keys("1", "1")
    term.wait(f"{SEGMENT}石佛乡桂花村100户", timeout=60)
    term.keys("Enter")
    term.wait(f"抄表段{SEGMENT}：已下载100户。", f"表段{SEGMENT}：已走访0/100", "抄0/100", timeout=120)
    term.keys("Escape", "Escape")
    term.wait("主菜单")

    # day 1: a payment, its receipt printed
    term.keys("2", "1")
    term.wait("查找：", f"{SEGMENT}0001")  # the list is there: Up goes to the search field
    term.keys("Up")
    term.type(PAYER)
    term.keys("Enter")
    term.wait("合计应缴", "F1收费", PAYER, timeout=30)
    term.keys("F1")
    term.wait("金额：", "实收：")
    term.keys("DC")
    term.type("20")
    term.keys("Enter")
    term.type("20")
    term.keys("Enter")
    flat = term.wait("已收20.00元。", "凭证号", timeout=30)
    found = re.search(r"凭证号(\d{8}-\d+)", flat)
    assert found, flat
    receipt = found.group(1)
    term.keys("F1")
    term.keys("Escape", "Escape", "Escape")
    term.wait("主菜单")

    # F9: day 2 — the walk
    term.keys("F9")
    term.wait("模拟：日期已到")
    term.keys("1", "2")
    term.wait(f"表段{SEGMENT}：已走访0/100", "F3下一户", "F4跳过", timeout=30)
    for i in range(1, 101):
        term.keys("F3")  # one key: the next door not visited
        number = f"{SEGMENT}{i:04d}"
        term.wait("用户信息", number, timeout=30)
        if i == SKIPPED:
            term.keys("Escape")
            term.wait(f"抄{i - 1}/100", number, "F3下一户")  # back on the list, on that customer
            term.keys("F4")
            term.wait("为什么没抄？", number)
            term.keys("1")  # 门闭
            term.wait(f"{number}已跳过", f"×{number}", f"抄{i}/100", timeout=30)
            continue
        term.keys("F1")  # IR read
        term.wait("F1保存", timeout=30)
        if i == PHOTOGRAPHED:
            term.wait("F3拍照", "未拍照（F3拍照）")
            term.keys("F3")
            term.wait("已拍照（", "KB）", timeout=30)
        term.keys("F1")
        term.wait("示数已保存", "用户信息", timeout=30)
        term.keys("Escape")
        # the list (its segment line scrolls away on a long route) and the status line count it
        term.wait(f"✓{number}", f"抄{i}/100", timeout=30)
    term.keys("F3")
    term.wait("今天本线路的用户都已走访。", "抄100/100")

    # yesterday's receipt: found by the customer's number, printed again as 副本
    term.keys("Escape", "Escape", "Escape")
    term.wait("主菜单", "7打印记录")
    term.keys("7")
    term.wait("打印记录", "户号：", "抄表")  # loaded (keys typed while it loads are not taken)
    term.type(PAYER)
    term.keys("Enter")
    flat = term.wait("收据", PAYER, "20.00", "抄表")
    # newest first: today's reading notice, then yesterday's receipt
    assert flat.index("抄表" + PAYER) < flat.index("收据" + PAYER), flat
    term.keys("Down", "Enter")
    term.wait("已打印（副本）。", timeout=30)

    tickets = [p.read_text(encoding="utf-8").replace(" ", "") for p in (site / "tickets").glob("*.txt")]
    mine = [t for t in tickets if f"收据号{receipt}" in t and "缴费凭证" in t]
    assert len(mine) == 2 and sum("副本" in t for t in mine) == 1, mine
    notices = [t for t in tickets if "抄表通知单" in t]
    assert len(notices) == 99  # every door read, the skipped one not
    photo_reached_the_station(site, f"{SEGMENT}{PHOTOGRAPHED:04d}")


def photo_reached_the_station(site: Path, customer: str, timeout: float = 180.0) -> None:
    """The station holds exactly one photo, of ``customer``'s reading: decodable, within budget,
    showing the value saved (the photo lane sends after money and readings: waited for, bounded)."""
    import sqlite3
    import time

    from drivers.scanner.photo import PHOTO_BUDGET
    from drivers.scanner.still import open_jpeg
    from hw_mocks.camera import lcd
    from tests.integration.test_camera_devices import difference

    deadline = time.monotonic() + timeout
    while True:
        conn = sqlite3.connect(f"file:{site / 'station.sqlite'}?mode=ro", uri=True, timeout=10)
        try:
            rows = conn.execute("SELECT p.reading, p.jpeg, p.size, r.cust, r.value FROM photos p "
                                "JOIN readings r ON r.txn = p.reading").fetchall()
        finally:
            conn.close()
        if rows or time.monotonic() > deadline:
            break
        time.sleep(0.5)  # polling the station's database for a condition, bounded by the deadline
    assert len(rows) == 1, f"photos at the station: {len(rows)}"
    _txn, jpeg, size, cust, value = rows[0]
    assert cust == customer and size == len(jpeg) <= PHOTO_BUDGET
    photo = open_jpeg(bytes(jpeg))
    near = [f"{value}"[:-1] + d for d in "0123456789" if not f"{value}".endswith(d)]
    assert difference(photo, lcd.draw(value)) < min(difference(photo, lcd.draw(v)) for v in near), value
