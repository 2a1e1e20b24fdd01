"""The supervisors' console in a real headless browser (Playwright driving Debian's chromium): the
reference station serves terminals over TCP and the console over HTTP in the same test; a terminal's
PAYMENT (StationClient, the terminal's own client code) appears in 在途资金 without a reload; a
supervisor records the hand-in and acknowledges an alarm the station's daily check raised on a
real discrepancy (a payment the marketing system never booked); an auditor finds the txn in the audit
and verifies the chain; an administrator assigns a segment; each role is refused another's page.

Every wait is Playwright's own bounded wait on what the page shows (expect(...) with a timeout),
never a fixed sleep.  ``CONSOLE_SCREENSHOTS=docs/samples/console`` writes each page at phone
(390 px) and desktop (1280 px) widths there (how those files were made); otherwise they go to the
test's temporary directory.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
from contextlib import closing
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and os.environ.get("HANDHELD_REQUIRE_BROWSER"):  # CI: a missing browser is a failure
    raise RuntimeError("HANDHELD_REQUIRE_BROWSER is set but chromium is not installed (apt-get install chromium)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install"
                                " chromium; packaging/bootstrap.sh installs it)")


from hw_mocks.marketing.server import MarketingServer  # noqa: E402
from hw_mocks.marketing.store import connect as mkt_connect  # noqa: E402
from hw_mocks.station import ledger  # noqa: E402
from hw_mocks.station.check import run_check  # noqa: E402
from hw_mocks.station.console import app as console  # noqa: E402
from hw_mocks.station.console import store, terminals  # noqa: E402
from hw_mocks.station.console.conns import make_server  # noqa: E402
from hw_mocks.station.provisioning import TerminalKey  # noqa: E402
from hw_mocks.station.server import StationServer  # noqa: E402
from terminal_app.station.client import Request, StationClient  # noqa: E402
from terminal_app.station.messages import MsgType  # noqa: E402
from terminal_app.station.protocol import Suite  # noqa: E402
from terminal_app.station.seq import FileSeqCounter  # noqa: E402
from terminal_app.station.transport import SocketTransport  # noqa: E402
from terminal_app.timeutil import SHANGHAI, FixedClock, iso  # noqa: E402
from tests.rigs.station import load_tiny  # noqa: E402

expect = sync_api.expect
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)
K1 = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
TERMINALS = {"00000001": TerminalKey("00000001", 2, K1)}
PASSWORD = "browser test 22"
WAIT_MS = 15_000
WIDTHS = {"phone": 390, "desktop": 1280}


def day_before(tmp_path, db):
    """The day before, for real: a front end run without the marketing system (no ``--marketing``)
    applied a payment the marketing system never booked; the station's daily check against the
    marketing system (hw_mocks.station.check, the code ``handheld-mocks station check`` runs) finds
    it — the alarm the supervisor acknowledges; the cash was handed in that evening."""
    yesterday = NOW - dt.timedelta(days=1)
    mdb = tmp_path / "marketing.sqlite"
    with closing(mkt_connect(mdb)) as conn:
        load_tiny(conn)
    mkt = MarketingServer(mdb, clock=FixedClock(at=NOW)).start()
    try:
        with StationServer(db, TERMINALS, clock=FixedClock(at=yesterday), idle_timeout=5.0) as old:
            pay_at(old.port, tmp_path, "00000001-100", 5000, yesterday)
        with closing(ledger.connect(db)) as conn:
            res = run_check(conn, yesterday.date(), mkt.address, report_dir=tmp_path, clock=FixedClock(at=NOW))
            assert [(a.kind, a.txn) for a in res.alarms] == [("missing_at_marketing", "00000001-100")]
            store.record_handin(conn, "00000001", 5000, "sup", "昨日交款")
    finally:
        mkt.stop()


@pytest.fixture
def rig(tmp_path):
    db = tmp_path / "station.sqlite"
    with closing(ledger.connect(db)) as conn:
        load_tiny(conn)
        store.ensure_schema(conn)
        for name, role in (("admin", "administrator"), ("sup", "supervisor"), ("aud", "auditor")):
            console.add_user(conn, name, role, PASSWORD, "test")
    day_before(tmp_path, db)
    terms = tmp_path / "terminals.toml"
    terminals.write(terms, TERMINALS)
    with StationServer(db, TERMINALS, clock=FixedClock(at=NOW), idle_timeout=5.0) as station:
        web = make_server("127.0.0.1", 0, console.create_app(db, terminals_file=terms,
                                                             on_terminals_change=station.set_terminals))
        thread = threading.Thread(target=web.serve_forever, daemon=True)
        thread.start()
        yield {"db": db, "url": f"http://127.0.0.1:{web.server_port}", "station": station, "tmp": tmp_path}
    web.shutdown()
    thread.join(timeout=10)
    web.server_close()


@pytest.fixture
def browser():
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def shots_dir(rig) -> Path:
    d = Path(os.environ.get("CONSOLE_SCREENSHOTS") or rig["tmp"] / "shots")
    d.mkdir(parents=True, exist_ok=True)
    return d


def shoot(page, rig, name):
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=str(shots_dir(rig) / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


def log_in(browser, rig, user):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(rig["url"] + "/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]:has-text('登录')")
    expect(page.locator("header .who")).to_contain_text(user, timeout=WAIT_MS)
    return page


def pay(rig, txn, amount):
    return pay_at(rig["station"].port, rig["tmp"], txn, amount, NOW)


def report_unsynced(rig, count, oldest):
    t = TERMINALS["00000001"]
    c = StationClient(terminal_id="00000001", key=t.key, suite=Suite(t.suite), transport=SocketTransport(),
                      seq=FileSeqCounter(rig["tmp"] / "seq"), host="127.0.0.1", port=rig["station"].port,
                      connect_timeout=5, response_timeout=5, clock=FixedClock(at=NOW))
    c.call(Request(MsgType.HELLO, {"op": "7", "app": "0.1.0", "unsynced": {"count": count, "oldest": oldest}}))


def pay_at(port, tmp, txn, amount, at):
    t = TERMINALS["00000001"]
    c = StationClient(terminal_id="00000001", key=t.key, suite=Suite(t.suite), transport=SocketTransport(),
                      seq=FileSeqCounter(tmp / "seq"), host="127.0.0.1", port=port,
                      connect_timeout=5, response_timeout=5, clock=FixedClock(at=at))
    c.hello("7", "0.1.0")
    return c.call(Request(MsgType.PAYMENT, {"txn": txn, "cust": "1001", "amount": amount, "method": "cash",
                                            "at": iso(at), "op": "7"}))


def test_supervisor_sees_a_payment_arrive_without_reloading_and_records_the_handin(browser, rig):
    page = log_in(browser, rig, "sup")
    expect(page.locator("h1")).to_have_text("在途资金")
    expect(page.locator("#transit tbody")).to_contain_text("没有在途资金")
    shoot(page, rig, "login-then-transit-empty")
    page.evaluate("window.__sameDocument = true")  # gone if the page were reloaded
    pay(rig, "00000001-1", 10300)
    row = page.locator("#transit tbody tr[data-terminal='00000001']")
    expect(row).to_contain_text("103.00", timeout=WAIT_MS)
    expect(page.locator("#total-cash")).to_have_text("103.00")
    assert page.evaluate("window.__sameDocument") is True
    pay(rig, "00000001-2", 2000)
    expect(row.locator("td.cash")).to_have_text("123.00", timeout=WAIT_MS)
    assert page.evaluate("window.__sameDocument") is True
    expect(row.locator("td.unsynced")).to_have_text("?")  # the terminal never reported its journal
    report_unsynced(rig, 3, "2026-11-24T09:41:07+08:00")  # as the terminal's sync does behind a batch
    expect(row.locator("td.unsynced")).to_have_text("2026-11-24T09:41:07+08:00 (3)", timeout=WAIT_MS)
    shoot(page, rig, "transit")
    row.locator("input[name=note]").fill("王师傅交款")
    row.locator("button[type=submit]").click()
    expect(page.locator(".flash")).to_contain_text("已登记交款", timeout=WAIT_MS)
    # the cash is handed in, but the terminal still holds entries unsent: it stays listed
    expect(row.locator("td.cash")).to_have_text("0.00")
    expect(row.locator("td.unsynced")).to_have_text("2026-11-24T09:41:07+08:00 (3)")
    assert row.locator("form.handin").count() == 0
    report_unsynced(rig, 0, None)  # its next sync got everything through: nothing in transit
    expect(row).to_have_count(0, timeout=WAIT_MS)
    page.reload()
    expect(page.locator("#transit tbody")).to_contain_text("没有在途资金")
    with closing(ledger.connect(rig["db"])) as conn:
        assert conn.execute("SELECT terminal, amount, count, by_user, note FROM handins ORDER BY id").fetchall() == [
            ("00000001", 5000, 1, "sup", "昨日交款"), ("00000001", 12300, 2, "sup", "王师傅交款")]


def test_supervisor_acknowledges_an_alarm_and_browses_collections(browser, rig):
    pay(rig, "00000001-1", 10300)
    page = log_in(browser, rig, "sup")
    page.click("nav a:has-text('账务核对')")
    alarm = page.locator("#alarm-1")
    expect(alarm).to_contain_text("营销系统无此笔")
    shoot(page, rig, "checks")
    alarm.locator("input[name=note]").fill("已与营销系统核实，补录")
    alarm.locator("button[type=submit]").click()
    expect(page.locator("#alarm-1 .ack")).to_contain_text("sup", timeout=WAIT_MS)
    expect(page.locator("#alarm-1 .ack")).to_contain_text("已与营销系统核实，补录")
    page.click("nav a:has-text('收费统计')")
    expect(page.locator("main table").first).to_contain_text("103.00")
    page.click("nav.tabs a:has-text('按乡镇')")
    expect(page.locator("main table").first).to_contain_text("石佛乡")
    expect(page.locator("img.chart")).to_be_visible()
    shoot(page, rig, "collections")
    # a supervisor cannot open the auditor's or the administrator's pages
    for path in ("/audit", "/routes", "/users"):
        assert page.goto(rig["url"] + path).status == 403


def test_auditor_finds_the_txn_and_verifies_the_chain(browser, rig):
    pay(rig, "00000001-9", 5000)
    page = log_in(browser, rig, "aud")
    expect(page.locator("h1")).to_have_text("审计")
    page.fill("input[name=txn]", "00000001-9")
    page.click("form.search button[type=submit]")
    frames = page.locator("section.frame")
    expect(frames.first).to_be_visible(timeout=WAIT_MS)
    assert frames.count() == 2  # the request and its answer
    expect(frames.first.locator("pre.body")).to_contain_text("00000001-9")
    expect(frames.first.locator("pre.raw")).not_to_be_empty()
    shoot(page, rig, "audit")
    page.click("button:has-text('立即校验审计链')")
    expect(page.locator("#verdict")).to_contain_text("完整", timeout=WAIT_MS)
    shoot(page, rig, "audit-verified")
    for path in ("/transit", "/routes", "/collections"):
        assert page.goto(rig["url"] + path).status == 403


def test_administrator_provisions_a_terminal_and_assigns_a_segment(browser, rig):
    page = log_in(browser, rig, "admin")
    expect(page.locator("h1")).to_have_text("终端")
    page.fill("#provision input[name=terminal]", "00000077")
    page.click("#provision button[type=submit]")
    key = page.locator("#keyonce code").inner_text(timeout=WAIT_MS)
    assert key == rig["station"].terminals["00000077"].key.hex()  # the station beside it took it at once
    shoot(page, rig, "terminals-key-once")
    page.goto(rig["url"] + "/terminals")
    expect(page.locator("main table")).to_contain_text("00000077")
    assert key not in page.content()
    page.click("nav a:has-text('抄表段')")
    page.select_option("select[name=segment]", "S2")
    page.fill("input[name=operator]", "0042")
    page.click("#assign button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("表段 S2 已分配给操作员 0042", timeout=WAIT_MS)
    expect(page.locator("main table tr:has(td:text-is('S2'))")).to_contain_text("0042")
    shoot(page, rig, "routes")
    page.click("nav a:has-text('用户')")
    shoot(page, rig, "users")
    for path in ("/transit", "/audit", "/checks"):
        assert page.goto(rig["url"] + path).status == 403


def hello_used(rig, used):
    t = TERMINALS["00000001"]
    c = StationClient(terminal_id="00000001", key=t.key, suite=Suite(t.suite), transport=SocketTransport(),
                      seq=FileSeqCounter(rig["tmp"] / "seq"), host="127.0.0.1", port=rig["station"].port,
                      connect_timeout=5, response_timeout=5, clock=FixedClock(at=NOW))
    return c.call(Request(MsgType.HELLO, {"op": "7", "app": "0.1.0", "used_resets": used}))


def test_supervisor_resets_an_operators_pin_seen_once_then_used_on_a_terminal(browser, rig):
    page = log_in(browser, rig, "sup")
    page.click("nav a:has-text('重置密码')")
    expect(page.locator("h1")).to_have_text("重置操作员密码")
    shoot(page, rig, "pin-reset-form")
    page.fill("#reset input[name=operator]", "0007")
    page.click("#reset button[type=submit]")
    pin = page.locator("#pinonce code").inner_text(timeout=WAIT_MS)
    assert len(pin) == 6 and pin.isdigit()
    shoot(page, rig, "pin-reset-pin-once")
    rid = page.locator("#pinonce .small").inner_text().split()[-1]
    (listed,) = hello_used(rig, [])["params"]["pin_resets"]  # what a terminal fetches with HELLO
    assert listed["id"] == rid and listed["op"] == "0007" and pin not in str(listed)
    page.goto(rig["url"] + "/pin-reset")
    assert pin not in page.content()
    expect(page.locator("main table")).to_contain_text(rid)
    # a terminal reports the one-time PIN used: the list says where, HELLO hands it out no more
    assert hello_used(rig, [rid])["params"]["pin_resets"] == []
    page.reload()
    expect(page.locator(f"main table tr:has(code:text-is('{rid}')) td.used")).to_contain_text("00000001")
