"""The supervisors' console (issue 22) through Flask's test client on a real ledger: log-in, session
expiry, CSRF, the role of every page and action, the action trail, hand-ins and alarm handling."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from contextlib import closing

import pytest

pytest.importorskip("flask")

from hw_mocks.station import ledger  # noqa: E402
from hw_mocks.station.console import app as console  # noqa: E402
from hw_mocks.station.console import store  # noqa: E402
from tests.rigs.station import load_tiny, rows  # noqa: E402

PASSWORD = "correct horse 22"
USERS = {"admin": "administrator", "sup": "supervisor", "aud": "auditor"}


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch):
    # the production argon2 cost makes each log-in ~0.1 s; the tests log in a hundred times
    from argon2 import PasswordHasher
    monkeypatch.setattr(console, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def db(ledger_target):  # the whole module on SQLite and on PostgreSQL
    path = ledger_target
    with closing(ledger.connect(path)) as conn:
        load_tiny(conn)
        store.ensure_schema(conn)
        for name, role in USERS.items():
            console.add_user(conn, name, role, PASSWORD, "test")
        # two payments synced from terminal 00000001, one from 00000002; one check with an alarm
        conn.execute("BEGIN")
        for txn, term, amount in (("T-1", "00000001", 1200), ("T-2", "00000001", 800), ("T-3", "00000002", 500)):
            conn.execute("INSERT INTO payments VALUES (?, ?, '7', '1001', ?, 'cash', '2026-11-24T10:00:00+08:00',"
                         " '2026-11-24', ?, 0, '2026-11-24T10:05:00+08:00', NULL, NULL)", (txn, term, amount, "R" + txn))
        conn.execute("INSERT INTO checks (day, at, station_count, station_amount, mkt_count, mkt_amount, alarms)"
                     " VALUES ('2026-11-24', '2026-11-25T01:00:00+08:00', 3, 2500, 2, 2000, 1)")
        conn.execute("INSERT INTO check_alarms (check_id, day, kind, txn, terminal, station_amount, mkt_amount,"
                     " detail, at) VALUES (1, '2026-11-24', 'missing_at_marketing', 'T-3', '00000002', 500, NULL,"
                     " 'no such serial', '2026-11-25T01:00:00+08:00')")
        conn.execute("INSERT INTO check_originals (check_id, direction, raw) VALUES (1, 'in', ?)",
                     (b"3001|page 1|ORIGINAL-TEXT",))
        conn.execute("COMMIT")
    return path


@pytest.fixture
def terms_file(tmp_path):
    from hw_mocks.station.console import terminals
    from hw_mocks.station.provisioning import TerminalKey

    path = tmp_path / "terminals.toml"
    terminals.write(path, {"00000001": TerminalKey("00000001", 2, bytes.fromhex("000102030405060708090a0b0c0d0e0f"))})
    return path


@pytest.fixture
def changes():
    return []


@pytest.fixture
def app(db, terms_file, changes):
    a = console.create_app(db, terminals_file=terms_file, on_terminals_change=changes.append)
    a.config["TESTING"] = True
    yield a
    console.close(a)


def csrf(client, path="/login"):
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(client, user, password=PASSWORD):
    return client.post("/login", data={"username": user, "password": password, "csrf_token": csrf(client)})


def actions(db):
    return rows(db, "SELECT username, action, detail FROM console_actions ORDER BY id")


#: one request per endpoint: (method, path, form) — every endpoint that needs a role is listed
REQUESTS = {
    "transit": ("GET", "/transit", None),
    "transit_json": ("GET", "/transit.json", None),
    "handin": ("POST", "/transit/handin", {"terminal": "00000001", "amount_fen": "2000", "note": "x"}),
    "checks_page": ("GET", "/checks", None),
    "check_detail": ("GET", "/checks/1", None),
    "alarm_ack": ("POST", "/alarms/1/ack", {"note": "checked"}),
    "audit_page": ("GET", "/audit?terminal=00000001", None),
    "audit_verify": ("POST", "/audit/verify", {}),
    "collections": ("GET", "/collections?by=segment", None),
    "collections_csv": ("GET", "/collections.csv?by=day", None),
    "collections_svg": ("GET", "/collections.svg?by=operator", None),
    "routes": ("GET", "/routes", None),
    "assign_segment": ("POST", "/routes/assign", {"segment": "S1", "operator": "7"}),
    "users": ("GET", "/users", None),
    "pin_reset": ("POST", "/pin-reset", {"operator": "1001"}),
    "terminals_page": ("GET", "/terminals", None),
    "terminal_change": ("POST", "/terminals/change", {"terminal": "00000009", "what": "provision", "suite": "2"}),
}


def test_every_endpoint_is_in_the_role_table(app):
    assert set(REQUESTS) == set(console.ENDPOINT_ROLES)


@pytest.mark.parametrize("endpoint", sorted(REQUESTS))
@pytest.mark.parametrize("user", sorted(USERS))
def test_each_role_reaches_its_pages_and_no_other(app, db, endpoint, user):
    client = app.test_client()
    assert login(client, user).status_code == 302
    method, path, form = REQUESTS[endpoint]
    if method == "GET":
        resp = client.get(path)
    else:
        resp = client.post(path, data={**form, "csrf_token": _token(client)})
    allowed = USERS[user] in console.ENDPOINT_ROLES[endpoint]
    if allowed:
        assert resp.status_code in (200, 302), resp.get_data(as_text=True)[:300]
    else:
        assert resp.status_code == 403
        assert ("forbidden" in [a[1] for a in actions(db) if a[0] == user])


def _token(client):
    # any page the user may see carries the session's token
    home = client.get("/", follow_redirects=True).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', home).group(1)


def test_anonymous_is_sent_to_log_in(app):
    client = app.test_client()
    for method, path, form in REQUESTS.values():
        resp = client.get(path) if method == "GET" else client.post(path, data=form)
        # a POST without a token is refused by CSRF before anything else; a GET goes to the log-in page
        assert resp.status_code in ((302,) if method == "GET" else (400,))
        if method == "GET":
            assert "/login" in resp.headers["Location"]


def test_wrong_password_is_refused_and_recorded(app, db):
    client = app.test_client()
    resp = login(client, "sup", "wrong password!!")
    assert resp.status_code == 200 and "/transit" not in resp.headers.get("Location", "")
    assert client.get("/transit").status_code == 302
    assert ("sup", "login_failed") in [(a[0], a[1]) for a in actions(db)]
    # an unknown user costs the same check and is recorded too
    login(client, "nobody")
    assert ("nobody", "login_failed") in [(a[0], a[1]) for a in actions(db)]


def test_passwords_are_argon2_hashes(db):
    hashes = [h for (h,) in rows(db, "SELECT pw_hash FROM console_users")]
    assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)


def test_a_post_without_the_csrf_token_is_refused(app, db):
    client = app.test_client()
    login(client, "sup")
    resp = client.post("/alarms/1/ack", data={"note": "forged"})
    assert resp.status_code == 400
    assert rows(db, "SELECT count(*) FROM alarm_acks") == [(0,)]


def test_the_session_expires_when_idle(app, monkeypatch):
    client = app.test_client()
    login(client, "sup")
    assert client.get("/transit").status_code == 200
    later = console.now() + console.IDLE + dt.timedelta(seconds=1)
    monkeypatch.setattr(console, "now", lambda: later)
    resp = client.get("/transit")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_the_session_expires_after_its_lifetime_even_when_used(app, monkeypatch):
    client = app.test_client()
    login(client, "sup")
    start = console.now()
    t = start
    while t - start <= console.LIFETIME:
        t += console.IDLE - dt.timedelta(minutes=1)
        monkeypatch.setattr(console, "now", lambda t=t: t)
        status = client.get("/transit").status_code
    assert status == 302


def test_transit_then_handin_then_nothing_in_transit(app, db):
    client = app.test_client()
    login(client, "sup")
    data = client.get("/transit.json").get_json()
    by_term = {r["terminal"]: r for r in data["rows"]}
    assert by_term["00000001"]["cash"] == "20.00" and by_term["00000001"]["count"] == 2
    assert by_term["00000002"]["cash"] == "5.00" and data["totals"]["cash"] == "25.00"
    assert by_term["00000001"]["oldest"] == "2026-11-24T10:00:00+08:00"
    # a stale amount (a payment synced after the page was shown) records nothing
    token = _token(client)
    client.post("/transit/handin", data={"terminal": "00000001", "amount_fen": "1200", "note": "", "csrf_token": token})
    assert {r["terminal"] for r in client.get("/transit.json").get_json()["rows"]} == {"00000001", "00000002"}
    client.post("/transit/handin", data={"terminal": "00000001", "amount_fen": "2000", "note": "交款",
                                         "csrf_token": token})
    left = client.get("/transit.json").get_json()["rows"]
    assert [r["terminal"] for r in left] == ["00000002"]
    assert rows(db, "SELECT terminal, amount, count, by_user FROM handins") == [("00000001", 2000, 2, "sup")]
    with closing(ledger.connect(db)) as c, pytest.raises(sqlite3.Error, match="never changed"):
        c.execute("DELETE FROM handins")
    assert ("sup", "handin") in [(a[0], a[1]) for a in actions(db)]


def test_an_alarm_is_acknowledged_with_who_and_a_note_and_never_edited(app, db):
    client = app.test_client()
    login(client, "sup")
    page = client.get("/checks/1").get_data(as_text=True)
    assert "ORIGINAL-TEXT" in page and "营销系统无此笔" in page
    client.post("/alarms/1/ack", data={"note": "营销补录", "csrf_token": _token(client)})
    client.post("/alarms/1/ack", data={"note": "复核无误", "csrf_token": _token(client)})
    page = client.get("/checks").get_data(as_text=True)
    assert "营销补录" in page and "复核无误" in page and "sup" in page
    assert rows(db, "SELECT by_user, note FROM alarm_acks ORDER BY id") == [("sup", "营销补录"), ("sup", "复核无误")]
    with closing(ledger.connect(db)) as c, pytest.raises(sqlite3.Error, match="never changed"):
        c.execute("UPDATE alarm_acks SET note = 'gone'")


def test_the_auditor_sees_checks_but_cannot_acknowledge(app):
    client = app.test_client()
    login(client, "aud")
    page = client.get("/checks").get_data(as_text=True)
    assert "营销系统无此笔" in page and "ackform" not in page


def test_the_action_trail_verifies_and_detects_an_edit(app, db):
    client = app.test_client()
    login(client, "aud")
    resp = client.post("/audit/verify", data={"csrf_token": _token(client)})
    assert resp.status_code == 200 and 'id="verdict"' in resp.get_data(as_text=True)
    with closing(ledger.connect(db)) as conn:
        assert store.verify_actions(conn).ok
        conn.execute("DROP TRIGGER console_actions_no_update" if getattr(conn, "backend", "") != "postgresql"
                     else "DROP TRIGGER console_actions_no_change ON console_actions")
        conn.execute("UPDATE console_actions SET detail = '{}' WHERE id = 2")
        verdict = store.verify_actions(conn)
    assert not verdict.ok and "action 2" in verdict.problems[0]


def test_assigning_a_segment_shows_on_the_route_page(app, db):
    client = app.test_client()
    login(client, "admin")
    client.post("/routes/assign", data={"segment": "S1", "operator": "0042", "csrf_token": _token(client)})
    page = client.get("/routes").get_data(as_text=True)
    assert re.search(r"<td>S1</td>.*?<td>0042</td>", page, re.S)
    bad = client.post("/routes/assign", data={"segment": "NOPE", "operator": "1", "csrf_token": _token(client)})
    assert bad.status_code == 404


def test_collections_csv_and_chart(app):
    client = app.test_client()
    login(client, "sup")
    csv_text = client.get("/collections.csv?by=township").get_data(as_text=True)
    assert "石佛乡,3,25.00" in csv_text
    svg = client.get("/collections.svg?by=day").get_data(as_text=True)
    assert svg.startswith("<svg") and "2026-11-24" in svg and "25.00" in svg
    assert client.get("/collections?by=nonsense").status_code == 400


def test_english_on_request(app):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    assert "登录" in page
    client.post("/lang/en", data={"csrf_token": csrf(client)})
    assert "Log in" in client.get("/login").get_data(as_text=True)


def test_a_terminal_is_provisioned_with_its_key_shown_once_then_rekeyed_and_revoked(app, db, terms_file, changes):
    import os
    import stat

    from hw_mocks.station.provisioning import load_terminals

    client = app.test_client()
    login(client, "admin")
    resp = client.post("/terminals/change", data={"terminal": "00000042", "what": "provision", "suite": "2",
                                                  "csrf_token": _token(client)})
    page = resp.get_data(as_text=True)
    key = load_terminals(terms_file)["00000042"].key.hex()
    assert key in page and resp.headers["Cache-Control"] == "no-store"
    assert stat.S_IMODE(os.stat(terms_file).st_mode) == 0o600
    assert key not in client.get("/terminals").get_data(as_text=True)  # never again
    assert all(key not in a[2] for a in actions(db))  # nor in the trail (its key_id is)
    assert set(changes[-1]) == {"00000001", "00000042"}
    # provisioning it again is refused (re-key is the way); re-key gives another key
    again = client.post("/terminals/change", data={"terminal": "00000042", "what": "provision", "suite": "2",
                                                   "csrf_token": _token(client)})
    assert again.status_code == 302 and load_terminals(terms_file)["00000042"].key.hex() == key
    client.post("/terminals/change", data={"terminal": "00000042", "what": "rekey", "csrf_token": _token(client)})
    assert load_terminals(terms_file)["00000042"].key.hex() != key
    client.post("/terminals/change", data={"terminal": "00000042", "what": "revoke", "csrf_token": _token(client)})
    assert set(load_terminals(terms_file)) == {"00000001"} and set(changes[-1]) == {"00000001"}
    assert [a[1] for a in actions(db) if a[1].startswith("terminal_")] == [
        "terminal_provision", "terminal_rekey", "terminal_revoke"]


def test_a_revoked_terminal_is_refused_by_the_station_beside_the_console(db, tmp_path):
    from hw_mocks.station.provisioning import TerminalKey
    from hw_mocks.station.server import StationServer
    from terminal_app.errors import HandheldError
    from terminal_app.station.client import StationClient
    from terminal_app.station.protocol import Suite
    from terminal_app.station.seq import FileSeqCounter
    from terminal_app.station.transport import SocketTransport

    k = TerminalKey("00000001", 2, bytes.fromhex("000102030405060708090a0b0c0d0e0f"))
    with StationServer(db, {k.id: k}, idle_timeout=5.0) as st:
        def client():
            return StationClient(terminal_id=k.id, key=k.key, suite=Suite(2), transport=SocketTransport(),
                                 seq=FileSeqCounter(tmp_path / "seq"), host="127.0.0.1", port=st.port,
                                 connect_timeout=5, response_timeout=5)
        assert client().hello("7", "0.1.0")["time"]
        st.set_terminals({})
        with pytest.raises(HandheldError):
            client().hello("7", "0.1.0")


def test_the_audit_is_searched_by_terminal_customer_txn_and_time(app, db, tmp_path):
    from hw_mocks.station.provisioning import TerminalKey
    from hw_mocks.station.server import StationServer
    from terminal_app.station.client import Request, StationClient
    from terminal_app.station.messages import MsgType
    from terminal_app.station.protocol import Suite
    from terminal_app.station.seq import FileSeqCounter
    from terminal_app.station.transport import SocketTransport
    from terminal_app.timeutil import SHANGHAI, FixedClock, iso

    at = dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)
    k = TerminalKey("00000001", 2, bytes.fromhex("000102030405060708090a0b0c0d0e0f"))
    with StationServer(db, {k.id: k}, idle_timeout=5.0, clock=FixedClock(at=at)) as st:
        c = StationClient(terminal_id=k.id, key=k.key, suite=Suite(2), transport=SocketTransport(),
                          seq=FileSeqCounter(tmp_path / "seq"), host="127.0.0.1", port=st.port,
                          connect_timeout=5, response_timeout=5, clock=FixedClock(at=at))
        c.call(Request(MsgType.PAYMENT, {"txn": "00000001-77", "cust": "1002", "amount": 100, "method": "cash",
                                         "at": iso(at)}))
    client = app.test_client()
    login(client, "aud")

    def frames(query):
        return re.findall(r'<section class="card frame">', client.get("/audit?" + query).get_data(as_text=True))

    assert len(frames("txn=00000001-77")) == 2  # the request and its answer
    assert len(frames("cust=1002")) == 2 and frames("cust=1001") == []
    assert len(frames("terminal=00000001&txn=00000001-77")) == 2 and frames("terminal=00000002") == []
    assert len(frames("txn=00000001-77&since=2026-11-24T09:59&until=2026-11-24T10:01")) == 2
    assert frames("txn=00000001-77&since=2026-11-24T10:01") == []
    page = client.get("/audit?txn=00000001-77").get_data(as_text=True)
    assert "47 54" in page  # the raw frame in hex ("GT"), beside its body
    assert ("aud", "audit_search") in [(a[0], a[1]) for a in actions(db)]


def test_the_language_switch_goes_back_on_this_site_only(app):
    client = app.test_client()
    token = csrf(client)
    off = client.post("/lang/en", data={"csrf_token": token}, headers={"Referer": "http://evil.example/transit"})
    assert off.headers["Location"] == "/login"
    home = client.post("/lang/zh_CN", data={"csrf_token": token}, headers={"Referer": "http://localhost/login?x=1"})
    assert home.headers["Location"] == "/login"


def test_five_wrong_passwords_lock_the_user_for_a_while(app, db, monkeypatch):
    client = app.test_client()
    for _ in range(console.MAX_FAILED):
        assert login(client, "sup", "wrong password!!").status_code == 200
    locked = login(client, "sup")  # the right password, too late
    assert locked.status_code == 429 and client.get("/transit").status_code == 302
    assert ("sup", "login_locked") in [(a[0], a[1]) for a in actions(db)]
    assert login(client, "aud").status_code == 302  # another user is not affected
    later = console.now() + console.LOCKOUT + dt.timedelta(seconds=1)
    monkeypatch.setattr(console, "now", lambda: later)
    assert login(app.test_client(), "sup").status_code == 302


def test_pin_reset_shows_the_pin_once_and_keeps_only_its_argon2_hash(app, db):
    client = app.test_client()
    login(client, "sup")
    assert client.get("/pin-reset").status_code == 200
    page = client.post("/pin-reset", data={"operator": "1001", "csrf_token": _token(client)}).get_data(as_text=True)
    pin = re.search(r'id="pinonce".*?<code>(\d+)</code>', page, re.S).group(1)
    assert len(pin) == 6
    (rid, op, pin_hash, expires, by), = rows(db, "SELECT id, operator, pin_hash, expires_at, by_user FROM pin_resets")
    assert (op, by) == ("1001", "sup") and pin_hash.startswith("$argon2id$") and pin not in pin_hash
    from argon2 import PasswordHasher
    assert PasswordHasher().verify(pin_hash, pin)
    left = dt.datetime.fromisoformat(expires) - console.now()
    assert dt.timedelta(hours=23) < left <= dt.timedelta(hours=24)
    # audited with the operator, id and expiry, never the PIN; the list page never shows it again
    trail = [(a[1], a[2]) for a in actions(db) if a[1] == "pin_reset"]
    assert len(trail) == 1 and rid in trail[0][1] and pin not in trail[0][1]
    assert pin not in client.get("/pin-reset").get_data(as_text=True)
    # a bad operator number is refused with nothing stored
    client.post("/pin-reset", data={"operator": "12ab", "csrf_token": _token(client)})
    assert rows(db, "SELECT count(*) FROM pin_resets") == [(1,)]


def test_the_console_has_its_own_few_connections_and_says_busy_when_they_are_out(app, db):
    """conns.ConsoleDB: at most DB_CONNECTIONS out at once; one more waits its checkout timeout and
    the page answers 503 (Retry-After), never hangs; given back, the console answers again."""
    from hw_mocks.station.console import conns

    pool = app.extensions["console_db"]
    pool.checkout_timeout = 0.2
    client = app.test_client()
    login(client, "sup")
    held = [pool.acquire() for _ in range(conns.DB_CONNECTIONS)]
    try:
        if db.startswith("postgresql"):
            named = rows(db, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'handheld-console'")
            assert named == [(conns.DB_CONNECTIONS,)]
            assert rows(db, "SELECT 1") == [(1,)]  # the station's own connections are not the console's
        with pytest.raises(conns.Busy):
            pool.acquire()
        r = client.get("/transit.json")
        assert r.status_code == 503 and r.headers["Retry-After"] == "5"
        assert "稍后再试" in r.get_data(as_text=True)
    finally:
        for c in held:
            pool.release(c)
    assert pool.out == 0 and pool.most == conns.DB_CONNECTIONS
    assert client.get("/transit.json").status_code == 200
    assert pool.out == 0  # each request gave its connection back


def test_the_console_server_runs_a_bounded_number_of_request_threads():
    import threading
    import urllib.request

    from hw_mocks.station.console import conns

    cond = threading.Condition()
    state = {"in": 0, "most": 0}
    release = threading.Event()

    import os

    def slow(environ, start_response):
        state["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        with cond:
            state["in"] += 1
            state["most"] = max(state["most"], state["in"])
            cond.notify_all()
        release.wait(10)
        with cond:
            state["in"] -= 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    srv = conns.make_server("127.0.0.1", 0, slow, threads=2)
    serving = threading.Thread(target=srv.serve_forever, daemon=True)
    serving.start()
    answers = []

    def fetch():
        with urllib.request.urlopen(f"http://127.0.0.1:{srv.server_port}/", timeout=20) as r:
            answers.append(r.read())

    clients = [threading.Thread(target=fetch) for _ in range(6)]
    try:
        for t in clients:
            t.start()
        with cond:
            assert cond.wait_for(lambda: state["in"] == 2, timeout=10)
            assert not cond.wait_for(lambda: state["in"] > 2, timeout=1.0)  # the other four wait their turn
        release.set()
        for t in clients:
            t.join(timeout=20)
        assert answers == [b"ok"] * 6 and state["most"] == 2
        # the request threads yield the CPU to the station's payments (nice +10 on this thread only)
        mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        assert state["nice"] == min(19, mine + conns.NICE)
    finally:
        release.set()
        srv.shutdown()
        serving.join(timeout=10)
        srv.server_close()


def test_qr_is_shown_per_business_day_apart_and_never_in_the_cash_to_hand_in(app, db):
    """在途资金: QR payments (settled by the acquirer, never handed in) show today's business day
    only, in their own column; the hand-in covers the cash alone; yesterday's QR shows nowhere."""
    today = console.business_day(console.now())
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    with closing(ledger.connect(db)) as conn:
        conn.execute("BEGIN")
        for txn, method, day, amount in (("Q-1", "wechat", today.isoformat(), 300),
                                         ("Q-2", "alipay", today.isoformat(), 200),
                                         ("Q-0", "wechat", yesterday, 9900)):
            conn.execute("INSERT INTO payments (txn, terminal, operator, cust, amount, method, at, day, receipt,"
                         " to_balance, applied_at) VALUES (?, '00000001', '7', '1001', ?, ?, ?, ?, ?, 0, ?)",
                         (txn, amount, method, day + "T10:00:00+08:00", day, "R" + txn, day + "T10:05:00+08:00"))
        conn.execute("COMMIT")
    client = app.test_client()
    login(client, "sup")
    data = client.get("/transit.json").get_json()
    assert data["qr_day"] == today.isoformat()
    one = {r["terminal"]: r for r in data["rows"]}["00000001"]
    assert (one["cash"], one["count"], one["qr"]) == ("20.00", 2, "5.00")  # yesterday's 99.00 QR nowhere
    assert data["totals"] == {"cash": "25.00", "qr": "5.00"}
    page = client.get("/transit").get_data(as_text=True)
    assert "今日扫码" in page and today.isoformat() in page and "只收现金" not in page
    # the hand-in takes the cash shown (20.00), not the QR; the QR of today stays, apart
    client.post("/transit/handin", data={"terminal": "00000001", "amount_fen": "2000", "note": "",
                                         "csrf_token": _token(client)})
    assert rows(db, "SELECT amount, count FROM handins") == [(2000, 2)]
    one = {r["terminal"]: r for r in client.get("/transit.json").get_json()["rows"]}["00000001"]
    assert (one["cash"], one["count"], one["qr"]) == ("0.00", 0, "5.00")
    assert rows(db, "SELECT count(*) FROM handin_items WHERE txn LIKE 'Q-%'") == [(0,)]
    # the record of a used one-time PIN is insert-only on this database too (the station's ledger)
    with closing(ledger.connect(db)) as c:
        c.execute("BEGIN")
        c.execute("INSERT INTO pin_resets VALUES ('r1', '1001', '$argon2id$x', '2099-01-01T00:00:00+08:00', 'sup',"
                  " '2026-11-24T10:00:00+08:00')")
        c.execute("INSERT INTO pin_reset_uses VALUES ('r1', '00000001', '1001', '2026-11-24T11:00:00+08:00')")
        c.execute("COMMIT")
        with pytest.raises(sqlite3.Error, match="never changed"):
            c.execute("DELETE FROM pin_reset_uses")
    assert "00000001" in client.get("/pin-reset").get_data(as_text=True)  # shown as used, on that terminal
