"""每日账务核对: the station's daily account check against the marketing system (seed §1.4(3)).

For one business day: fetch the marketing system's detail (trade 3001, every page), keep every
page as received, compare it transaction by transaction with the station's payments of the day
and each terminal's last RECONCILE of the day, and raise one alarm per difference
(docs/marketing-interface.md, "The daily account check").  Nothing is corrected: the alarms,
the originals and the report are for the people who settle the difference.

Rows are only inserted (``checks``, ``check_alarms``, ``check_originals``); a second run of the
same day is a new check with its own alarms.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hw_mocks.marketing import client
from hw_mocks.marketing import protocol as p
from terminal_app.errors import DeviceError
from terminal_app.timeutil import SHANGHAI, Clock, iso

KINDS = ("missing_at_marketing", "missing_at_station", "amount_differs", "reversed_at_station_only",
         "reversed_at_marketing_only", "terminal_reconcile",
         # QR payments against the acquirers' statement files (hw_mocks.station.qr_check; issue 17)
         "qr_not_on_station", "qr_not_at_acquirer", "qr_amount", "qr_unresolved")
#: Chinese names of the kinds, for the report (the people who settle differences read it)
KIND_ZH = {"missing_at_marketing": "营销系统无此笔", "missing_at_station": "主站无此笔", "amount_differs": "金额不符",
           "reversed_at_station_only": "仅主站已冲正", "reversed_at_marketing_only": "仅营销系统已冲正",
           "terminal_reconcile": "终端对账不符", "qr_not_on_station": "收单机构有款、主站无此笔",
           "qr_not_at_acquirer": "主站有款、收单机构无此笔", "qr_amount": "扫码金额不符",
           "qr_unresolved": "扫码订单未决（撤销未完成）"}
MAX_PAGES = 10_000


@dataclass(frozen=True, slots=True)
class Alarm:
    kind: str
    txn: str | None
    terminal: str | None
    station_amount: int | None
    mkt_amount: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    check_id: int
    day: dt.date
    alarms: tuple[Alarm, ...]
    station: tuple[int, int]  # count, amount (fen) of payments not reversed
    marketing: tuple[int, int]
    report: Path


def fetch_detail(address: str, day: dt.date, timeout: float = 10.0,
                 clock: Clock | None = None) -> tuple[list[dict[str, str]], list[tuple[str, bytes]]]:
    """Every line of the day's detail and every message exchanged for it (direction, raw)."""
    clock = clock or Clock()
    lines: list[dict[str, str]] = []
    wire: list[tuple[str, bytes]] = []
    page, pages = 1, 1
    while page <= pages:
        now = clock.now().astimezone(SHANGHAI)
        serial = f"{now:%Y%m%d}9999{page:08d}"  # queries are not business: a serial of their own range
        req = p.request(p.Trade.DETAIL, serial, f"{now:%Y%m%d%H%M%S}", day=f"{day:%Y%m%d}", page=str(page))
        try:
            ans = client.exchange(address, req, timeout)
        except (client.NotSent, client.NoAnswer) as e:
            raise DeviceError("The marketing system's detail of {day} could not be fetched ({error}).",
                              "Check that the marketing system is reachable, then run the check again.",
                              day=day.isoformat(), error=str(e)) from e
        wire += [("out", p.encode(req)), ("in", ans.raw)]
        if not ans.ok:
            raise DeviceError("The marketing system refused the detail of {day} (answer code {rc}).",
                              "Ask the marketing system's operators; run the check again.", day=day.isoformat(),
                              rc=str(ans.rc))
        pages = int(ans.fields["pages"])
        if pages > MAX_PAGES:
            raise DeviceError("The marketing system's detail claims {n} pages.", "Ask its operators.", n=pages)
        lines += [dict(x) for x in ans.lines]
        page += 1
    return lines, wire


def compare(conn: sqlite3.Connection, day: dt.date, lines: list[dict[str, str]]) -> tuple[list[Alarm], tuple[int, int],
                                                                                             tuple[int, int]]:
    d = day.isoformat()
    # payments and card purchases (购电), each by its txn (a txn is one or the other)
    station = {t: (term, amt, rev) for t, term, amt, rev in conn.execute(
        "SELECT txn, terminal, amount, reversed_by FROM payments WHERE day = ?"
        " UNION ALL SELECT txn, terminal, amount, NULL FROM card_purchases WHERE day = ?", (d, d))}
    lines = [x for x in lines if x["code"] in ("2001", "2003")]
    # the marketing system's other channels (its counters, banks …): not this station's business,
    # counted in the report, no alarm.  A line is the station's when the station made its serial or
    # its txn is of a terminal the station serves.
    serials = {r[0] for r in conn.execute("SELECT serial FROM mkt_exchanges WHERE day = ?", (d,))}
    terminals = {r[0] for r in conn.execute("SELECT terminal FROM terminal_seq")} | {v[0] for v in station.values()}
    mine = [x for x in lines if x["serial"] in serials or x["txn"][:8] in terminals or x["txn"] in station]
    mkt = {x["txn"]: (x["terminal"], int(x["amount"]), x["state"] == "R") for x in mine}
    alarms: list[Alarm] = []
    for txn in sorted(station.keys() | mkt.keys()):
        s, m = station.get(txn), mkt.get(txn)
        if m is None:
            assert s is not None
            alarms.append(Alarm("missing_at_marketing", txn, s[0], s[1], None,
                                f"payment/purchase {txn} of {s[1]} fen is in the station's ledger, not in the marketing"
                                " system's detail"))
        elif s is None:
            alarms.append(Alarm("missing_at_station", txn, m[0], None, m[1],
                                f"payment/purchase {txn} of {m[1]} fen is in the marketing system's detail, not in the"
                                " station's ledger"))
        elif s[1] != m[1]:
            alarms.append(Alarm("amount_differs", txn, s[0], s[1], m[1],
                                f"payment/purchase {txn}: {s[1]} fen at the station, {m[1]} fen at the marketing system"))
        elif bool(s[2]) != m[2]:
            kind = "reversed_at_station_only" if s[2] else "reversed_at_marketing_only"
            alarms.append(Alarm(kind, txn, s[0], s[1], m[1],
                                f"payment {txn} is reversed at the {'station' if s[2] else 'marketing system'} only"))
    # each terminal's last RECONCILE of the day, as the station answered it
    for term, missing, extra, tc, ta, sc, sa in conn.execute(
            "SELECT terminal, missing, extra, term_count, term_amount, station_count, station_amount"
            " FROM reconciliations r WHERE day = ? AND match = 0 AND id = (SELECT max(id) FROM reconciliations"
            " WHERE terminal = r.terminal AND day = r.day) ORDER BY terminal", (d,)).fetchall():
        named = [(t, "the terminal lists it, the station does not have it") for t in json.loads(missing)] + \
                [(t, "the station has it, the terminal does not list it") for t in json.loads(extra)]
        for t, why in named:
            alarms.append(Alarm("terminal_reconcile", t, term, None, None, f"terminal {term}'s RECONCILE: {t}: {why}"))
        if not named:
            alarms.append(Alarm("terminal_reconcile", None, term, sa, None,
                                f"terminal {term}'s RECONCILE: {tc} payments / {ta} fen on the terminal,"
                                f" {sc} / {sa} fen at the station"))
    live_s = [v[1] for v in station.values() if not v[2]]
    live_m = [v[1] for v in mkt.values() if not v[2]]
    return alarms, (len(live_s), sum(live_s)), (len(live_m), sum(live_m))


def qr_alarms(journal: Any, channels: Any, day: dt.date) -> list[Alarm]:
    """The day's QR payments (the station's order journal) against both acquirers' statement files
    (:func:`hw_mocks.station.qr_check.daily_check`): one alarm per difference.  ``station_amount`` is
    what the station's record moved that day, ``mkt_amount`` what the acquirer's file moved."""
    from hw_mocks.station.qr_check import daily_check

    return [Alarm("qr_" + d.kind, d.txn or None, d.txn[:8] if d.txn else None, d.station_fen, d.acquirer_fen,
                  f"{d.channel.value} order {d.order_number}: {d.station_fen} fen moved by the station's record,"
                  f" {d.acquirer_fen} fen by the acquirer's statement")
            for d in daily_check(journal, channels, day)]


def run_check(conn: sqlite3.Connection, day: dt.date, address: str, *, report: str | os.PathLike[str] | None = None,
              report_dir: str | os.PathLike[str] = ".", clock: Clock | None = None,
              timeout: float = 10.0, qr: tuple[Any, Any] | None = None) -> CheckResult:
    """``qr``: (the station's QR order journal, the acquirer's channels) — the QR payments are checked
    against the acquirers' statement files in the same run (their alarms are ``qr_*``)."""
    clock = clock or Clock()
    lines, wire = fetch_detail(address, day, timeout, clock)
    alarms, st, mk = compare(conn, day, lines)
    if qr is not None:
        alarms += qr_alarms(qr[0], qr[1], day)
    at = iso(clock.now())
    conn.execute("BEGIN IMMEDIATE")
    try:
        check_id = conn.execute("INSERT INTO checks (day, at, station_count, station_amount, mkt_count, mkt_amount,"
                                " alarms) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                                (day.isoformat(), at, st[0], st[1], mk[0], mk[1], len(alarms))).fetchone()[0]
        path = Path(report) if report else Path(report_dir) / f"check-{day.isoformat()}-{check_id}.txt"
        conn.executemany("INSERT INTO check_originals (check_id, direction, raw) VALUES (?, ?, ?)",
                         [(check_id, d, raw) for d, raw in wire])
        conn.executemany("INSERT INTO check_alarms (check_id, day, kind, txn, terminal, station_amount, mkt_amount,"
                         " detail, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         [(check_id, day.isoformat(), a.kind, a.txn, a.terminal, a.station_amount, a.mkt_amount,
                           a.detail, at) for a in alarms])
        conn.execute("UPDATE checks SET report = ? WHERE id = ?", (str(path), check_id))
        _write_report(path, check_id, day, at, address, alarms, st, mk, wire)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return CheckResult(check_id, day, tuple(alarms), st, mk, path)


def _write_report(path: Path, check_id: int, day: dt.date, at: str, address: str, alarms: list[Alarm],
                  st: tuple[int, int], mk: tuple[int, int], wire: list[tuple[str, bytes]]) -> None:
    def yuan(fen: int | None) -> str:
        return "-" if fen is None else f"{fen // 100}.{fen % 100:02d}"

    out = [f"每日账务核对 daily account check #{check_id}", f"业务日 business day: {day.isoformat()}",
           f"核对时间 checked at: {at}", f"营销系统 marketing system: {address}",
           f"主站 station: {st[0]} 笔 payments, {yuan(st[1])} 元",
           f"营销系统 marketing: {mk[0]} 笔 payments, {yuan(mk[1])} 元",
           f"告警 alarms: {len(alarms)}", ""]
    for n, a in enumerate(alarms, 1):
        out.append(f"{n}. [{a.kind}] {KIND_ZH[a.kind]} txn={a.txn or '-'} terminal={a.terminal or '-'}"
                   f" 主站={yuan(a.station_amount)} 营销={yuan(a.mkt_amount)}: {a.detail}")
    out += ["", f"原始报文 originals: {len(wire)} messages, in {path.name}.originals (as on the wire, one after"
            " another; each is self-delimiting) and in the ledger's check_originals"]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".originals"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    with os.fdopen(fd, "wb") as fh:
        for _d, raw in wire:
            fh.write(raw)
        fh.flush()
        os.fsync(fh.fileno())
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(out) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def summary(res: CheckResult) -> dict[str, Any]:
    return {"check": res.check_id, "day": res.day.isoformat(), "alarms": len(res.alarms),
            "station": {"count": res.station[0], "amount": res.station[1]},
            "marketing": {"count": res.marketing[0], "amount": res.marketing[1]},
            "report": str(res.report), "txns": [a.txn for a in res.alarms]}
