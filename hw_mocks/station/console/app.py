"""The supervisors' console (issue 22): a Flask app served by the station, server-rendered, Chinese first.

Roles: ``administrator`` (users, terminals and routes), ``supervisor`` (在途资金 and hand-ins,
collections, account-check alarms and their acknowledgement), ``auditor`` (the audit trail and its
verification, the account checks read-only).  :data:`ENDPOINT_ROLES` states which roles reach each
endpoint; anything else answers 403 (tests/integration/test_console_roles.py walks every endpoint
with every role).  Passwords are argon2id hashes (argon2-cffi); the session is a signed cookie
(HttpOnly, SameSite=Strict) that expires after :data:`IDLE` without a request and :data:`LIFETIME`
after log-in; every form carries a CSRF token (Flask-WTF's CSRFProtect); every action is a row of
the console's hash-chained trail (store.log_action).  No JavaScript build and no CDN: the one
script (live 在途资金) and the stylesheet are in ``static/``.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import gettext
import io
import os
import secrets
import sqlite3
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import (
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFProtect

from hw_mocks.station import audit, ledger
from hw_mocks.station.console import conns, stats, store, terminals
from terminal_app.timeutil import SHANGHAI, business_day, iso, now

HERE = Path(__file__).resolve().parent
LOCALE_DIR = HERE / "locale"
LANGUAGES = ("zh_CN", "en")
IDLE = dt.timedelta(minutes=15)
LIFETIME = dt.timedelta(hours=8)
#: wrong passwords for one user name within LOCKOUT before it is refused for the rest of LOCKOUT
MAX_FAILED = 5
LOCKOUT = dt.timedelta(minutes=15)
_hasher = PasswordHasher()
#: a hash to verify against when the user does not exist (same cost: no user enumeration by timing)
_DUMMY = _hasher.hash("not a password " + secrets.token_hex(8))

#: endpoint -> the roles that may reach it (every endpoint of the app is listed; see roles_for)
ENDPOINT_ROLES: dict[str, frozenset[str]] = {}
PUBLIC = frozenset({"login", "static", "logout", "set_lang"})
HOME = {"administrator": "terminals_page", "supervisor": "transit", "auditor": "audit_page"}


def role(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        ENDPOINT_ROLES[fn.__name__] = frozenset(roles)

        @functools.wraps(fn)
        def inner(*a: Any, **kw: Any) -> Any:
            if g.user is None:
                return redirect(url_for("login", next=request.path))
            if g.role not in roles:
                store.log_action(db(), g.user, "forbidden", path=request.path, method=request.method)
                abort(403)
            return fn(*a, **kw)
        return inner
    return deco


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def add_user(conn: sqlite3.Connection, username: str, user_role: str, password: str, by: str) -> None:
    if user_role not in store.ROLES:
        raise ValueError(f"role must be one of {', '.join(store.ROLES)}")
    if not (1 <= len(username) <= 32 and username.isprintable() and " " not in username):
        raise ValueError("user names are 1-32 printable characters without spaces")
    if len(password) < 10:
        raise ValueError("passwords are at least 10 characters")
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("INSERT INTO console_users VALUES (?, ?, ?, ?)", (username, user_role, hash_password(password),
                                                                      iso(now())))
        store.log_action(conn, by, "user_add", username=username, role=user_role)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _translations(lang: str) -> gettext.NullTranslations:
    return gettext.translation("console", LOCALE_DIR, languages=[lang], fallback=True)


def db() -> sqlite3.Connection:
    """This request's connection to the ledger, from the console's own bounded pool (conns.ConsoleDB;
    given back when the request ends; none free within its timeout: conns.Busy, answered 503)."""
    if "db" not in g:
        g.db = current_app.extensions["console_db"].acquire()
    return g.db


def yuan(fen: int | None) -> str:
    if fen is None:
        return "-"
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _bounded(name: str, limit: int = 200) -> str:
    value = request.values.get(name, "").strip()
    if len(value) > limit or not value.isprintable():
        abort(400)
    return value


def create_app(db_target: str | os.PathLike[str], *, secret_key: bytes | None = None,
               terminals_file: str | os.PathLike[str] | None = None,
               on_terminals_change: Callable[[dict[str, Any]], None] | None = None) -> Flask:
    """``terminals_file``: the station's provisioning file (the terminals page edits it);
    ``on_terminals_change``: called with the new provisioning (the station beside it takes it at once)."""
    target = os.fspath(db_target)
    conn = ledger.connect(target)
    try:
        store.ensure_schema(conn)
    finally:
        conn.close()
    app = Flask(__name__, template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"))
    app.config.update(SECRET_KEY=secret_key or secrets.token_bytes(32), SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Strict", PERMANENT_SESSION_LIFETIME=IDLE,
                      WTF_CSRF_TIME_LIMIT=int(LIFETIME.total_seconds()), MAX_CONTENT_LENGTH=64 * 1024,
                      TERMINALS_FILE=os.fspath(terminals_file) if terminals_file else None)
    CSRFProtect(app)
    app.extensions["console_db"] = conns.ConsoleDB(target)
    app.jinja_env.filters["yuan"] = yuan

    @app.teardown_appcontext
    def close_db(_exc: BaseException | None) -> None:
        conn = g.pop("db", None)
        if conn is not None:
            current_app.extensions["console_db"].release(conn)

    @app.errorhandler(conns.Busy)
    def busy(_e: conns.Busy) -> Any:
        t = g.t if "t" in g else _translations("zh_CN")
        return Response(t.gettext("The console is busy; try again in a moment."), status=503,
                        mimetype="text/plain", headers={"Retry-After": "5"})

    @app.before_request
    def load_user() -> Any:
        g.user = g.role = None
        lang = session.get("lang", "zh_CN")
        g.lang = lang if lang in LANGUAGES else "zh_CN"
        g.t = _translations(g.lang)
        user = session.get("user")
        if user:
            t = now()
            login_at = dt.datetime.fromisoformat(session.get("login_at", "2000-01-01T00:00:00+08:00"))
            seen = dt.datetime.fromisoformat(session.get("seen", "2000-01-01T00:00:00+08:00"))
            row = db().execute("SELECT role FROM console_users WHERE username = ?", (user,)).fetchone()
            if row is None or t - seen > IDLE or t - login_at > LIFETIME:
                session.pop("user", None)
                flash(g.t.gettext("Your session has expired; please log in again."))
            else:
                g.user, g.role = user, row[0]
                session["seen"] = iso(t)
                session.permanent = True
        return None

    @app.context_processor
    def helpers() -> dict[str, Any]:
        return {"_": g.t.gettext, "user": g.user, "role": g.role, "lang": g.lang, "ENDPOINT_ROLES": ENDPOINT_ROLES}

    @app.after_request
    def headers(resp: Response) -> Response:
        resp.headers["Content-Security-Policy"] = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.route("/lang/<code>", methods=["POST"])
    def set_lang(code: str) -> Any:
        if code in LANGUAGES:
            session["lang"] = code
        back = urllib.parse.urlsplit(request.referrer or "")  # back to the page it came from, on this site only
        return redirect(back.path if back.netloc == request.host and back.path.startswith("/") else url_for("login"))

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        if request.method == "POST":
            username, password = _bounded("username", 32), request.form.get("password", "")[:200]
            since = iso(now() - LOCKOUT)
            failed = db().execute("SELECT count(*) FROM console_actions WHERE username = ? AND action = 'login_failed'"
                                  " AND at >= ?", (username or "-", since)).fetchone()[0]
            if failed >= MAX_FAILED:
                store.log_action(db(), username or "-", "login_locked", peer=request.remote_addr)
                flash(g.t.gettext("Too many wrong passwords: this user is locked for 15 minutes."))
                return render_template("login.html"), 429
            row = db().execute("SELECT role, pw_hash FROM console_users WHERE username = ?", (username,)).fetchone()
            try:
                ok = _hasher.verify(row[1] if row else _DUMMY, password) and row is not None
            except (VerificationError, InvalidHashError):
                ok = False
            store.log_action(db(), username or "-", "login" if ok else "login_failed", peer=request.remote_addr)
            if ok:
                lang = session.get("lang", "zh_CN")
                session.clear()
                t = iso(now())
                session.update(user=username, login_at=t, seen=t, lang=lang)
                session.permanent = True
                return redirect(url_for(HOME[row[0]]))
            flash(g.t.gettext("Wrong user name or password."))
        return render_template("login.html")

    @app.route("/logout", methods=["POST"])
    def logout() -> Any:
        if g.user:
            store.log_action(db(), g.user, "logout")
        lang = session.get("lang", "zh_CN")
        session.clear()
        session["lang"] = lang
        return redirect(url_for("login"))

    @app.route("/")
    def index() -> Any:
        if g.user is None:
            return redirect(url_for("login"))
        return redirect(url_for(HOME[g.role]))

    # -- 在途资金 ---------------------------------------------------------------------------------
    @app.route("/transit")
    @role("supervisor")
    def transit() -> Any:
        today = business_day(now()).isoformat()
        rows = store.transit(db(), today)
        return render_template("transit.html", rows=rows, totals=_totals(rows), today=today)

    @app.route("/transit.json")
    @role("supervisor")
    def transit_json() -> Any:
        today = business_day(now()).isoformat()
        rows = store.transit(db(), today)
        return jsonify(qr_day=today, rows=[{"terminal": r.terminal, "operator": r.operator, "cash": yuan(r.cash),
                              "cash_fen": r.cash, "count": r.cash_count, "qr": yuan(r.qr), "oldest": r.oldest or "-",
                              "last_sync": r.last_sync or "-", "unsynced": r.unsynced_text,
                              "reported_at": r.reported_at or ""} for r in rows],
                       totals={k: yuan(v) for k, v in _totals(rows).items()}, at=iso(now()))

    @app.route("/transit/handin", methods=["POST"])
    @role("supervisor")
    def handin() -> Any:
        terminal, note = _bounded("terminal", 8), _bounded("note", 200)
        try:
            expected = int(_bounded("amount_fen", 12))
        except ValueError:
            abort(400)
        try:
            hid, count = store.record_handin(db(), terminal, expected, g.user, note)
            flash(g.t.gettext("Hand-in recorded: terminal %(t)s, %(n)d payments, %(a)s yuan.")
                  % {"t": terminal, "n": count, "a": yuan(expected)})
        except ValueError:
            flash(g.t.gettext("The amount in transit changed since the page was shown; count again and confirm."))
        return redirect(url_for("transit"))

    # -- account check and alarms -------------------------------------------------------------
    @app.route("/checks")
    @role("supervisor", "auditor")
    def checks_page() -> Any:
        return render_template("checks.html", checks=store.checks(db()),
                               alarms=store.alarms(db(), open_only=request.args.get("open") == "1"),
                               kind_zh=_kind_names())

    @app.route("/checks/<int:check_id>")
    @role("supervisor", "auditor")
    def check_detail(check_id: int) -> Any:
        row = db().execute("SELECT id, day, at, station_count, station_amount, mkt_count, mkt_amount, alarms, report"
                           " FROM checks WHERE id = ?", (check_id,)).fetchone()
        if row is None:
            abort(404)
        return render_template("check_detail.html", check=row, alarms=store.alarms(db(), check_id),
                               originals=store.originals(db(), check_id), kind_zh=_kind_names())

    @app.route("/alarms/<int:alarm_id>/ack", methods=["POST"])
    @role("supervisor")
    def alarm_ack(alarm_id: int) -> Any:
        note = _bounded("note", 500)
        if not note:
            flash(g.t.gettext("Write a note saying how the alarm was handled."))
        else:
            try:
                store.acknowledge(db(), alarm_id, g.user, note)
                flash(g.t.gettext("Alarm %(id)d acknowledged.") % {"id": alarm_id})
            except LookupError:
                abort(404)
        return redirect(request.form.get("back") if request.form.get("back", "").startswith("/checks")
                        else url_for("checks_page"))

    # -- audit ----------------------------------------------------------------------------------
    @app.route("/audit")
    @role("auditor")
    def audit_page() -> Any:
        q = {k: _bounded(k, 40) for k in ("terminal", "cust", "txn", "since", "until")}
        rows = store.search_audit(db(), **q) if any(q.values()) or request.args.get("all") else []
        if any(q.values()):
            store.log_action(db(), g.user, "audit_search", **q)
        return render_template("audit.html", q=q, rows=rows, verdict=None, actions=None)

    @app.route("/audit/verify", methods=["POST"])
    @role("auditor")
    def audit_verify() -> Any:
        verdict, actions = audit.verify(db()), store.verify_actions(db())
        store.log_action(db(), g.user, "audit_verify", ok=verdict.ok, rows=verdict.rows, head=verdict.head,
                         console_ok=actions.ok)
        q = dict.fromkeys(("terminal", "cust", "txn", "since", "until"), "")
        return render_template("audit.html", q=q, rows=[], verdict=verdict, actions=actions)

    # -- collections and statistics -----------------------------------------------------------
    @app.route("/collections")
    @role("supervisor")
    def collections() -> Any:
        by = request.args.get("by", "day")
        if by not in stats.DIMENSIONS:
            abort(400)
        return render_template("collections.html", by=by, dims=stats.DIMENSIONS, rows=stats.collections(db(), by),
                               progress=stats.progress(db()))

    @app.route("/collections.csv")
    @role("supervisor")
    def collections_csv() -> Any:
        by = request.args.get("by", "day")
        if by not in stats.DIMENSIONS:
            abort(400)
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow([by, "count", "amount_yuan"])
        for key, count, amount in stats.collections(db(), by):
            w.writerow([key, count, yuan(amount)])
        store.log_action(db(), g.user, "export_csv", by=by)
        return Response("\ufeff" + buf.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename=collections-{by}.csv"})

    @app.route("/collections.svg")
    @role("supervisor")
    def collections_svg() -> Any:
        by = request.args.get("by", "day")
        if by not in stats.DIMENSIONS:
            abort(400)
        return Response(stats.bar_chart_svg(stats.collections(db(), by)), mimetype="image/svg+xml")

    # -- routes: segments to operators ----------------------------------------------
    @app.route("/routes")
    @role("administrator")
    def routes() -> Any:
        return render_template("routes.html", segments=stats.segments(db()))

    @app.route("/routes/assign", methods=["POST"])
    @role("administrator")
    def assign_segment() -> Any:
        segment, operator = _bounded("segment", 16), _bounded("operator", 8)
        if not (operator.isdigit() and 1 <= len(operator) <= 8):
            flash(g.t.gettext("The operator number is 1 to 8 digits."))
            return redirect(url_for("routes"))
        conn = db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT 1 FROM segments WHERE segment = ?", (segment,)).fetchone() is None:
                abort(404)
            conn.execute("INSERT INTO segment_assignments (segment, operator, by_user, at) VALUES (?, ?, ?, ?)",
                         (segment, operator, g.user, iso(now())))
            store.log_action(conn, g.user, "segment_assign", segment=segment, operator=operator)
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        flash(g.t.gettext("Segment %(s)s assigned to operator %(o)s.") % {"s": segment, "o": operator})
        return redirect(url_for("routes"))

    @app.route("/pin-reset", methods=["GET", "POST"])
    @role("administrator", "supervisor")
    def pin_reset() -> Any:
        """重置操作员密码: a one-time 6-digit PIN, shown on this answer only (no-store), stored as an
        argon2id hash with an expiry; the terminals fetch it with HELLO (params.pin_resets)."""
        shown = None
        if request.method == "POST":
            operator = _bounded("operator", 8)
            if not (operator.isascii() and operator.isdigit() and 1 <= len(operator) <= 8):
                flash(g.t.gettext("The operator number is 1 to 8 digits."))
                return redirect(url_for("pin_reset"))
            pin = f"{secrets.randbelow(10 ** 6):06d}"
            reset_id, expires = store.record_pin_reset(db(), operator, hash_password(pin), g.user)
            shown = {"operator": operator, "pin": pin, "id": reset_id, "expires": expires}
        return render_template("pin_reset.html", shown=shown, resets=store.pin_resets(db()))

    @app.route("/users", methods=["GET", "POST"])
    @role("administrator")
    def users() -> Any:
        if request.method == "POST":
            try:
                add_user(db(), _bounded("username", 32), _bounded("role", 20), request.form.get("password", "")[:200],
                         g.user)
                flash(g.t.gettext("User added."))
            except (ValueError, sqlite3.IntegrityError) as e:
                flash(g.t.gettext("User not added: %(why)s") % {"why": e})
            return redirect(url_for("users"))
        rows = db().execute("SELECT username, role, created_at FROM console_users ORDER BY username").fetchall()
        return render_template("users.html", users=rows, roles=store.ROLES)

    # -- terminals: provision (key shown once), re-key, revoke -----------------------------------
    def _terms_file() -> str:
        f = app.config["TERMINALS_FILE"]
        if not f:
            abort(409)
        return f

    @app.route("/terminals")
    @role("administrator")
    def terminals_page() -> Any:
        f = app.config["TERMINALS_FILE"]
        return render_template("terminals.html", terminals=sorted(terminals.read(f).values(), key=lambda t: t.id)
                               if f else None, shown=None)

    @app.route("/terminals/change", methods=["POST"])
    @role("administrator")
    def terminal_change() -> Any:
        tid, what = _bounded("terminal", 8), _bounded("what", 10)
        if not (len(tid) == 8 and tid.isascii() and tid.isdigit()) or what not in ("provision", "rekey", "revoke"):
            flash(g.t.gettext("The terminal id is 8 digits."))
            return redirect(url_for("terminals_page"))
        current = terminals.read(_terms_file())
        suite = 2 if _bounded("suite", 1) != "1" else 1
        if what == "provision" and tid in current:
            flash(g.t.gettext("Terminal %(t)s is provisioned already; re-key it instead.") % {"t": tid})
            return redirect(url_for("terminals_page"))
        if what != "provision" and tid not in current:
            abort(404)
        if what == "rekey":
            suite = current[tid].suite
        made = terminals.change(_terms_file(), tid, None if what == "revoke" else suite, on_terminals_change)
        store.log_action(db(), g.user, f"terminal_{what}", terminal=tid,
                         key_id=made.key_id if made else current[tid].key_id)
        if made is None:
            flash(g.t.gettext("Terminal %(t)s revoked.") % {"t": tid})
            return redirect(url_for("terminals_page"))
        # the key is in this answer only (no-store), never in a redirect, flash, log or later page
        return render_template("terminals.html", terminals=sorted(terminals.read(_terms_file()).values(),
                                                                  key=lambda t: t.id), shown=made)

    missing = {r.endpoint for r in app.url_map.iter_rules()} - set(ENDPOINT_ROLES) - PUBLIC - {"index"}
    assert not missing, f"endpoints without roles: {missing}"
    return app


def close(app: Flask) -> None:
    """Give back the app's database connections (its pool's threads end): when its server stops."""
    app.extensions["console_db"].close()


def _totals(rows: list[store.Transit]) -> dict[str, int]:
    return {"cash": sum(r.cash for r in rows), "qr": sum(r.qr for r in rows)}


def _kind_names() -> dict[str, str]:
    from hw_mocks.station.check import KIND_ZH
    return KIND_ZH if g.lang == "zh_CN" else {k: k.replace("_", " ") for k in KIND_ZH}


def day_of(at: str) -> str:
    return dt.datetime.fromisoformat(at).astimezone(SHANGHAI).date().isoformat()
