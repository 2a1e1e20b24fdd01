"""End to end: ``handheld --simulate`` in tmux, a whole field day driven by keys like an
electrician's — at 30×16, the smallest screen, and at 80×24.

The day (issue 13), with its bad paths: five wrong PINs and a supervisor's unlock; the route
download with its progress bar (the simulated GPRS link is as slow as the field's); a search
by the last digits; an IR read, and the same meter read again; a keyed reading below the last
one (refused on F1, saved with 表倒走); 10 000 kWh typed (typed again — wrong, then right — and
explained); the bill with its tier lines; a keypad edit that must not corrupt the amount; a
partial payment that says what is still owed, the rest paid; no signal (the status line says
so at once) and a payment that waits; signal back and sync; a reversal that asks first and
prints its voucher; a notice refused for the customer who just paid, a notice printed, a cut
refused before the deadline, a lawful cut; a visit result; a card top-up; the day-end whose
rows add up, a second day-end that is a copy, a payment refused after it; F9 (issue 14): the next
day, the cut customer's late fee grown by a day, counted on the terminal (估算) without signal and
paid in full (the reconnection released), that day's day-end comparing the estimate with the
station's figure; logging out with the count of what waits.  Every step waits on what the screen shows (capture-pane polled),
never on a fixed sleep; every wait is bounded.

``HANDHELD_FIELD_DAY_SAMPLE=docs/samples/field-day.md`` makes the 30×16 run write the screens
it saw there (how that file was made).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANDHELD = Path(sys.executable).parent / "handheld"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (bootstrap installs it)")


class Tmux:
    def __init__(self, workdir: Path, cols: int = 30, rows: int = 16, env: str = "", args: str = "") -> None:
        self.sock = f"handheld-e2e-{uuid.uuid4().hex[:8]}"
        self.workdir = workdir
        self.size = (cols, rows)
        self.samples: list[tuple[str, str]] = []
        # stands in for systemd's notify socket: the UI must say READY=1 and ping WATCHDOG=1
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(workdir / "notify.sock"))
        self.notify.setblocking(False)
        self.notified: list[str] = []  # drained while polling: a datagram queue holds only ~10
        cmd = (f"cd {ROOT} && {env}HANDHELD_SIM_DIR={workdir / 'site'} TERM=xterm LANG=C.UTF-8 "
               f"NOTIFY_SOCKET={workdir / 'notify.sock'} WATCHDOG_USEC=2000000 {HANDHELD} --simulate {args} "
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

    def wait(self, *needles: str, timeout: float = 30.0, absent: tuple[str, ...] = ()) -> str:
        deadline = time.monotonic() + timeout
        while True:
            self.notifications()
            flat = self.flat()
            if all(n.replace(" ", "") in flat for n in needles) and not any(a in flat for a in absent):
                return flat
            if "HANDHELD-EXIT=" in flat or time.monotonic() > deadline:
                err = (self.workdir / "stderr.txt").read_text(errors="replace") if \
                    (self.workdir / "stderr.txt").exists() else ""
                raise AssertionError(f"waiting for {needles!r}; screen:\n{self.screen()}\nstderr:\n{err[-2000:]}")
            time.sleep(0.05)  # polling interval of the screen condition, not a synchronisation sleep

    def shot(self, caption: str) -> None:
        """Keep the screen as it is now for the sample of the day."""
        self.samples.append((caption, self.screen().rstrip("\n")))

    def notifications(self) -> list[str]:
        while True:
            try:
                self.notified.append(self.notify.recv(4096).decode())
            except BlockingIOError:
                return self.notified

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True, timeout=10)
        self.notify.close()


def write_sample(path: Path, term: Tmux, seconds: float) -> None:
    cols, rows = term.size
    out = [f"# A field day on the simulated terminal ({cols}×{rows})", "",
           "The screens an electrician sees through one day on `handheld --simulate`, as the end-to-end test",
           "`tests/e2e/test_tmux_field_day.py` captured them (tmux `capture-pane`, the keys pressed before each",
           "screen in its caption). Made with `HANDHELD_FIELD_DAY_SAMPLE=docs/samples/field-day.md "
           ".venv/bin/python -m pytest tests/e2e -k 30x16`;",
           f"that run took {seconds:.0f} s. Times, amounts and penalties follow the day it ran (the demo area is",
           "seeded for today).", ""]
    for n, (caption, screen) in enumerate(term.samples, 1):
        out += [f"**{n}. {caption}**", "", "```text", screen, "```", ""]
    path.write_text("\n".join(out), encoding="utf-8")


#: the 80x24 run's marketing system loses its answer to the day's first payment after applying it
#: (issue 21): the station resolves it by QUERY, the payment is applied once, the check stays clean
LOSE_FIRST_ANSWER = '[[fault]]\ntrade = "2001"\nnth = 1\naction = "lose_answer"\n'


@pytest.fixture(params=[(30, 16), (80, 24)], ids=["30x16", "80x24"])
def term(request, tmp_path):
    env = ""
    if request.param == (80, 24):
        (tmp_path / "marketing.toml").write_text(LOSE_FIRST_ANSWER, encoding="utf-8")
        env = f"HANDHELD_SIM_MARKETING_SCENARIO={tmp_path / 'marketing.toml'} "
    t = Tmux(tmp_path, *request.param, env=env)
    try:
        yield t
    finally:
        t.close()


def station_tasks(site: Path, segment: str) -> list[tuple[str, bool]]:
    """(customer, notice served) of the segment's open dunning tasks, in the list's order — what
    the electrician sees marked with ! on the terminal (read from the station's ledger here)."""
    import sqlite3

    conn = sqlite3.connect(site / "station.sqlite")
    try:
        return [(c, bool(n)) for c, n in conn.execute(
            "SELECT t.cust, n.task FROM dunning_tasks t LEFT JOIN dunning_notices n ON n.task = t.task"
            " WHERE t.segment = ? AND t.state = 'open' ORDER BY t.task", (segment,))]
    finally:
        conn.close()


def amount_after(flat: str, label: str) -> Decimal:
    m = re.search(re.escape(label) + r"(-?\d+\.\d\d)", flat)
    assert m, (label, flat)
    return Decimal(m.group(1))


def daily_check(site: Path, day: str) -> dict:
    """``handheld-mocks station check`` of one business day against the simulator's marketing
    system, as a station operator runs it; asserts it exits 0 (no alarm)."""
    import json

    address = (site / "marketing.addr").read_text(encoding="ascii").strip()
    proc = subprocess.run([str(HANDHELD.parent / "handheld-mocks"), "station", "check", "--day", day, "--db",
                           str(site / "station.sqlite"), "--marketing", address], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def marketing_rows(site: Path, sql: str) -> list[tuple]:
    import sqlite3

    conn = sqlite3.connect(site / "marketing.sqlite")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_field_day_on_the_simulated_terminal(term, tmp_path):
    import datetime as dt

    from terminal_app.timeutil import SHANGHAI

    t0 = time.monotonic()
    first_day = dt.datetime.now(SHANGHAI).date()  # the simulator's station clock starts at today
    site = tmp_path / "site"
    term.wait("登录", "模拟：工号1001，密码123456", timeout=90)  # the on-screen hint a new user follows
    term.shot("The login screen of `handheld --simulate`")

    # five wrong PINs lock the operator; a supervisor unlocks it on the device
    term.type("1001")
    term.keys("Enter")
    for left in (4, 3, 2, 1):
        term.type("000000")
        term.keys("Enter")
        term.wait(f"还可试{left}次")
    term.type("000000")
    term.keys("Enter")
    term.wait("已锁定", "主管在本机解锁")
    term.shot("Five wrong PINs: the operator is locked")
    term.keys("F3")
    term.wait("主管解锁", "被锁工号：1001")
    term.type("9001")
    term.keys("Enter")
    term.type("888888")
    term.keys("F4")
    term.wait("工号1001已解锁。")
    term.keys("Down")
    term.type("123456")
    term.keys("Enter")
    term.wait("主菜单", "1抄表", "F1上传", "在线")
    term.shot("Logged in after the supervisor's unlock: the main menu, 在线 on the status line")

    # 抄表: the segment list, the download with its progress bar (a GPRS-speed link, 4 pages)
    term.keys("1")
    term.wait("1下载抄表段")
    term.keys("1")
    term.wait("010101石佛乡桂花村100户", timeout=60)
    term.keys("Enter")
    term.wait("正在下载抄表段010101", "/4", timeout=60)
    term.shot("The route download, with its progress bar")
    term.wait("抄表段010101：已下载100户。", "查找：", timeout=120)

    # search by the last digits of the number: one customer, opened at once
    term.keys("Up")
    term.type("001")
    term.keys("Enter")
    screen = term.wait("用户信息", "0101010001", "上次示数：")
    last = amount_after(screen, "上次示数：")
    owed = amount_after(screen, "欠费：")
    term.shot("Search by the last digits «001»: the customer card")

    # IR read and save; then the same meter again (the second read used to fail on the pty)
    term.keys("F1")
    term.wait("预算电费", "F1保存", timeout=30)
    term.shot("An IR read: use, tier lines, bill estimate")
    term.keys("F1")
    term.wait("示数已保存，通知单已打印。")
    term.keys("F1")
    term.wait("预算电费", "F1保存", timeout=30)
    assert "无法打开" not in term.flat()
    term.shot("The same meter read again")
    term.keys("Escape")
    term.wait("用户信息")

    # a keyed reading below the last one: F1 refuses, F2 offers the codes that account for it
    term.keys("F2")
    term.wait("输入示数，F1选原因")
    term.keys("F1")
    term.wait("1红外抄不到")
    term.keys("1")
    term.type(f"{last - 1:.2f}")
    term.keys("Enter")
    term.wait("小于上次示数")
    term.keys("F1")
    term.wait("必须选异常代码（F2）才能保存")
    term.shot("A reading below the last one: F1 is refused")
    term.keys("F2")
    term.wait("1表倒走", "2换表", absent=("门闭",))
    term.keys("1")
    term.wait("异常：表倒走", "F1确认并保存")  # the code picked is confirmed, not saved at once
    term.keys("F1")
    term.wait("示数已保存，通知单已打印。")

    # 10 000 kWh on a household: typed again (wrong, then right), then explained
    term.keys("F2", "F1")
    term.wait("1红外抄不到")
    term.keys("1")
    jump = f"{last + 10000:.2f}"
    term.type(jump)
    term.keys("Enter")
    term.wait("超过平时")
    term.shot("10 000 kWh on a household: far above its usual use")
    term.keys("F1")
    term.wait("再输入一次示数")
    term.type(f"{last:.2f}")
    term.keys("Enter")
    term.wait(f"与{jump}不符")
    term.type(jump)
    term.keys("Enter")
    term.wait("用电量突增的原因", "1新增用电设备")
    term.shot("Typed again: now the reason")
    term.keys("1")
    term.wait("示数已保存，通知单已打印。")

    # the bill, its tier lines, a keypad edit, a partial payment that says what is still owed
    term.keys("F3")
    term.wait("合计应缴", "今日已抄", "F1收费", timeout=30)
    term.shot("The bill: today's reading tier by tier")
    term.keys("F1")
    term.wait("金额：", "实收：")
    term.keys("DC")  # the clear key
    term.type("219.04")
    term.keys("Enter", "Up", "Left", "Home", "BSpace")  # the cursor stays at the end
    term.type("5")
    term.wait("金额：219.05")
    term.shot("A keypad edit: Up, Left, Home move nothing; Backspace takes the last digit")
    term.keys("DC")
    term.type("50")
    term.keys("Enter")
    term.type("100")
    term.wait("找零：50.00元")
    term.keys("Enter")
    term.wait("已收50.00元。", f"尚欠：{owed - 50:.2f}元", "已上传主站。", timeout=30)
    term.shot("A partial payment: what is still owed; sent at once")
    term.keys("F1")
    term.wait("用户信息", f"欠费：{owed - 50:.2f}元")
    term.shot("Back on the card: the arrears follow the payment")
    term.keys("F3")
    term.wait("合计应缴", "F1收费", timeout=30)
    term.keys("F1")
    term.wait("金额：")
    term.keys("Enter", "Enter")  # the rest, exact cash
    term.wait(f"已收{owed - 50:.2f}元。", "已上传主站。", timeout=30)
    term.keys("F1")
    term.wait("用户信息", "欠费：0.00元")

    # no signal: the status line says so at once; a payment is journaled and waits
    term.keys("F8")
    term.wait("····无信号", "模拟：无信号。", timeout=15)  # the status line, from the modem's CREG/CSQ
    term.shot("No signal: the status line says so at once")
    term.keys("Escape")
    term.wait("抄表清单")
    term.keys("Up", "DC")
    term.type("002")
    term.keys("Enter")
    term.wait("用户信息", "0101010002")
    term.keys("F3")
    term.wait("离线：", timeout=60)
    term.keys("F1")
    term.wait("金额：")
    term.keys("DC")
    term.type("20")
    term.keys("Enter", "Enter")
    term.wait("已收20.00元。", "已保存，通道恢复后上传。", "待传1", timeout=60)
    term.shot("A payment without signal: journaled, printed, waiting")
    term.keys("F1")
    term.wait("用户信息")

    # signal back: sync from the main menu
    term.keys("F8")
    term.wait("模拟：信号恢复。", "在线", timeout=15)
    for _ in range(3):
        term.keys("Escape")
    term.wait("主菜单")
    term.keys("F1")
    term.wait("全部已上传主站。", "待传0", timeout=60)

    # reversal: the payment, the reason, the confirmation, the voucher
    term.keys("2")
    term.wait("1查询用户/缴费", "2冲正")
    term.keys("2")
    term.wait("20.00", "50.00")
    term.keys("Down", "Down", "Enter")  # the third payment of the day: the 20 yuan taken without signal
    term.wait("冲正原因？", "1金额错误")
    term.keys("1")
    term.wait("确认冲正这笔收费？", "原因：金额错误", "F1确认")
    term.shot("A reversal asks first: who, how much, why")
    term.keys("F1")
    term.wait("已冲正", "冲正凭证已打印。", timeout=30)
    term.keys("Escape", "Escape", "Escape")
    term.wait("主菜单")

    # dunning: no notice for the customer who just paid; a notice; no cut before its deadline
    tasks = station_tasks(site, "010101")
    fresh = next(i for i, (cust, served) in enumerate(tasks) if not served and cust != "0101010001")
    overdue = next(cust for cust, served in tasks if served and cust not in ("0101010001", "0101010002"))
    term.keys("3")
    term.wait("表段号：")
    term.type("010101")
    term.keys("Enter")
    term.wait("0101010001", "F1催费单", timeout=60)
    assert tasks[0][0] == "0101010001"
    term.keys("F1")  # the first task: 0101010001, paid up this morning
    term.wait("现已无欠费：不打印催费单", timeout=30)
    term.shot("No dunning notice for a customer who has paid")
    term.keys(*["Down"] * fresh, "F1")
    term.wait(f"已打印{tasks[fresh][0]}的催费单：", "前缴清", timeout=30)
    term.shot("A notice for what is owed now, with its deadline")
    term.keys("F2")
    term.wait("停电前核查", f"户号：{tasks[fresh][0]}")
    term.keys("F1")
    term.wait("不得停电：", "未到", timeout=30)
    term.shot("The check before cutting: the notice's deadline has not passed")
    # a task whose notice was served two weeks ago (marked ! in the list): the lawful cut
    term.keys("DC")
    term.type(overdue)
    term.keys("F1")
    term.wait("可以停电", "F2已停电", timeout=30)
    term.shot("A lawful cut: notice served, deadline passed, arrears re-checked now")
    term.keys("F2")
    term.wait("已登记停电；复电任务待缴费后放行。", timeout=30)
    term.keys("Escape")
    term.wait("F3结果")
    term.keys("F3")
    term.wait("催费结果：", "2无人")
    term.keys("2")
    term.wait("已登记", timeout=30)
    term.keys("Escape")
    term.wait("主菜单")

    # top up the demo customer's prepaid card, then F7: into the meter
    term.keys("4")
    term.wait("插入用户电卡，按F1。")
    term.keys("F1")
    term.wait("购电次数：", "金额：", timeout=30)
    term.type("50")
    term.keys("Enter")
    term.type("100")
    term.keys("Enter")
    term.wait("已写卡50.00元。", "找零：50.00元", timeout=60)
    term.keys("F7")
    term.wait("模拟：已拔卡并插入电表。")
    term.keys("F1", "Escape")
    term.wait("主菜单")

    # day-end: the slip's rows add up; a second one is the same slip, as a copy
    term.keys("5")
    term.wait("日结", "F1日结")
    term.keys("F1")
    screen = term.wait("购电1笔50.00元", "冲正1笔-20.00元", "与主站对账一致。", "日结单已打印。", timeout=60)
    rows = [Decimal(a) for a in re.findall(r"笔(-?\d+\.\d\d)元", screen)]
    assert sum(rows) == amount_after(screen, "应交款：")  # the rows add up to the cash to hand in
    term.shot("The day-end: every row, the reversal's amount and card top-ups included, adds up")
    term.keys("F1")
    term.wait("今日已日结：补打同一张日结单（副本）。", timeout=30)
    term.shot("A second day-end: the same slip, printed as a copy")
    term.keys("Escape")
    term.wait("主菜单")
    term.keys("2", "1")
    term.wait("查找：", "0101010003")  # the list is loaded (keys are ignored while a task runs)
    term.keys("Up")
    term.type("003")
    term.keys("Enter")
    term.wait("0101010003", "合计应缴", timeout=30)
    term.keys("F1")
    term.wait("金额：")
    term.keys("DC")
    term.type("10")
    term.keys("Enter", "Enter")
    term.wait("已日结：当日不再收费", timeout=30)
    term.shot("After the day-end: no more money today")
    for _ in range(5):
        term.keys("Escape")
    term.wait("主菜单")

    # F9 (simulate mode): the next day on the station's clock and the terminal's. The customer cut
    # this morning owes a day's more late fee (违约金), counted to the new day
    term.keys("F9")
    term.wait("模拟：日期已到")
    term.keys("2", "1")
    term.wait("查找：", "0101010003")
    term.keys("Up")
    term.type(overdue)
    term.keys("Enter")
    term.wait(overdue, "含违约金计至", "合计应缴", timeout=30, absent=("估算",))
    term.shot("F9, the next day: the late fee of the customer cut yesterday, counted to today")
    # without signal the terminal counts it itself, by the station's rule: marked 估算
    term.keys("F8")
    term.wait("····无信号", timeout=15)
    term.keys("F2")
    screen = term.wait("离线：", "含违约金计至", "（估算）", "合计应缴", timeout=60)
    due = amount_after(screen, "合计应缴：")
    term.shot("No signal: the same late fee, counted on the terminal (估算)")
    term.keys("F1")
    term.wait("金额：")
    term.keys("Enter", "Enter")  # all of it, exact cash: a new business day takes money again
    term.wait(f"已收{due:.2f}元。", "欠费已缴清：复电任务已放行。", "已保存，通道恢复后上传。", timeout=60)
    term.shot("Paid in full without signal: the reconnection task is released")
    term.keys("F1", "F8")
    term.wait("模拟：信号恢复。", "在线", timeout=15)
    # back to the main menu (the list, the charging menu): no Esc may be left for the next key to
    # join (ESC then 5 within the escape timeout reads as Alt+5)
    term.keys("Escape", "Escape")
    term.wait("主菜单", "待传0", timeout=60)  # the payment went up when the signal came back
    # the new day's day-end: the estimated late fee against the station's; the rows still add up
    term.keys("5")
    term.wait("日结", "F1日结")
    term.keys("F1")
    screen = term.wait("违约金估算：", "主站核定违约金：", "违约金差额：￥0.00", "与主站对账一致。", "日结单已打印。",
                       timeout=60)
    rows = [Decimal(a) for a in re.findall(r"笔(-?\d+\.\d\d)元", screen)]
    assert sum(rows) == amount_after(screen, "应交款：") == due
    term.shot("The next day's day-end: the estimated late fee against the station's figure")
    term.keys("Escape")
    term.wait("主菜单")

    # logging out says what still waits; then quit
    term.keys("F4")
    term.wait("全部已上传主站。", "F1退出", timeout=30)
    term.shot("Logging out asks first")
    term.keys("F1")
    term.wait("登录", "工号：")

    tickets = {p.name: p.read_text(encoding="utf-8") for p in (site / "tickets").glob("*.txt")}
    text = "\n".join(tickets.values())
    assert "抄表异常：表倒走" in text.replace(" ", "") and "电量突增原因" in text.replace(" ", "")
    assert "尚欠金额" in text and "冲正凭证" in text and "重打/副本" in text and "COPY" not in text
    assert sum("日结单" in t for t in tickets.values()) >= 3  # the slip, its copy, the next day's
    assert "其中违约金（估算）" in text and "违约金差额" in text  # the late fee counted offline, then checked

    # 每日账务核对 (issue 21): both business days against the marketing system behind the station —
    # no alarm; every payment applied once on both sides
    checks = [daily_check(site, (first_day + dt.timedelta(days=n)).isoformat()) for n in (0, 1)]
    assert [c["alarms"] for c in checks] == [0, 0] and all(c["station"]["count"] for c in checks), checks
    assert all(c["station"] == c["marketing"] for c in checks), checks
    paid = marketing_rows(site, "SELECT txn, count(*) FROM payments GROUP BY txn")
    assert paid and all(n == 1 for _t, n in paid)
    if term.size == (80, 24):  # the lost answer was asked about (QUERY, trade 2101), never paid twice
        assert marketing_rows(site, "SELECT count(*) FROM mkt_serials WHERE code = '2001'") == [(len(paid),)]
        queries = [bytes(r) for (r,) in marketing_rows(site, "SELECT raw FROM mkt_log WHERE direction = 'in'")
                   if b"|2101|" in bytes(r)]
        assert len(queries) == 1, queries

    term.keys("F10")  # simulate mode: quit; every mock and device closes
    deadline = time.monotonic() + 30
    while "HANDHELD-EXIT=0" not in term.flat():
        term.notifications()
        assert time.monotonic() < deadline, term.screen()
        time.sleep(0.05)
    seconds = time.monotonic() - t0
    print(f"\nfield day in tmux at {term.size[0]}×{term.size[1]}: {seconds:.1f} s")  # a figure, not a budget
    sent = "\n".join(term.notifications())
    assert "READY=1" in sent and "WATCHDOG=1" in sent and "STOPPING=1" in sent  # systemd's watchdog fed
    assert not any(p.is_symlink() for p in site.iterdir())  # the mocks' pty links are gone
    assert os.path.exists(site / "journal.sqlite") and (site / "tickets").is_dir()  # kept
    sample = os.environ.get("HANDHELD_FIELD_DAY_SAMPLE")
    if sample and term.size == (30, 16):
        write_sample(ROOT / sample, term, seconds)
