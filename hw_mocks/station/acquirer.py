"""The station's side of a QR payment (付款码): HTTP clients for WeChat Pay v2 and Alipay's gateway, a
journal of orders, and the driver that runs :mod:`acquirer_policy` against them.

Not yet wired into the PAYMENT handler (docs/acquirer.md "wiring left").  What holds already:

- the merchant's order number is the terminal's txn (Alipay allows only letters, digits and ``_``
  in it, so there ``-`` is written ``_``: :func:`order_number`);
- before a pay is sent the order is journaled (SQLite WAL, synchronous=FULL) with the channel, amount
  and the *redacted* code — never the code itself;
- a txn asked again gets its stored outcome; a txn found without an outcome (the station died
  mid-flight) is queried first and never paid again; an unresolved reversal is reversed again;
- every answer is verified (WeChat: HMAC-SHA256 compared in constant time; Alipay: RSA2 over the
  answer's own text) — an answer that does not verify counts as no answer (UNKNOWN), never as "paid".
"""

from __future__ import annotations

import datetime as dt
import http.client
import io
import json
import logging
import secrets
import sqlite3
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from hw_mocks.acquirer import wire
from hw_mocks.station.acquirer_policy import Action, ActionKind, Event, Outcome, Params, State, step
from hw_mocks.station.qr_schema import SCHEMA
from terminal_app.domain.paycode import PayChannel, PayCode, redact
from terminal_app.errors import BusinessRuleError, ConfigurationError, StorageError
from terminal_app.timeutil import SHANGHAI, iso

log = logging.getLogger("hw_mocks.station.acquirer")

#: what a charge may be (one payment at the door: the same bound as cash, 100 000 元)
MAX_AMOUNT_FEN = 10_000_000


def order_number(txn: str, channel: PayChannel) -> str:
    """The merchant's order number for a txn: the txn itself (``-`` → ``_`` for Alipay's charset)."""
    return txn.replace("-", "_") if channel is PayChannel.ALIPAY else txn


@dataclass(frozen=True, slots=True)
class Reply:
    """One acquirer answer, mapped onto the policy's events."""

    event: Event
    acquirer_id: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One line of an acquirer's daily statement, in the station's terms."""

    channel: PayChannel
    order_number: str
    acquirer_id: str
    kind: str          # "pay" (still paid), "revoked" (paid, then reversed), "refund"
    amount: int        # fen, positive
    at: str


class Channel(Protocol):
    channel: PayChannel

    def pay(self, out_no: str, code: PayCode, amount: int, subject: str) -> Reply: ...
    def query(self, out_no: str, amount: int) -> Reply: ...
    def reverse(self, out_no: str) -> Reply: ...
    def refund(self, out_no: str, refund_no: str, total: int, amount: int) -> Reply: ...
    def statement(self, day: dt.date) -> list[StatementLine]: ...


class _Http:
    """One short-lived HTTP/1.1 connection per call (a GPRS link keeps none alive); any transport
    failure is NO_ANSWER: the request may have arrived."""

    def __init__(self, base_url: str, timeout: float) -> None:
        u = urlsplit(base_url)
        if u.scheme != "http" or not u.hostname:  # the mock speaks plain HTTP; a real one would be https
            raise ConfigurationError("Acquirer URL {url} is not http://host:port.", "Fix the URL.", url=base_url)
        self.host, self.port, self.timeout = u.hostname, u.port or 80, timeout

    def post(self, path: str, body: bytes, ctype: str) -> bytes | None:
        return self._call("POST", path, body, {"Content-Type": ctype})

    def get(self, path: str) -> bytes | None:
        return self._call("GET", path, None, {}, limit=wire.MAX_BILL)

    def _call(self, method: str, path: str, body: bytes | None, headers: dict[str, str],
              limit: int = wire.MAX_BODY) -> bytes | None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read(limit + 1)
            if resp.status != 200 or len(data) > limit:
                log.warning("acquirer %s %s: HTTP %s, %d bytes", method, path, resp.status, len(data))
                return b""
            return data
        except (OSError, http.client.HTTPException) as e:  # a timeout is an OSError
            log.warning("acquirer %s %s: no answer (%s)", method, path, type(e).__name__)
            return None
        finally:
            conn.close()


# ------------------------------------------------------------------------------------------ WeChat Pay v2

#: err_codes after which the order is definitely not paid and cannot become paid
WX_DEFINITE_FAIL = frozenset({"NOTENOUGH", "AUTH_CODE_INVALID", "AUTHCODEEXPIRE", "AUTH_CODE_ERROR", "TRADE_ERROR",
                              "ORDERCLOSED", "ORDERREVERSED", "PARAM_ERROR", "BUYER_MISMATCH", "NOTSUPORTCARD",
                              "PAYERROR"})


@dataclass(frozen=True, slots=True)
class WechatKeys:
    appid: str
    mch_id: str
    api_key: str = ""

    def __repr__(self) -> str:  # the key never reaches a log line
        return f"WechatKeys(appid={self.appid!r}, mch_id={self.mch_id!r})"


class WechatChannel:
    channel = PayChannel.WECHAT

    def __init__(self, base_url: str, keys: WechatKeys, timeout: float = 10.0) -> None:
        self.http, self.keys = _Http(base_url, timeout), keys

    def _call(self, path: str, fields: Mapping[str, str]) -> dict[str, str] | None:
        """The verified answer's fields; None when there was no answer or it cannot be trusted."""
        req = {"appid": self.keys.appid, "mch_id": self.keys.mch_id, "nonce_str": secrets.token_hex(16), **fields}
        body = self.http.post(path, wire.wx_encode(wire.wx_signed(req, self.keys.api_key)), "text/xml")
        if body is None:
            return None
        try:
            ans = wire.wx_decode(body)
            if ans.get("return_code") != "SUCCESS":
                return {"return_code": "FAIL", "return_msg": ans.get("return_msg", "")[:64]}
            wire.wx_verify(ans, self.keys.api_key)
        except wire.AcquirerProtocolError as e:
            log.warning("wechat %s: answer refused: %s", path, e)
            return {"return_code": "FAIL", "return_msg": "unreadable or unsigned answer"}
        return ans

    def pay(self, out_no: str, code: PayCode, amount: int, subject: str) -> Reply:
        a = self._call("/pay/micropay", {"body": subject[:32], "out_trade_no": out_no, "total_fee": str(amount),
                                         "spbill_create_ip": "127.0.0.1", "auth_code": code.secret})
        if a is None:
            return Reply(Event.NO_ANSWER)
        if a.get("return_code") != "SUCCESS":
            return Reply(Event.UNKNOWN, detail=a.get("return_msg", ""))
        if a.get("result_code") == "SUCCESS":
            return self._paid(a, out_no, amount)
        err = a.get("err_code", "")
        if err == "USERPAYING":
            return Reply(Event.USERPAYING, detail=err)
        if err in WX_DEFINITE_FAIL:
            return Reply(Event.FAILED, detail=err)
        return Reply(Event.UNKNOWN, detail=err)  # SYSTEMERROR, BANKERROR, ORDERPAID, OUT_TRADE_NO_USED …: ask

    @staticmethod
    def _paid(a: Mapping[str, str], out_no: str, amount: int) -> Reply:
        tid = a.get("transaction_id", "")
        if a.get("out_trade_no") != out_no or a.get("total_fee") != str(amount) or not tid:
            return Reply(Event.UNKNOWN, detail="answer does not match the order")
        return Reply(Event.PAID, tid)

    def query(self, out_no: str, amount: int) -> Reply:
        """The order's state; "paid" only for our order number *and* our amount."""
        a = self._call("/pay/orderquery", {"out_trade_no": out_no})
        if a is None:
            return Reply(Event.NO_ANSWER)
        if a.get("return_code") != "SUCCESS" or a.get("result_code") != "SUCCESS":
            return Reply(Event.UNKNOWN, detail=a.get("err_code") or a.get("return_msg", ""))
        state = a.get("trade_state", "")
        if state in ("SUCCESS", "REFUND"):
            return self._paid(a, out_no, amount)
        if state in ("USERPAYING", "NOTPAY"):
            return Reply(Event.USERPAYING, detail=state)
        if state in ("PAYERROR", "CLOSED", "REVOKED"):
            return Reply(Event.FAILED, detail=state)
        return Reply(Event.UNKNOWN, detail=state)

    def reverse(self, out_no: str) -> Reply:
        a = self._call("/secapi/pay/reverse", {"out_trade_no": out_no})
        if a is None:
            return Reply(Event.NO_ANSWER)
        if a.get("return_code") != "SUCCESS":
            return Reply(Event.UNKNOWN, detail=a.get("return_msg", ""))
        if a.get("result_code") == "SUCCESS":
            return Reply(Event.REVERSED)
        if a.get("recall") == "N":
            return Reply(Event.REVERSE_REFUSED, detail=a.get("err_code", ""))
        return Reply(Event.REVERSE_FAILED, detail=a.get("err_code", ""))

    def refund(self, out_no: str, refund_no: str, total: int, amount: int) -> Reply:
        a = self._call("/secapi/pay/refund", {"out_trade_no": out_no, "out_refund_no": refund_no,
                                              "total_fee": str(total), "refund_fee": str(amount)})
        if a is None:
            return Reply(Event.NO_ANSWER)
        if a.get("return_code") != "SUCCESS":
            return Reply(Event.UNKNOWN, detail=a.get("return_msg", ""))
        if a.get("result_code") == "SUCCESS" and a.get("out_refund_no") == refund_no and a.get("refund_id"):
            return Reply(Event.REFUNDED, a["refund_id"])
        err = a.get("err_code", "")
        if err in ("TRADE_STATE_ERROR", "INVALID_REQUEST", "ORDERNOTEXIST", "PARAM_ERROR"):
            return Reply(Event.FAILED, detail=err)
        return Reply(Event.UNKNOWN, detail=err)

    def statement(self, day: dt.date) -> list[StatementLine]:
        req = wire.wx_signed({"appid": self.keys.appid, "mch_id": self.keys.mch_id,
                              "nonce_str": secrets.token_hex(16), "bill_date": day.strftime("%Y%m%d"),
                              "bill_type": "ALL"}, self.keys.api_key)
        body = self.http.post("/pay/downloadbill", wire.wx_encode(req), "text/xml")
        if body is None or body == b"":
            raise StatementError("WeChat Pay's statement for {day} could not be fetched.", day=day.isoformat())
        if body.lstrip().startswith(b"<xml>"):
            ans = wire.wx_decode(body)
            if ans.get("return_msg") == "No Bill Exist":
                return []
            raise StatementError("WeChat Pay refused the statement for {day}: {why}.", day=day.isoformat(),
                                 why=ans.get("return_msg", "")[:64])
        return parse_wechat_bill(body.decode("utf-8"))


def parse_wechat_bill(text: str) -> list[StatementLine]:
    """The detail lines of a WeChat ALL bill (every field prefixed with a backtick)."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("交易时间,"):
        raise StatementError("WeChat Pay's statement does not start with its header.")
    head = lines[0].split(",")
    out: list[StatementLine] = []
    for line in lines[1:]:
        if line.startswith("总交易单数"):
            break
        f = dict(zip(head, (v[1:] if v.startswith("`") else v for v in line.split(",")), strict=False))
        status = f.get("交易状态", "")
        if status == "REFUND":
            out.append(StatementLine(PayChannel.WECHAT, f["商户订单号"], f["微信订单号"], "refund",
                                     wire.yuan_to_fen(f["退款金额"]), f["交易时间"]))
        else:
            kind = "revoked" if status == "REVOKED" else "pay"
            out.append(StatementLine(PayChannel.WECHAT, f["商户订单号"], f["微信订单号"], kind,
                                     wire.yuan_to_fen(f["订单金额"]), f["交易时间"]))
    return out


# ------------------------------------------------------------------------------------------ Alipay

ALI_DEFINITE_FAIL = frozenset({"ACQ.BUYER_BALANCE_NOT_ENOUGH", "ACQ.PAYMENT_AUTH_CODE_INVALID", "ACQ.PAYMENT_FAIL",
                               "ACQ.TRADE_HAS_CLOSE", "ACQ.BUYER_BANKCARD_BALANCE_NOT_ENOUGH",
                               "ACQ.ERROR_BALANCE_PAYMENT_DISABLE", "ACQ.PAYMENT_REQUEST_HAS_RISK",
                               "ACQ.BUYER_SELLER_EQUAL", "ACQ.TOTAL_FEE_EXCEED", "ACQ.INVALID_PARAMETER"})


@dataclass(frozen=True, slots=True)
class AlipayKeys:
    app_id: str
    app_private: object = None      # rsa.RSAPrivateKey: signs requests
    platform_public: object = None  # rsa.RSAPublicKey: verifies answers

    def __repr__(self) -> str:
        return f"AlipayKeys(app_id={self.app_id!r})"


class AlipayChannel:
    channel = PayChannel.ALIPAY

    def __init__(self, base_url: str, keys: AlipayKeys, timeout: float = 10.0,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(SHANGHAI)) -> None:
        self.http, self.keys, self.clock = _Http(base_url, timeout), keys, clock

    def _call(self, method: str, biz: Mapping[str, str]) -> dict[str, object] | None:
        params = {"app_id": self.keys.app_id, "method": method, "format": "JSON", "charset": "utf-8",
                  "sign_type": "RSA2", "timestamp": self.clock().strftime("%Y-%m-%d %H:%M:%S"), "version": "1.0",
                  "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":"))}
        body = self.http.post("/gateway.do", wire.ali_request(params, self.keys.app_private),  # type: ignore[arg-type]
                              "application/x-www-form-urlencoded;charset=utf-8")
        if body is None:
            return None
        try:
            return wire.ali_decode_response(method, body, self.keys.platform_public)  # type: ignore[arg-type]
        except wire.AcquirerProtocolError as e:
            log.warning("alipay %s: answer refused: %s", method, e)
            return {"code": "unverified"}

    def _paid(self, a: Mapping[str, object], out_no: str, amount: int) -> Reply:
        tid = a.get("trade_no")
        try:
            same = a.get("out_trade_no") == out_no and wire.yuan_to_fen(a.get("total_amount")) == amount
        except wire.AcquirerProtocolError:
            same = False
        if not same or not isinstance(tid, str) or not tid:
            return Reply(Event.UNKNOWN, detail="answer does not match the order")
        return Reply(Event.PAID, tid)

    def pay(self, out_no: str, code: PayCode, amount: int, subject: str) -> Reply:
        a = self._call("alipay.trade.pay", {"out_trade_no": out_no, "scene": "bar_code", "auth_code": code.secret,
                                            "total_amount": wire.fen_to_yuan(amount), "subject": subject[:64]})
        if a is None:
            return Reply(Event.NO_ANSWER)
        code_ = a.get("code")
        if code_ == "10000":
            return self._paid(a, out_no, amount)
        if code_ == "10003":
            return Reply(Event.USERPAYING, detail="10003")
        sub = str(a.get("sub_code", ""))
        if code_ == "40004" and sub in ALI_DEFINITE_FAIL:
            return Reply(Event.FAILED, detail=sub)
        return Reply(Event.UNKNOWN, detail=sub or str(code_))

    def query(self, out_no: str, amount: int) -> Reply:
        """The order's state; "paid" only for our order number *and* our amount."""
        a = self._call("alipay.trade.query", {"out_trade_no": out_no})
        if a is None:
            return Reply(Event.NO_ANSWER)
        if a.get("code") != "10000":
            return Reply(Event.UNKNOWN, detail=str(a.get("sub_code") or a.get("code")))
        status = a.get("trade_status")
        if status in ("TRADE_SUCCESS", "TRADE_FINISHED"):
            return self._paid(a, out_no, amount)
        if status == "WAIT_BUYER_PAY":
            return Reply(Event.USERPAYING, detail=str(status))
        if status == "TRADE_CLOSED":
            return Reply(Event.FAILED, detail=str(status))
        return Reply(Event.UNKNOWN, detail=str(status))

    def reverse(self, out_no: str) -> Reply:
        a = self._call("alipay.trade.cancel", {"out_trade_no": out_no})
        if a is None:
            return Reply(Event.NO_ANSWER)
        if a.get("code") == "10000":
            return Reply(Event.REVERSED, detail=str(a.get("action", "")))
        if a.get("retry_flag") == "N":
            return Reply(Event.REVERSE_REFUSED, detail=str(a.get("sub_code", "")))
        return Reply(Event.REVERSE_FAILED, detail=str(a.get("sub_code") or a.get("code")))

    def refund(self, out_no: str, refund_no: str, total: int, amount: int) -> Reply:
        a = self._call("alipay.trade.refund", {"out_trade_no": out_no, "refund_amount": wire.fen_to_yuan(amount),
                                               "out_request_no": refund_no})
        if a is None:
            return Reply(Event.NO_ANSWER)
        if a.get("code") == "10000" and a.get("out_trade_no") == out_no:
            return Reply(Event.REFUNDED, str(a.get("trade_no", "")), detail=f"fund_change={a.get('fund_change')}")
        sub = str(a.get("sub_code", ""))
        if a.get("code") == "40004" and sub in ("ACQ.TRADE_STATUS_ERROR", "ACQ.TRADE_NOT_EXIST",
                                                 "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "ACQ.TRADE_NOT_ALLOW_REFUND"):
            return Reply(Event.FAILED, detail=sub)
        return Reply(Event.UNKNOWN, detail=sub or str(a.get("code")))

    def statement(self, day: dt.date) -> list[StatementLine]:
        a = self._call("alipay.data.dataservice.bill.downloadurl.query", {"bill_type": "trade",
                                                                          "bill_date": day.isoformat()})
        if a is None or a.get("code") not in ("10000", "40004"):
            raise StatementError("Alipay's statement for {day} could not be fetched.", day=day.isoformat())
        if a.get("code") == "40004":
            if a.get("sub_code") == "isp.bill_not_exist":
                return []
            raise StatementError("Alipay refused the statement for {day}: {why}.", day=day.isoformat(),
                                 why=str(a.get("sub_code"))[:64])
        url = urlsplit(str(a.get("bill_download_url", "")))
        if (url.hostname, url.port or 80) != (self.http.host, self.http.port):
            raise StatementError("Alipay's statement URL points elsewhere than the gateway.")
        data = self.http.get(url.path)
        if not data:
            raise StatementError("Alipay's statement file for {day} could not be fetched.", day=day.isoformat())
        return parse_alipay_bill(data)


def parse_alipay_bill(data: bytes) -> list[StatementLine]:
    """The 业务明细 lines of an Alipay trade bill (a zip of a GBK CSV between ``#`` comment lines)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = [n for n in z.namelist() if n.endswith("业务明细.csv")]
            if len(names) != 1 or z.getinfo(names[0]).file_size > wire.MAX_BILL:
                raise StatementError("Alipay's statement file has no single detail list.")
            text = z.read(names[0]).decode("gbk")
    except (zipfile.BadZipFile, UnicodeError, KeyError) as e:
        raise StatementError("Alipay's statement file cannot be read.", error=e) from e
    rows = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    if not rows or not rows[0].startswith("支付宝交易号,"):
        raise StatementError("Alipay's statement file has no header.")
    head = rows[0].split(",")
    out = []
    for line in rows[1:]:
        f = dict(zip(head, line.split(","), strict=False))
        amount = f["订单金额（元）"]
        kind = "refund" if f["业务类型"] == "退款" else "pay"
        out.append(StatementLine(PayChannel.ALIPAY, f["商户订单号"], f["支付宝交易号"], kind,
                                 wire.yuan_to_fen(amount.lstrip("-")), f["完成时间"]))
    return out


class StatementError(BusinessRuleError):
    """The acquirer's daily statement could not be fetched or read."""

    default_action = "Fetch the statement again later; the acquirer makes the day's file the next morning."


# ------------------------------------------------------------------------------------------ keys


def load_channels(base_url: str, keys_dir: Path, timeout: float = 10.0) -> dict[PayChannel, Channel]:
    """Both channels from a merchant key set (``handheld-mocks acquirer --make-keys``; files mode 600)."""
    from hw_mocks.acquirer.cli import merchant_ids, read_secret

    ids = merchant_ids(keys_dir)
    wx = WechatKeys(ids["wx_appid"], ids["wx_mch_id"], read_secret(keys_dir / "wechat_api.key").decode().strip())
    ali = AlipayKeys(ids["ali_app_id"], wire.load_private_key(read_secret(keys_dir / "alipay_app_private.pem")),
                     wire.load_public_key(read_secret(keys_dir / "alipay_platform_public.pem")))
    return {PayChannel.WECHAT: WechatChannel(base_url, wx, timeout),
            PayChannel.ALIPAY: AlipayChannel(base_url, ali, timeout)}


# ------------------------------------------------------------------------------------------ journal



class OrderJournal:
    """The station's record of every QR order, written before each request goes out."""

    def __init__(self, path: Path, clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(SHANGHAI),
                 *, conn: sqlite3.Connection | None = None) -> None:
        """A stand-alone journal file at ``path``, or (``conn``) the station's own ledger — an SQLite
        file or PostgreSQL (:meth:`on_ledger`), whose schema already holds the tables."""
        self.clock = clock
        self._lock = threading.Lock()
        if conn is not None:
            self._db = conn
            return
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as e:
            raise StorageError("The QR order journal {path} cannot be opened.", path=str(path), error=e) from e

    @classmethod
    def on_ledger(cls, target: str, clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(SHANGHAI)
                  ) -> OrderJournal:
        """The journal in the station's ledger (``--db``: an SQLite file or a PostgreSQL URL), on a
        connection of its own: each write commits at once (autocommit), before its request goes out,
        independently of the station's group commit."""
        from hw_mocks.station import ledger

        return cls(Path(target), clock, conn=ledger.connect(target, check_same_thread=False))

    def close(self) -> None:
        """Under the statement lock: the station closes the journal as it stops while an acquirer
        thread may still be in a statement (a give-back, a resume); closing the connection under it
        is the likely cause of a segfault seen once in the suite (test_station_qr, the station stopped
        right after its start-up sweep).  A later statement gets sqlite3's
        "closed database" error, which the sweep logs and the next start retries."""
        with self._lock:
            self._db.close()

    def _exec(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            try:
                if sql.startswith("SELECT"):
                    return self._db.execute(sql, args).fetchall()
                # a write takes the write lock first (waiting on the busy timeout): in autocommit an
                # UPDATE that starts as a read fails at once when another connection — the station's
                # group commit, on the same ledger — committed meanwhile (SQLITE_BUSY_SNAPSHOT)
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    cur = self._db.execute(sql, args)
                    rows = cur.fetchall() if cur.description else []
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
                return rows
            except sqlite3.Error as e:
                raise StorageError("The QR order journal cannot be written.", error=e) from e

    def order(self, txn: str) -> dict[str, object] | None:
        rows = self._exec("SELECT txn, channel, amount, code, phase, outcome, acquirer_id, detail FROM qr_orders"
                          " WHERE txn = ?", (txn,))
        if not rows:
            return None
        return dict(zip(("txn", "channel", "amount", "code", "phase", "outcome", "acquirer_id", "detail"),
                        rows[0], strict=True))

    def begin(self, txn: str, channel: PayChannel, amount: int, code: str) -> None:
        now = iso(self.clock())
        self._exec("INSERT INTO qr_orders (txn, channel, amount, code, phase, created, updated)"
                   " VALUES (?, ?, ?, ?, 'START', ?, ?)", (txn, channel.value, amount, code, now, now))

    def update(self, txn: str, state: State, acquirer_id: str = "", detail: str = "") -> None:
        self._exec("UPDATE qr_orders SET phase = ?, outcome = ?, acquirer_id = CASE WHEN ? = '' THEN acquirer_id"
                   " ELSE ? END, detail = ?, updated = ? WHERE txn = ?",
                   (state.phase.value, state.outcome.value if state.outcome else None, acquirer_id, acquirer_id,
                    detail[:200], iso(self.clock()), txn))

    def refund_row(self, refund_no: str) -> dict[str, object] | None:
        rows = self._exec("SELECT refund_no, txn, amount, outcome, acquirer_id FROM qr_refunds WHERE refund_no = ?",
                          (refund_no,))
        return dict(zip(("refund_no", "txn", "amount", "outcome", "acquirer_id"), rows[0], strict=True)) \
            if rows else None

    def begin_refund(self, refund_no: str, txn: str, amount: int) -> None:
        now = iso(self.clock())
        self._exec("INSERT INTO qr_refunds (refund_no, txn, amount, created, updated) VALUES (?, ?, ?, ?, ?)",
                   (refund_no, txn, amount, now, now))

    def update_refund(self, refund_no: str, state: State, acquirer_id: str = "", detail: str = "") -> None:
        self._exec("UPDATE qr_refunds SET outcome = ?, acquirer_id = CASE WHEN ? = '' THEN acquirer_id ELSE ? END,"
                   " detail = ?, updated = ? WHERE refund_no = ?",
                   (state.outcome.value if state.outcome else None, acquirer_id, acquirer_id, detail[:200],
                    iso(self.clock()), refund_no))

    def orders_of_day(self, day: dt.date) -> list[tuple[str, str, int, str]]:
        """(txn, channel, amount, outcome or "") of the orders begun on ``day`` (times are stored +08:00)."""
        return self._exec("SELECT txn, channel, amount, COALESCE(outcome, '') FROM qr_orders"
                          " WHERE substr(created, 1, 10) = ? ORDER BY created", (day.isoformat(),))

    def refunds_of_day(self, day: dt.date) -> list[tuple[str, str, int]]:
        """(txn, channel, amount) of the refunds that ended REFUNDED on ``day``."""
        return self._exec("SELECT r.txn, o.channel, r.amount FROM qr_refunds r JOIN qr_orders o USING (txn)"
                          " WHERE r.outcome = 'REFUNDED' AND substr(r.updated, 1, 10) = ? ORDER BY r.updated",
                          (day.isoformat(),))

    def unfinished(self) -> list[str]:
        return [r[0] for r in self._exec("SELECT txn FROM qr_orders WHERE outcome IS NULL OR outcome = 'UNRESOLVED'"
                                         " ORDER BY created")]

    def charged_but_refused(self) -> list[tuple[str, int]]:
        """(txn, fen) of QR payments the acquirer charged whose txn the station then refused — the
        marketing system behind it refused the payment, say — and whose money is not given back yet."""
        return [(str(t), int(a)) for t, a in self._exec(
            "SELECT o.txn, o.amount FROM qr_orders o JOIN txns t ON t.txn = o.txn WHERE o.outcome = 'PAID'"
            " AND t.error = 1 AND NOT EXISTS (SELECT 1 FROM qr_refunds r WHERE r.txn = o.txn"
            " AND r.outcome IN ('REFUNDED', 'REFUND_REFUSED')) ORDER BY o.created")]


def give_back_no(txn: str) -> str:
    """The refund number of a charged QR payment the station refused (one per txn: given back once)."""
    return txn + "-R"


# ------------------------------------------------------------------------------------------ the driver


@dataclass(frozen=True, slots=True)
class Result:
    """A definite answer for the terminal (or UNRESOLVED: not charged as far as anyone may say yet)."""

    txn: str
    outcome: Outcome
    channel: PayChannel
    acquirer_id: str = ""
    detail: str = ""
    repeated: bool = False   # the stored outcome of an earlier run, nothing was sent


class QrOrderConflict(BusinessRuleError):
    """A txn already used for a different QR payment (other channel or amount)."""

    default_action = "This is a program error at the terminal: report it; the earlier payment stands."


class QrPayments:
    """Charges and refunds by payment code, exactly once per txn."""

    def __init__(self, journal: OrderJournal, channels: Mapping[PayChannel, Channel], params: Params | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.journal, self.channels, self.params, self.sleep = journal, channels, params or Params(), sleep
        # striped: one txn always maps to the same lock, and a long-running station keeps 64 locks, not one
        # per txn it ever saw (two txns sharing a stripe just wait for each other)
        self._stripes = tuple(threading.Lock() for _ in range(64))

    def _lock(self, key: str) -> threading.Lock:
        return self._stripes[zlib.crc32(key.encode()) % len(self._stripes)]

    def charge(self, txn: str, code: PayCode, amount: int, subject: str = "电费") -> Result:
        """Take ``amount`` fen from the customer's wallet once for ``txn``; asked again, the same answer."""
        if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_AMOUNT_FEN:
            raise BusinessRuleError("QR payment amount {value} fen is not between 1 fen and {max} fen.",
                                    value=amount, max=MAX_AMOUNT_FEN)
        with self._lock(txn):
            row = self.journal.order(txn)
            if row is None:
                self.journal.begin(txn, code.channel, amount, redact(code))
                begin = Event.NEW
            else:
                if row["channel"] != code.channel.value or row["amount"] != amount:
                    raise QrOrderConflict("Transaction {txn} was already used for another QR payment.", txn=txn)
                if row["outcome"] in (Outcome.PAID, Outcome.NOT_PAID, Outcome.REVERSED):
                    return Result(txn, Outcome(row["outcome"]), code.channel, str(row["acquirer_id"]),
                                  str(row["detail"]), repeated=True)
                begin = Event.RESUME_REVERSE if row["outcome"] == Outcome.UNRESOLVED else Event.RESUME
            return self._run(txn, code.channel, begin, code, amount, subject)

    def resume(self, txn: str) -> Result:
        """Finish an order found without an outcome (after a restart): query first, or go on reversing."""
        with self._lock(txn):
            row = self.journal.order(txn)
            if row is None:
                raise BusinessRuleError("There is no QR order {txn} to resume.", txn=txn)
            channel = PayChannel(row["channel"])
            if row["outcome"] in (Outcome.PAID, Outcome.NOT_PAID, Outcome.REVERSED):
                return Result(txn, Outcome(row["outcome"]), channel, str(row["acquirer_id"]), repeated=True)
            begin = Event.RESUME_REVERSE if row["outcome"] == Outcome.UNRESOLVED else Event.RESUME
            return self._run(txn, channel, begin, None, int(row["amount"]), "")  # type: ignore[arg-type]

    def _run(self, txn: str, channel: PayChannel, begin: Event, code: PayCode | None, amount: int,
             subject: str) -> Result:
        ch = self.channels[channel]
        out_no = order_number(txn, channel)
        state, actions = step(State(), begin, self.params)
        acquirer_id, detail = "", ""
        while True:
            self.journal.update(txn, state, acquirer_id, detail)  # before the request goes out
            action: Action = actions[0]
            if action.kind is ActionKind.FINISH:
                log.info("qr %s %s %s: %s %s", txn, channel.value, redact(code) if code else "", action.outcome,
                         acquirer_id)
                return Result(txn, action.outcome, channel, acquirer_id, detail)  # type: ignore[arg-type]
            if action.kind is ActionKind.WAIT:
                self.sleep(action.seconds)
                event = Event.TICK
            else:
                if action.kind is ActionKind.SEND_PAY:
                    assert code is not None, "a pay is only ever sent for a new order"
                    reply = ch.pay(out_no, code, amount, subject)
                elif action.kind is ActionKind.SEND_QUERY:
                    reply = ch.query(out_no, amount)
                else:
                    reply = ch.reverse(out_no)
                event, detail = reply.event, reply.detail
                acquirer_id = reply.acquirer_id or acquirer_id
                log.info("qr %s %s: %s → %s %s", txn, action.kind.value, channel.value, event.value, detail)
            state, actions = step(state, event, self.params)

    def give_back(self) -> list[Result]:
        """Refund every QR payment that was charged and then refused (nothing kept for a payment the
        books do not hold); each once (its refund number is the txn's), safe to run at any time."""
        done = []
        for txn, amount in self.journal.charged_but_refused():
            try:
                r = self.refund(txn, give_back_no(txn), amount)
            except Exception:  # noqa: BLE001 — tried again at the next sweep (start-up, next refusal)
                log.exception("giving back QR payment %s failed; it is tried again", txn)
                continue
            log.warning("QR payment %s was charged and then refused: given back (%s)", txn, r.outcome.value)
            done.append(r)
        return done

    def refund(self, txn: str, refund_no: str, amount: int) -> Result:
        """Give ``amount`` fen of a paid order back (a same-day 冲正), once per ``refund_no``."""
        with self._lock("refund:" + refund_no):
            order = self.journal.order(txn)
            if order is None or order["outcome"] != Outcome.PAID:
                raise BusinessRuleError("QR payment {txn} is not a completed payment; there is nothing to give back.",
                                        txn=txn)
            channel = PayChannel(order["channel"])
            if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= int(order["amount"]):
                raise BusinessRuleError("A refund of {value} fen is not between 1 fen and the payment's {max} fen.",
                                        value=amount, max=order["amount"])
            row = self.journal.refund_row(refund_no)
            if row is None:
                self.journal.begin_refund(refund_no, txn, amount)
            elif row["txn"] != txn or row["amount"] != amount:
                raise QrOrderConflict("Refund {txn} was already used for another refund.", txn=refund_no)
            elif row["outcome"] in (Outcome.REFUNDED, Outcome.REFUND_REFUSED):
                return Result(refund_no, Outcome(row["outcome"]), channel, str(row["acquirer_id"]), repeated=True)
            ch = self.channels[channel]
            out_no = order_number(txn, channel)
            refund_id = order_number(refund_no, channel)
            state, actions = step(State(), Event.REFUND, self.params)
            acquirer_id, detail = "", ""
            while True:
                self.journal.update_refund(refund_no, state, acquirer_id, detail)
                action = actions[0]
                if action.kind is ActionKind.FINISH:
                    return Result(refund_no, action.outcome, channel, acquirer_id, detail)  # type: ignore[arg-type]
                if action.kind is ActionKind.WAIT:
                    self.sleep(action.seconds)
                    event = Event.TICK
                else:
                    reply = ch.refund(out_no, refund_id, int(order["amount"]), amount)  # type: ignore[arg-type]
                    event, detail = reply.event, reply.detail
                    acquirer_id = reply.acquirer_id or acquirer_id
                state, actions = step(state, event, self.params)
