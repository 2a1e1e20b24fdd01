"""``handheld-mocks card``: the mock card reader with one virtual card, until Ctrl-C.

    handheld-mocks card --link /tmp/ttyCard                         customer 1003's card (demo area)
    handheld-mocks card --link /tmp/ttyCard --cust 1003 --meter A1003 --count 3 --amount 5000
    handheld-mocks card --tcp 7700 --pull-after 9                    pull the card during the write

Commands on stdin (one per line) drive the slot and the meter::

    remove | insert | meter (insert the card into its meter, then back into the reader) |
    pull N [executed] | show
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("card", help="a card reader module with a virtual prepaid CPU card")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--link", metavar="PATH", help="serve on a pty; PATH becomes a symlink to it")
    where.add_argument("--tcp", metavar="PORT", type=int, help="serve on 127.0.0.1:PORT")
    p.add_argument("--cust", default="1003", help="customer number on the card (default 1003)")
    p.add_argument("--meter", default="A1003", help="meter asset number on the card (default A1003)")
    p.add_argument("--serial", default="8610000000001003", help="card serial, 16 hex digits")
    p.add_argument("--type", choices=("open", "purchase", "reissue", "blank"), default="purchase")
    p.add_argument("--count", type=int, default=3, help="purchase count on the card (default 3)")
    p.add_argument("--amount", type=int, default=5000, help="fen of the purchase on the card")
    p.add_argument("--remaining", type=int, default=2000, help="meter's remaining credit in the return file")
    p.add_argument("--master-key-file", help="the station's card master key (hex); default the demo key")
    p.add_argument("--pull-after", type=int, metavar="N", help="fault: pull the card after N more APDUs")
    p.add_argument("--no-card", action="store_true", help="start with the slot empty")
    p.add_argument("--scheme", choices=("sgcc", "gt1"), default="sgcc",
                   help="sgcc: a State Grid user card and its meter (docs/card.md; the card carries --cust padded to"
                        " 12 digits and --meter-no); gt1: the project's earlier card")
    p.add_argument("--meter-no", default="000000001003", help="sgcc: the meter's 12-digit number (表号, its address)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from drivers.ic_card.model import CardType, Purchase, ReturnData
    from hw_mocks.card.device import MockCardReader
    from hw_mocks.card.meter import MockCardMeter
    from hw_mocks.card.virtual import VirtualCard
    from hw_mocks.station.card_keys import DEMO_MASTER_KEY, CardKeyHolder

    holder = CardKeyHolder.from_file(args.master_key_file) if args.master_key_file else CardKeyHolder(DEMO_MASTER_KEY)
    kind = {"open": CardType.OPEN_ACCOUNT, "purchase": CardType.PURCHASE, "reissue": CardType.REISSUE,
            "blank": CardType.BLANK}[args.type]
    card: Any
    meter: Any
    if args.scheme == "sgcc":
        from drivers.ic_card import sgcc
        from hw_mocks.card.sgcc import SgccUserCardChip
        from hw_mocks.card.sgcc_meter import SgccCardMeter

        customer_no = sgcc.customer_no_of(args.cust)
        card = SgccUserCardChip.issue(
            holder.sgcc, args.meter_no, customer_no, sgcc.UserCardType(int(kind) if kind else 0), args.serial,
            sgcc.Wallet(args.amount, args.count),
            sgcc.ReturnWrite(1, 1, args.meter_no, customer_no, args.remaining, args.count, 0, 0, "2611201000"))
        meter = SgccCardMeter(holder.sgcc.esam(), args.meter_no, customer_no, count=args.count,
                              remaining=args.remaining, bound_serial=args.serial.upper())
    else:
        card = VirtualCard.issue(holder, kind, args.serial, args.cust, args.meter, Purchase(args.amount, args.count),
                                 ReturnData(True, args.remaining, 0, 0, args.count))
        meter = MockCardMeter(args.cust, args.meter, count=args.count, remaining=args.remaining,
                              bound_serial=args.serial)
    device = MockCardReader.on_pty(args.link) if args.link else MockCardReader.on_tcp(args.tcp)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    # the slot is filled before the device answers: a client that opens the port the moment its
    # link appears (the link exists from construction; its bytes wait in the pty) finds the card
    if not args.no_card:
        device.insert(card)
    if args.pull_after is not None:
        device.pull_after(args.pull_after)
    with device:
        count, amount = _held(card)
        print(f"card reader on {device.url}: {card!r}, purchase {count}/{amount} fen;"
              " commands: remove, insert, meter, pull N [executed], show", file=sys.stderr, flush=True)
        reader = threading.Thread(target=_commands, args=(device, card, meter, done), name="card-cli", daemon=True)
        reader.start()
        while not done.wait(0.5):
            pass
    return 0


def _held(card: Any) -> tuple[int, int]:
    if hasattr(card, "wallet"):
        return card.wallet.purchase_count, card.wallet.amount_fen
    return card.purchase.count, card.purchase.amount


def _commands(device: Any, card: Any, meter: Any, done: threading.Event) -> None:
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        cmd = words[0]
        if cmd == "remove":
            device.remove()
        elif cmd == "insert" and device.card is None:
            device.insert(card)
        elif cmd == "meter":
            device.remove()
            print(f"meter: {meter.insert(card).value}; credit {meter.remaining} fen", file=sys.stderr, flush=True)
            device.insert(card)
        elif cmd == "pull" and len(words) >= 2 and words[1].isdigit():
            device.pull_after(int(words[1]), executed=len(words) > 2 and words[2] == "executed")
        elif cmd == "show":
            ret = card.return_write if hasattr(card, "return_write") else card.ret
            print(f"{card!r} purchase {_held(card)} return {ret} in slot: {device.card is not None}",
                  file=sys.stderr, flush=True)
        else:
            print(f"unknown command {line.strip()!r}", file=sys.stderr, flush=True)
    # end of input: keep serving until a signal (run without a terminal, stdin is empty)
