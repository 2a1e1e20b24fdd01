"""``handheld-mocks station``: run the reference master station, seed or import an area, verify the audit.

    handheld-mocks station --port 7600 --db /tmp/station.sqlite --terminals terminals.toml --seed demo
    handheld-mocks station --db /tmp/station.sqlite --import-area ./area --terminals terminals.toml
    handheld-mocks station --verify-audit --db /tmp/station.sqlite
    handheld-mocks station --db /tmp/station.sqlite --terminals t.toml --marketing 127.0.0.1:7700   (broker)
    handheld-mocks station check --day 2026-11-24 --db /tmp/station.sqlite --marketing 127.0.0.1:7700
    handheld-mocks station console-user --db /tmp/station.sqlite --user admin --role administrator --password-file F
    handheld-mocks station --db /tmp/station.sqlite --terminals t.toml --console 127.0.0.1:8080   (with the console)
    handheld-mocks station console --db /tmp/station.sqlite --console 127.0.0.1:8080              (the console alone)
"""

from __future__ import annotations

import argparse
import datetime as dt
import faulthandler
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from terminal_app.errors import ConfigurationError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("station", help="the reference master station (GT/1 over TCP, SQLite ledger)",
                       description="The reference master station: GT/1 over TCP with an SQLite ledger and audit trail.")
    p.add_argument("action", nargs="?", choices=("serve", "check", "console", "console-user", "assign",
                                                 "assignments", "limit", "photos"), default="serve",
                   help="serve (default): run the station; check: the daily account check of --day against the"
                        " marketing system (exit 0: no alarm, 3: alarms; docs/marketing-interface.md);"
                        " console: only the supervisors' console (--console); console-user: add a console user"
                        " (--user, --role, --password-file); assign: assign segments to operators (--segment and"
                        " --operator, or --assignments-file; docs/station.md); assignments: list who reads what;"
                        " limit: set an operator's agent cash limit (--operator, --cash-limit) or a card meter's"
                        " hoarding limit (--meter, --hoard-limit); photos: list the readings' photos (抄表照片) with"
                        " their readings, and with --out DIR write each as DIR/<reading txn>.jpg")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7600, help="TCP port (0 = any free port; default 7600)")
    p.add_argument("--db", help="ledger: an SQLite file (created if missing) or a PostgreSQL URL"
                   " (postgresql://…, the production database; several front ends may share it); required except"
                   " with --export-demo")
    p.add_argument("--front-end", type=int, default=0, metavar="N",
                   help="1..9: this process is front end N of several sharing one PostgreSQL ledger (default 0:"
                        " the only one)")
    p.add_argument("--terminals", help="provisioning file (TOML, [[terminal]] id, suite, key); mode 600")
    p.add_argument("--seed", choices=("demo",), help="load the demo supply area into an empty ledger")
    p.add_argument("--seed-number", type=int, default=1, help="random seed of the demo area (default 1)")
    p.add_argument("--seed-customers", type=int, default=600,
                   help="customers in the demo area, spread evenly over its 6 segments (default 600)")
    p.add_argument("--seed-as-of", help="billing date of the demo area, YYYY-MM-DD (default today)")
    p.add_argument("--import-area", metavar="DIR", help="import a supply area (docs/station.md) into an empty ledger")
    p.add_argument("--export-demo", metavar="DIR", help="write the demo area in the import format and exit")
    p.add_argument("--card-master-key", metavar="FILE",
                   help="the card key holder's master key (hex, mode 600); without it card purchases are"
                        " answered E_UNAVAILABLE (docs/card.md)")
    p.add_argument("--idle-timeout", type=float, default=30.0, help="seconds before an idle connection is closed")
    p.add_argument("--max-batch", type=int, default=512, metavar="N",
                   help="most requests committed together (group commit, one fsync; default 512; 1 = one commit"
                        " per request)")
    p.add_argument("--stats", action="store_true",
                   help="on stopping, print the station's counters (connections, commits, refused frames) as one"
                        " JSON line")
    p.add_argument("--marketing", metavar="HOST:PORT",
                   help="the marketing system behind the station (handheld-mocks marketing): payments and reversals"
                        " are applied there first; without it the station is the system of record")
    p.add_argument("--marketing-timeout", type=float, default=5.0, metavar="S",
                   help="seconds to wait for the marketing system's answer (default 5)")
    p.add_argument("--acquirer", metavar="URL",
                   help="the acquirer for QR payments (付款码; handheld-mocks acquirer), http://HOST:PORT: PAYMENT"
                        " method wechat/alipay is offered, and `check` compares the acquirers' statement files")
    p.add_argument("--acquirer-keys", metavar="DIR",
                   help="the merchant key set for --acquirer (handheld-mocks acquirer --make-keys; files mode 600)")
    p.add_argument("--acquirer-timeout", type=float, default=10.0, metavar="S",
                   help="seconds to wait for each answer of the acquirer (default 10)")
    p.add_argument("--acquirer-policy", metavar="JSON",
                   help='QA: the acquirer policy\'s intervals and limits (acquirer_policy.Params), e.g.'
                        ' \'{"query_interval": 0.05, "unknown_wait": 0.05}\' (default: the acquirers\' advice)')
    p.add_argument("--day", help="check: the business day, YYYY-MM-DD")
    p.add_argument("--report", metavar="FILE", help="check: the report file (default check-DAY-N.txt beside the --db)")
    p.add_argument("--console", metavar="HOST:PORT",
                   help="serve the supervisors' console (a web browser) on this address (docs/station.md)")
    p.add_argument("--user", help="console-user: the user name")
    p.add_argument("--role", choices=("administrator", "supervisor", "auditor"), help="console-user: the role")
    p.add_argument("--password-file", metavar="FILE",
                   help="console-user: a file (mode 600) holding the password on its first line")
    p.add_argument("--segment", help="assign: the segment (表段号)")
    p.add_argument("--operator", help="assign: the operator number (操作员号, 1-8 digits) who reads --segment;"
                                      " limit: the operator whose agent cash limit is set")
    p.add_argument("--assignments-file", metavar="FILE",
                   help="assign: a TOML file of segment = operator lines under [assignments] (docs/station.md)")
    p.add_argument("--cash-limit", type=int, metavar="FEN",
                   help="limit: the operator's agent cash limit in fen (0 removes it); sent in HELLO")
    p.add_argument("--meter", help="limit: the card meter's asset number")
    p.add_argument("--hoard-limit", type=int, metavar="FEN",
                   help="limit: the card meter's hoarding limit (囤积上限) in fen (0 removes it); sent with CARD_QUERY")
    p.add_argument("--out", metavar="DIR", help="photos: write each photo as DIR/<reading txn>.jpg")
    p.add_argument("--verify-audit", action="store_true", help="check the audit trail's hash chain and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="log every refused frame and connection")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hw_mocks.station import audit, ledger, seed
    from hw_mocks.station.area import insert, read_area, read_usage, write_area
    from terminal_app.timeutil import now

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s")
    as_of = dt.date.fromisoformat(args.seed_as_of) if args.seed_as_of else now().date()
    if args.export_demo:
        write_area(args.export_demo, *seed.generate_area(args.seed_number, as_of, args.seed_customers))
        print(f"demo area written to {args.export_demo}")
        return 0
    if not args.db:
        raise ConfigurationError("No ledger database was given.", "Pass --db PATH.")
    if args.verify_audit and not args.db.startswith("postgres") and not Path(args.db).is_file():
        raise ConfigurationError("Ledger {path} does not exist.", "Give the station's --db file.", path=args.db)
    conn = ledger.connect(args.db)
    try:
        if args.action == "check":
            return _check(args, conn)
        if args.action == "console-user":
            return _console_user(args, conn)
        if args.action in ("assign", "assignments"):
            return _assign(args, conn)
        if args.action == "limit":
            return _limit(args, conn)
        if args.action == "photos":
            return _photos(args, conn)
        if args.verify_audit:
            verdict = audit.verify(conn)
            print(json.dumps({"ok": verdict.ok, "rows": verdict.rows, "head": verdict.head,
                              "problems": list(verdict.problems)}, ensure_ascii=False))
            return 0 if verdict.ok else 2
        if args.seed or args.import_area:
            if not ledger.is_empty(conn):
                print("the ledger already holds customers: not loading the area again", file=sys.stderr)
            elif args.import_area:
                print("imported:", insert(conn, *read_area(args.import_area), read_usage(args.import_area)))
            else:
                print("demo area loaded:", seed.load(conn, args.seed_number, as_of, args.seed_customers))
    finally:
        conn.close()
    if args.action == "console":
        if not args.console:
            raise ConfigurationError("No console address was given.", "Pass --console HOST:PORT.")
        console = _start_console(args)  # alone: a station running elsewhere reads a changed --terminals on restart
        try:
            console.serve_forever()  # type: ignore[attr-defined]
        finally:
            console.server_close()  # type: ignore[attr-defined]
        return 0
    if not args.terminals:
        raise ConfigurationError("No provisioning file was given.", "Pass --terminals FILE (see docs/station.md).")
    from hw_mocks.station.provisioning import load_terminals
    from hw_mocks.station.server import StationServer

    card_mac = None
    if args.card_master_key:
        from hw_mocks.station.card_keys import CardKeyHolder
        card_mac = CardKeyHolder.from_file(args.card_master_key)
    if args.max_batch < 1:
        raise ConfigurationError("--max-batch must be at least 1.", "Give a positive number (default 512).")
    server = StationServer(args.db, load_terminals(args.terminals), host=args.host, port=args.port,
                           idle_timeout=args.idle_timeout, card_mac=card_mac, max_batch=args.max_batch,
                           marketing=args.marketing, marketing_timeout=args.marketing_timeout,
                           front_end=args.front_end, acquirer=_acquirer_channels(args),
                           acquirer_params=_acquirer_params(args),
                           on_ready=lambda port: print(f"station listening on {args.host}:{port} for"
                                                       f" {len(server.terminals)} terminal(s); Ctrl-C stops",
                                                       flush=True))
    if args.console:  # beside the station: a terminal provisioned, re-keyed or revoked there counts at once
        _start_console(args, server.set_terminals)
    # QA: `kill -USR1 PID` prints every thread's stack to stderr (a station that seems stuck)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        server.serve_forever()
    finally:
        if args.stats:
            print(json.dumps(server.stats), flush=True)
    return 0


def _acquirer_channels(args: argparse.Namespace) -> dict[Any, Any] | None:
    if not args.acquirer:
        return None
    if not args.acquirer_keys:
        raise ConfigurationError("--acquirer needs the merchant's keys.", "Pass --acquirer-keys DIR.")
    from hw_mocks.station.acquirer import load_channels

    return dict(load_channels(args.acquirer, Path(args.acquirer_keys), timeout=args.acquirer_timeout))


def _acquirer_params(args: argparse.Namespace) -> Any:
    if not args.acquirer_policy:
        return None
    from hw_mocks.station.acquirer_policy import Params

    try:
        return Params(**json.loads(args.acquirer_policy))
    except (ValueError, TypeError) as e:
        raise ConfigurationError("--acquirer-policy is not a JSON object of the policy's settings ({error}).",
                                 "See hw_mocks.station.acquirer_policy.Params for the names.", error=str(e)) from e


def _check(args: argparse.Namespace, conn: object) -> int:
    from hw_mocks.station.check import qr_alarms, run_check, summary

    if not args.day or not (args.marketing or args.acquirer):
        raise ConfigurationError("The check needs the day and the marketing system (or the acquirer).",
                                 "Pass --day YYYY-MM-DD and --marketing HOST:PORT (and/or --acquirer URL).")
    try:
        day = dt.date.fromisoformat(args.day)
    except ValueError:
        raise ConfigurationError("--day {day} is not a date.", "Give it as YYYY-MM-DD.", day=args.day) from None
    qr = None
    channels = _acquirer_channels(args)
    if channels is not None:
        from hw_mocks.station.acquirer import OrderJournal

        qr = (OrderJournal.on_ledger(args.db), channels)
    try:
        if not args.marketing:  # the QR part alone: its differences, no check row
            assert qr is not None
            alarms = qr_alarms(qr[0], qr[1], day)
            for a in alarms:
                print(f"ALARM {a.kind} txn={a.txn or '-'} terminal={a.terminal or '-'}: {a.detail}", file=sys.stderr)
            print(json.dumps({"day": day.isoformat(), "alarms": len(alarms), "txns": [a.txn for a in alarms]},
                             ensure_ascii=False), flush=True)
            return 3 if alarms else 0
        res = run_check(conn, day, args.marketing, report=args.report,  # type: ignore[arg-type]
                        report_dir=Path(args.db).resolve().parent if not args.db.startswith("postgres")
                        else Path.cwd(), timeout=args.marketing_timeout * 2, qr=qr)
    finally:
        if qr is not None:
            qr[0].close()
    for a in res.alarms:
        print(f"ALARM {a.kind} txn={a.txn or '-'} terminal={a.terminal or '-'}: {a.detail}", file=sys.stderr)
    print(json.dumps(summary(res), ensure_ascii=False), flush=True)
    return 3 if res.alarms else 0


def _listen(spec: str) -> tuple[str, int]:
    host, _, port = spec.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigurationError("--console {spec} is not HOST:PORT.", "Give e.g. 127.0.0.1:8080.", spec=spec)
    return host, int(port)


def _start_console(args: argparse.Namespace, on_terminals_change: object = None) -> object:
    """The console's web server; with ``serve`` it runs in a thread beside the station."""
    import threading

    from hw_mocks.station.console.app import create_app
    from hw_mocks.station.console.conns import make_server

    host, port = _listen(args.console)
    app = create_app(args.db, terminals_file=args.terminals,
                     on_terminals_change=on_terminals_change)  # type: ignore[arg-type]
    srv = make_server(host, port, app)  # a bounded pool of request threads (conns.SERVER_THREADS)
    print(f"console on http://{host}:{srv.server_port}/", flush=True)
    if args.action != "console":
        threading.Thread(target=srv.serve_forever, name="console", daemon=True).start()
    return srv


def _console_user(args: argparse.Namespace, conn: object) -> int:
    import os
    import sqlite3

    from hw_mocks.station.console import store
    from hw_mocks.station.console.app import add_user

    if not (args.user and args.role and args.password_file):
        raise ConfigurationError("A console user needs a name, a role and a password file.",
                                 "Pass --user NAME --role administrator|supervisor|auditor --password-file FILE.")
    path = Path(args.password_file)
    try:
        if path.stat().st_mode & 0o077:
            raise ConfigurationError("Password file {path} is readable by other users.", "Run: chmod 600 {path}.",
                                     path=str(path))
        password = path.read_text(encoding="utf-8").splitlines()[0] if path.read_text(encoding="utf-8") else ""
    except OSError as e:
        raise ConfigurationError("Password file {path} cannot be read ({error}).", "Check the path.",
                                 path=str(path), error=os.strerror(e.errno or 0)) from e
    store.ensure_schema(conn)  # type: ignore[arg-type]
    try:
        add_user(conn, args.user, args.role, password, "cli")  # type: ignore[arg-type]
    except ValueError as e:
        raise ConfigurationError("The console user was not added: {why}.", "Correct it and run again.",
                                 why=str(e)) from e
    except sqlite3.IntegrityError as e:
        raise ConfigurationError("A console user {user} exists already.", "Choose another name.",
                                 user=args.user) from e
    print(f"console user {args.user} ({args.role}) added")
    return 0


def _assign(args: argparse.Namespace, conn: object) -> int:
    """assign: --segment S --operator O, or --assignments-file F (checked whole, written in one
    transaction); assignments: list every segment with its operator ("-" when nobody reads it)."""
    from hw_mocks.station import assignments

    if args.action == "assign":
        if args.assignments_file:
            if args.segment or args.operator:
                raise ConfigurationError("Give either --assignments-file or --segment with --operator, not both.",
                                         "Run again with one of them.")
            pairs = assignments.read_file(args.assignments_file)
        elif args.segment and args.operator:
            pairs = [(args.segment, args.operator)]
        else:
            raise ConfigurationError("Nothing to assign.",
                                     "Pass --segment S --operator O, or --assignments-file FILE.")
        written = assignments.assign(conn, pairs, by="cli")  # type: ignore[arg-type]
        print(f"{written} assignment(s) written, {len(pairs) - written} unchanged")
    for segment, operator in assignments.current(conn).items():  # type: ignore[arg-type]
        print(f"{segment}\t{operator or '-'}")
    return 0


def _limit(args: argparse.Namespace, conn: object) -> int:
    from hw_mocks.station import limits

    done = False
    if args.operator is not None and args.cash_limit is not None:
        limits.set_cash_limit(conn, args.operator, args.cash_limit)  # type: ignore[arg-type]
        print(f"operator {args.operator}: cash limit {args.cash_limit or 'none'}")
        done = True
    if args.meter is not None and args.hoard_limit is not None:
        limits.set_hoard_limit(conn, args.meter, args.hoard_limit)  # type: ignore[arg-type]
        print(f"meter {args.meter}: hoarding limit {args.hoard_limit or 'none'}")
        done = True
    if not done:
        raise ConfigurationError("Nothing to set.", "Pass --operator OP --cash-limit FEN and/or"
                                 " --meter ASSET --hoard-limit FEN.")
    return 0


def _photos(args: argparse.Namespace, conn: Any) -> int:
    """Each reading's photo with its reading (one JSON line each); the JPEG as stored (decoded and
    hash-checked on arrival) written to --out when given."""
    out = Path(args.out) if args.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    rows = conn.execute("SELECT p.reading, r.cust, r.meter, r.value, r.at, p.size, p.sha256, p.terminal, p.at, p.jpeg"
                        " FROM photos p JOIN readings r ON r.txn = p.reading AND r.n = 0"
                        " ORDER BY r.at, p.reading").fetchall()
    for reading, cust, meter, value, at, size, digest, terminal, stored_at, jpeg in rows:
        item = {"reading": reading, "cust": cust, "meter": meter, "value": value, "read_at": at, "size": size,
                "sha256": digest, "terminal": terminal, "stored_at": stored_at}
        if out is not None:
            path = out / f"{reading}.jpg"
            path.write_bytes(bytes(jpeg))
            item["file"] = str(path)
        print(json.dumps(item, ensure_ascii=False))
    return 0
