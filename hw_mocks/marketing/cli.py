"""``handheld-mocks marketing``: the marketing-system stand-in (营销系统) behind the station.

    handheld-mocks marketing --port 7710 --db /tmp/marketing.sqlite --seed demo
    handheld-mocks marketing --port 7710 --db /tmp/marketing.sqlite --import-area ./area --scenario faults.toml
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys

from terminal_app.errors import ConfigurationError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("marketing", help="the marketing-system stand-in (accounts, bills, payments; TCP)",
                       description="The marketing system behind the station: its own record format over TCP"
                                   " (docs/marketing-interface.md), its accounts and bills in an SQLite file.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7710, help="TCP port (0 = any free port; default 7710)")
    p.add_argument("--db", required=True, help="the marketing system's database file (SQLite; created if missing)")
    p.add_argument("--seed", choices=("demo",), help="load the demo supply area into an empty database")
    p.add_argument("--seed-number", type=int, default=1, help="random seed of the demo area (default 1)")
    p.add_argument("--seed-customers", type=int, default=600, help="customers in the demo area (default 600)")
    p.add_argument("--seed-as-of", help="billing date of the demo area, YYYY-MM-DD (default today)")
    p.add_argument("--import-area", metavar="DIR", help="import a supply area (docs/station.md) into an empty database")
    p.add_argument("--scenario", metavar="FILE", help="faults as data (TOML; hw_mocks/marketing/scenario.py)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every connection closed and every fault")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hw_mocks.marketing.scenario import Scenario
    from hw_mocks.marketing.server import MarketingServer
    from hw_mocks.marketing.store import connect
    from hw_mocks.station import ledger, seed
    from hw_mocks.station.area import insert, read_area, read_usage
    from terminal_app.timeutil import now

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s")
    as_of = dt.date.fromisoformat(args.seed_as_of) if args.seed_as_of else now().date()
    scenario = Scenario.load(args.scenario) if args.scenario else Scenario()
    conn = connect(args.db)
    try:
        if args.seed or args.import_area:
            if not ledger.is_empty(conn):
                print("the database already holds customers: not loading the area again", file=sys.stderr)
            elif args.import_area:
                print("imported:", insert(conn, *read_area(args.import_area), read_usage(args.import_area)))
            else:
                print("demo area loaded:", seed.load(conn, args.seed_number, as_of, args.seed_customers))
        elif ledger.is_empty(conn):
            raise ConfigurationError("The marketing database {path} holds no customers.",
                                     "Load an area: --seed demo or --import-area DIR.", path=args.db)
    finally:
        conn.close()
    server = MarketingServer(args.db, host=args.host, port=args.port, scenario=scenario,
                             on_ready=lambda port: print(f"marketing system listening on {args.host}:{port};"
                                                         " Ctrl-C stops", flush=True))
    server.serve_forever()
    return 0
